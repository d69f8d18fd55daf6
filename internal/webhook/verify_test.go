package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testUnix is the fixed "now" of most tests.
const testUnix = 1_700_000_000

func testNow() time.Time { return time.Unix(testUnix, 0) }

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newTestVerifier(t testing.TB, tolerance time.Duration, now time.Time, secrets ...Secret) *Verifier {
	t.Helper()
	v, err := NewVerifier(secrets, tolerance, fixedClock(now))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// errName names a sentinel, for failure messages.
func errName(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{ErrMissingHeaders, "ErrMissingHeaders"},
		{ErrMalformedHeaders, "ErrMalformedHeaders"},
		{ErrNoMatchingSignature, "ErrNoMatchingSignature"},
		{ErrTimestampOutOfTolerance, "ErrTimestampOutOfTolerance"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	if err == nil {
		return "nil"
	}
	return "unclassified error"
}

// checkErr fails unless err is want (nil for success) by errors.Is.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("error = %v (%s), want %s", err, errName(err), errName(want))
	}
}

func TestNewVerifier(t *testing.T) {
	good := []Secret{NewSecret(testKey(1))}
	tests := []struct {
		name      string
		secrets   []Secret
		tolerance time.Duration
		wantErr   string
	}{
		{name: "ok", secrets: good, tolerance: time.Minute},
		{name: "no secrets", secrets: nil, tolerance: time.Minute, wantErr: "no secrets"},
		{name: "zero tolerance", secrets: good, tolerance: 0, wantErr: "must be positive"},
		{name: "negative tolerance", secrets: good, tolerance: -time.Second, wantErr: "must be positive"},
		{name: "zero secret", secrets: []Secret{NewSecret(testKey(1)), {}}, tolerance: time.Minute, wantErr: "secret 2 of 2: empty key"},
		{name: "empty key", secrets: []Secret{NewSecret(nil)}, tolerance: time.Minute, wantErr: "secret 1 of 1: empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.secrets, tt.tolerance, nil)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v; want a verifier, nil", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewVerifier error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewVerifierDropsDuplicates(t *testing.T) {
	v := newTestVerifier(t, time.Minute, testNow(), NewSecret(testKey(1)), NewSecret(testKey(2)), NewSecret(testKey(1)))
	if got, want := len(v.keys), 2; got != want {
		t.Fatalf("keys = %d, want %d", got, want)
	}
}

func TestNewVerifierNilClockIsTimeNow(t *testing.T) {
	a := NewSecret(testKey(1))
	v, err := NewVerifier([]Secret{a}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	if _, err := v.Verify("msg_1", ts, Sign(a, "msg_1", now, nil), nil); err != nil {
		t.Fatalf("Verify at time.Now() error = %v, want nil", err)
	}
}

func TestVerifyHeaders(t *testing.T) {
	a := NewSecret(testKey(1))
	v := newTestVerifier(t, time.Minute, testNow(), a)
	body := []byte(`{"type":"payment.succeeded"}`)
	sig := Sign(a, "msg_1", testNow(), body)
	got, err := v.Verify("msg_1", strconv.Itoa(testUnix), sig, body)
	if err != nil {
		t.Fatalf("Verify error = %v, want nil", err)
	}
	want := Headers{ID: "msg_1", Timestamp: time.Unix(testUnix, 0).UTC(), Signature: sig}
	if got != want {
		t.Fatalf("Verify = %+v, want %+v", got, want)
	}

	// Well-formed but refused: the headers still come back, for logging.
	got, err = v.Verify("msg_1", strconv.Itoa(testUnix), sig, []byte("tampered"))
	checkErr(t, err, ErrNoMatchingSignature)
	if got != want {
		t.Fatalf("Verify after a bad signature = %+v, want %+v", got, want)
	}
}

func TestVerifyRequest(t *testing.T) {
	a := NewSecret(testKey(1))
	v := newTestVerifier(t, time.Minute, testNow(), a)
	body := []byte(`{}`)
	sig := Sign(a, "msg_1", testNow(), body)
	full := func() http.Header {
		h := http.Header{}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", strconv.Itoa(testUnix))
		h.Set("webhook-signature", sig)
		return h
	}
	tests := []struct {
		name   string
		header func() http.Header
		want   error
	}{
		{name: "all set", header: full},
		{name: "canonical keys set directly", header: func() http.Header {
			return http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {strconv.Itoa(testUnix)}, "Webhook-Signature": {sig}}
		}},
		{name: "first value wins, as in the library", header: func() http.Header {
			h := full()
			h.Add("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			return h
		}},
		{name: "no id", header: func() http.Header { h := full(); h.Del("webhook-id"); return h }, want: ErrMissingHeaders},
		{name: "no timestamp", header: func() http.Header { h := full(); h.Del("webhook-timestamp"); return h }, want: ErrMissingHeaders},
		{name: "no signature", header: func() http.Header { h := full(); h.Del("webhook-signature"); return h }, want: ErrMissingHeaders},
		{name: "empty header", header: func() http.Header { return http.Header{} }, want: ErrMissingHeaders},
		{name: "svix names are not ours", header: func() http.Header {
			return http.Header{"Svix-Id": {"msg_1"}, "Svix-Timestamp": {strconv.Itoa(testUnix)}, "Svix-Signature": {sig}}
		}, want: ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.VerifyRequest(tt.header(), body)
			checkErr(t, err, tt.want)
		})
	}
}

func TestRotation(t *testing.T) {
	oldS, newS, other := NewSecret(testKey(1)), NewSecret(testKey(2)), NewSecret(testKey(3))
	body := []byte(`{"type":"subscription.active"}`)
	ts := strconv.Itoa(testUnix)
	sig := func(s Secret) string { return Sign(s, "msg_rot", testNow(), body) }
	tests := []struct {
		name      string
		signature string
		want      error
	}{
		{name: "signed with the new secret", signature: sig(newS)},
		{name: "signed with the old secret", signature: sig(oldS)},
		{name: "both signatures", signature: sig(newS) + " " + sig(oldS)},
		{name: "both signatures, other order", signature: sig(oldS) + " " + sig(newS)},
		{name: "unknown secret, then a known one", signature: sig(other) + " " + sig(oldS)},
		{name: "signed with a third secret", signature: sig(other), want: ErrNoMatchingSignature},
		{name: "third secret twice", signature: sig(other) + " " + sig(other), want: ErrNoMatchingSignature},
	}
	for _, order := range [][]Secret{{newS, oldS}, {oldS, newS}} {
		v := newTestVerifier(t, time.Minute, testNow(), order...)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/secrets %s,%s", tt.name, order[0].Fingerprint(), order[1].Fingerprint()), func(t *testing.T) {
				_, err := v.Verify("msg_rot", ts, tt.signature, body)
				checkErr(t, err, tt.want)
			})
		}
	}
}

// TestTolerance pins the edges: a timestamp exactly tolerance away, in either
// direction, is accepted; one nanosecond further is refused. Timestamps are
// whole seconds, so "one nanosecond further" means a now with a fraction.
func TestTolerance(t *testing.T) {
	type row struct {
		name      string
		tolerance time.Duration
		now       time.Time     // the verifier's clock
		offset    time.Duration // timestamp minus testNow(), whole seconds
		abs       *int64        // the timestamp itself, instead of offset
		want      error
		wantText  string
	}
	var tests []row
	for _, tol := range []time.Duration{30 * time.Second, DefaultTolerance, time.Hour} {
		base, frac := testNow(), testNow().Add(time.Nanosecond)
		early := testNow().Add(-time.Nanosecond)
		tests = append(tests,
			row{name: "now", tolerance: tol, now: base, offset: 0},
			row{name: "exactly tolerance old", tolerance: tol, now: base, offset: -tol},
			row{name: "exactly tolerance new", tolerance: tol, now: base, offset: tol},
			row{name: "tolerance old, 1ns later", tolerance: tol, now: frac, offset: -tol, want: ErrTimestampOutOfTolerance, wantText: "too old by 1s"},
			row{name: "tolerance new, 1ns earlier", tolerance: tol, now: early, offset: tol, want: ErrTimestampOutOfTolerance, wantText: "too new by 1s"},
			row{name: "tolerance new, 1ns later", tolerance: tol, now: frac, offset: tol},
			row{name: "1s too old", tolerance: tol, now: base, offset: -tol - time.Second, want: ErrTimestampOutOfTolerance, wantText: "too old by 1s (tolerance " + tol.String() + ")"},
			row{name: "1s too new", tolerance: tol, now: base, offset: tol + time.Second, want: ErrTimestampOutOfTolerance, wantText: "too new by 1s (tolerance " + tol.String() + ")"},
			row{name: "7m3s too old", tolerance: tol, now: base, offset: -tol - 7*time.Minute - 3*time.Second, want: ErrTimestampOutOfTolerance, wantText: "too old by 7m3s"},
			row{name: "a day too new", tolerance: tol, now: base, offset: tol + 24*time.Hour, want: ErrTimestampOutOfTolerance, wantText: "too new by 24h0m0s"},
		)
	}
	tests = append(tests,
		row{name: "epoch", tolerance: time.Hour, now: testNow(), abs: new(int64(0)), want: ErrTimestampOutOfTolerance, wantText: "too old by"},
		row{name: "epoch, with the clock there", tolerance: time.Hour, now: time.Unix(0, 0), abs: new(int64(0))},
		row{name: "largest 12-digit timestamp", tolerance: time.Hour, now: testNow(), abs: new(int64(999_999_999_999)), want: ErrTimestampOutOfTolerance, wantText: "too new by"},
		row{name: "largest 12-digit timestamp, with the clock there", tolerance: time.Hour, now: time.Unix(999_999_999_999, 0), abs: new(int64(999_999_999_999))},
		row{name: "zero clock", tolerance: time.Hour, now: time.Time{}, offset: 0, want: ErrTimestampOutOfTolerance},
	)
	a := NewSecret(testKey(1))
	body := []byte(`{}`)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/tolerance %s", tt.name, tt.tolerance), func(t *testing.T) {
			v := newTestVerifier(t, tt.tolerance, tt.now, a)
			sec := int64(testUnix) + int64(tt.offset/time.Second)
			if tt.abs != nil {
				sec = *tt.abs
			}
			ts := time.Unix(sec, 0)
			_, err := v.Verify("msg_1", strconv.FormatInt(sec, 10), Sign(a, "msg_1", ts, body), body)
			checkErr(t, err, tt.want)
			if tt.wantText != "" && !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestMalformedHeaders(t *testing.T) {
	a := NewSecret(testKey(1))
	v := newTestVerifier(t, time.Minute, testNow(), a)
	body := []byte(`{"x":1}`)
	ts := strconv.Itoa(testUnix)
	valid := func(id string) string { return Sign(a, id, testNow(), body) }
	mac := strings.TrimPrefix(valid("msg_1"), "v1,")
	// nonCanonical is the same MAC with non-zero padding bits: a lenient
	// decoder yields the same bytes, the library's text compare does not.
	nonCanonical := mac[:42] + string(flipPaddingBits(mac[42])) + "="
	entries := func(n int, last string) string {
		e := make([]string, 0, n)
		for range n - 1 {
			e = append(e, "v2,x")
		}
		return strings.Join(append(e, last), " ")
	}
	long := strings.Repeat("v2,"+strings.Repeat("x", 1000)+" ", 8) // 8 entries, 8032 bytes
	tests := []struct {
		name      string
		id        string
		timestamp string
		signature string
		want      error
	}{
		{name: "no id", id: "", timestamp: ts, signature: valid(""), want: ErrMissingHeaders},
		{name: "no timestamp", id: "msg_1", timestamp: "", signature: valid("msg_1"), want: ErrMissingHeaders},
		{name: "no signature", id: "msg_1", timestamp: ts, signature: "", want: ErrMissingHeaders},
		{name: "nothing", want: ErrMissingHeaders},

		{name: "id of 128 bytes", id: strings.Repeat("i", 128), timestamp: ts, signature: valid(strings.Repeat("i", 128))},
		{name: "id of 129 bytes", id: strings.Repeat("i", 129), timestamp: ts, signature: valid(strings.Repeat("i", 129)), want: ErrMalformedHeaders},
		{name: "id with a space", id: "msg 1", timestamp: ts, signature: valid("msg 1"), want: ErrMalformedHeaders},
		{name: "id with every printable byte", id: printableASCII(), timestamp: ts, signature: valid(printableASCII())},
		{name: "id with newline", id: "msg\n1", timestamp: ts, signature: valid("msg\n1"), want: ErrMalformedHeaders},
		{name: "id with NUL", id: "msg\x001", timestamp: ts, signature: valid("msg\x001"), want: ErrMalformedHeaders},
		{name: "id with DEL", id: "msg\x7f", timestamp: ts, signature: valid("msg\x7f"), want: ErrMalformedHeaders},
		{name: "id with tab", id: "msg\t1", timestamp: ts, signature: valid("msg\t1"), want: ErrMalformedHeaders},
		{name: "id with UTF-8", id: "msg_é", timestamp: ts, signature: valid("msg_é"), want: ErrMalformedHeaders},

		{name: "timestamp letters", id: "msg_1", timestamp: "abc", signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp negative", id: "msg_1", timestamp: "-1", signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp plus sign", id: "msg_1", timestamp: "+" + ts, signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp leading zero", id: "msg_1", timestamp: "0" + ts, signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp fraction", id: "msg_1", timestamp: ts + ".5", signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp with space", id: "msg_1", timestamp: " " + ts, signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp in milliseconds", id: "msg_1", timestamp: ts + "000", signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp exponent", id: "msg_1", timestamp: "1.7e9", signature: valid("msg_1"), want: ErrMalformedHeaders},
		{name: "timestamp over int64", id: "msg_1", timestamp: "99999999999999999999", signature: valid("msg_1"), want: ErrMalformedHeaders},

		{name: "signature v2 only", id: "msg_1", timestamp: ts, signature: "v2," + mac, want: ErrMalformedHeaders},
		{name: "signature v1a only", id: "msg_1", timestamp: ts, signature: "v1a," + mac, want: ErrMalformedHeaders},
		{name: "signature V1 upper case", id: "msg_1", timestamp: ts, signature: "V1," + mac, want: ErrMalformedHeaders},
		{name: "signature partial", id: "msg_1", timestamp: ts, signature: "v1,", want: ErrMalformedHeaders},
		{name: "signature no comma", id: "msg_1", timestamp: ts, signature: "v1", want: ErrMalformedHeaders},
		{name: "signature not base64", id: "msg_1", timestamp: ts, signature: "v1,invalid", want: ErrMalformedHeaders},
		{name: "signature unpadded", id: "msg_1", timestamp: ts, signature: "v1," + mac[:43], want: ErrMalformedHeaders},
		{name: "signature URL alphabet", id: "msg_1", timestamp: ts, signature: "v1," + base64.URLEncoding.EncodeToString(make([]byte, 31)) + "-_8=", want: ErrMalformedHeaders},
		{name: "signature non-canonical padding bits", id: "msg_1", timestamp: ts, signature: "v1," + nonCanonical, want: ErrMalformedHeaders},
		{name: "signature with a newline inside", id: "msg_1", timestamp: ts, signature: "v1," + mac[:20] + "\n" + mac[20:43], want: ErrMalformedHeaders},
		{name: "signature 16-byte MAC", id: "msg_1", timestamp: ts, signature: "v1," + base64.StdEncoding.EncodeToString(make([]byte, 16)), want: ErrMalformedHeaders},
		{name: "signature space after comma", id: "msg_1", timestamp: ts, signature: "v1, " + mac, want: ErrMalformedHeaders},
		{name: "signature over 8 KiB", id: "msg_1", timestamp: ts, signature: long + valid("msg_1") + strings.Repeat(" ", 200), want: ErrMalformedHeaders},
		{name: "signature of 8 KiB", id: "msg_1", timestamp: ts, signature: long + valid("msg_1") + strings.Repeat(" ", 8192-len(long)-len(valid("msg_1")))},
		{name: "signature with 64 entries", id: "msg_1", timestamp: ts, signature: entries(64, valid("msg_1"))},
		{name: "signature with 65 entries", id: "msg_1", timestamp: ts, signature: entries(65, valid("msg_1")), want: ErrMalformedHeaders},
		{name: "64 entries and trailing spaces, which are no entries", id: "msg_1", timestamp: ts, signature: entries(64, valid("msg_1")) + "      "},

		{name: "lenient: unknown versions and junk around a valid one", id: "msg_1", timestamp: ts, signature: "v1,invalid v2," + mac + " junk " + valid("msg_1") + " v1a,xyz"},
		{name: "lenient: text after a second comma", id: "msg_1", timestamp: ts, signature: valid("msg_1") + ",extra"},
		{name: "lenient: double spaces", id: "msg_1", timestamp: ts, signature: "  v2,x  " + valid("msg_1") + "  "},

		{name: "bad: library's invalid signature", id: "msg_1", timestamp: ts, signature: "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", want: ErrNoMatchingSignature},
		{name: "bad: other id", id: "msg_2", timestamp: ts, signature: valid("msg_1"), want: ErrNoMatchingSignature},
		{name: "bad: other timestamp", id: "msg_1", timestamp: strconv.Itoa(testUnix + 1), signature: valid("msg_1"), want: ErrNoMatchingSignature},
		{name: "bad: other secret", id: "msg_1", timestamp: ts, signature: Sign(NewSecret(testKey(9)), "msg_1", testNow(), body), want: ErrNoMatchingSignature},
		{name: "bad: one bit flipped", id: "msg_1", timestamp: ts, signature: "v1," + flipBit(mac), want: ErrNoMatchingSignature},
		{name: "bad: valid MAC under v2", id: "msg_1", timestamp: ts, signature: "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2," + mac, want: ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.id, tt.timestamp, tt.signature, body)
			checkErr(t, err, tt.want)
		})
	}
}

func TestNoMatchingSignatureBody(t *testing.T) {
	a := NewSecret(testKey(1))
	v := newTestVerifier(t, time.Minute, testNow(), a)
	body := []byte(`{"amount":100}`)
	sig := Sign(a, "msg_1", testNow(), body)
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{name: "changed", body: []byte(`{"amount":999}`)},
		{name: "empty", body: nil},
		{name: "trailing newline", body: append([]byte(`{"amount":100}`), '\n')},
		{name: "truncated", body: body[:len(body)-1]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify("msg_1", strconv.Itoa(testUnix), sig, tt.body)
			checkErr(t, err, ErrNoMatchingSignature)
		})
	}
}

func TestErrorsDoNotLeak(t *testing.T) {
	key := testKey(5)
	s := NewSecret(key)
	v := newTestVerifier(t, time.Minute, testNow(), s)
	body := []byte(`{"x":1}`)
	ts := strconv.Itoa(testUnix)
	// What Verify computes for the inputs below: none of it may show.
	expected := map[string]string{}
	for _, id := range []string{"msg_1", "msg_2"} {
		for _, sec := range []int64{testUnix, testUnix - 3600, testUnix + 1} {
			sig := Sign(s, id, time.Unix(sec, 0), body)
			mac := mustDecode(t, strings.TrimPrefix(sig, "v1,"))
			expected["signature "+sig] = strings.TrimPrefix(sig, "v1,")
			expected["signature hex "+sig] = fmt.Sprintf("%x", mac)
		}
	}
	forbidden := func(t *testing.T, text string) {
		t.Helper()
		for _, leak := range append(leakForms(key), s.Encode()) {
			if strings.Contains(text, leak) {
				t.Errorf("%q contains key form %q", text, leak)
			}
		}
		for what, leak := range expected {
			if strings.Contains(text, leak) {
				t.Errorf("%q contains the expected %s", text, what)
			}
		}
	}
	other := Sign(NewSecret(testKey(6)), "msg_1", testNow(), body)
	cases := []struct{ name, id, timestamp, signature string }{
		{"wrong secret", "msg_1", ts, other},
		{"wrong id", "msg_2", ts, Sign(s, "msg_1", testNow(), body)},
		{"too old", "msg_1", strconv.Itoa(testUnix - 3600), Sign(s, "msg_1", time.Unix(testUnix-3600, 0), body)},
		{"too new", "msg_1", strconv.Itoa(testUnix + 3600), other},
		{"malformed signature", "msg_1", ts, "v1,nope"},
		{"malformed timestamp", "msg_1", "x", other},
		{"malformed id", "msg\n", ts, other},
		{"missing", "", "", ""},
		{"wrong timestamp", "msg_1", strconv.Itoa(testUnix + 1), Sign(s, "msg_1", testNow(), body)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.id, c.timestamp, c.signature, body)
			if err == nil {
				t.Fatal("Verify error = nil, want an error")
			}
			forbidden(t, err.Error())
			forbidden(t, fmt.Sprintf("%+v %#v", err, err))
		})
	}
	t.Run("configuration errors", func(t *testing.T) {
		enc := base64.StdEncoding.EncodeToString(key)
		for _, in := range []string{"whsec_" + enc + "!", enc[:len(enc)-1], "whsec_" + enc + ",whsec_" + enc[2:]} {
			_, err := ParseSecrets(in)
			if err == nil {
				t.Fatalf("ParseSecrets(%q) error = nil, want an error", in)
			}
			forbidden(t, err.Error())
			if strings.Contains(err.Error(), enc[2:10]) {
				t.Errorf("ParseSecrets error %q contains secret text", err)
			}
		}
		_, err := NewVerifier([]Secret{s, {}}, time.Minute, nil)
		if err == nil {
			t.Fatal("NewVerifier error = nil, want an error")
		}
		forbidden(t, err.Error())
	})
}

func TestConcurrentVerify(t *testing.T) {
	a, b := NewSecret(testKey(1)), NewSecret(testKey(2))
	v := newTestVerifier(t, time.Minute, testNow(), a, b)
	ts := strconv.Itoa(testUnix)
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				id := fmt.Sprintf("msg_%d_%d", w, i)
				body := []byte(id)
				signer, want := a, error(nil)
				switch i % 3 {
				case 1:
					signer = b
				case 2:
					signer, want = NewSecret(testKey(3)), ErrNoMatchingSignature
				}
				_, err := v.Verify(id, ts, Sign(signer, id, testNow(), body), body)
				if want == nil && err != nil || want != nil && !errors.Is(err, want) {
					errs <- fmt.Errorf("%s: error = %v, want %s", id, err, errName(want))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestVerifyAllocs holds the hot path to zero allocations once the pool is
// warm.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	body := benchBody()
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("secrets=%d", n), func(t *testing.T) {
			secrets := []Secret{NewSecret(testKey(1)), NewSecret(testKey(2))}[:n]
			v := newTestVerifier(t, DefaultTolerance, testNow(), secrets...)
			ts := strconv.Itoa(testUnix)
			sig := Sign(secrets[0], "msg_2hBjWV4W9TtbUGwuVAzaV", testNow(), body)
			h := http.Header{"Webhook-Id": {"msg_2hBjWV4W9TtbUGwuVAzaV"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
			for _, c := range []struct {
				name string
				f    func()
			}{
				{"Verify", func() {
					if _, err := v.Verify("msg_2hBjWV4W9TtbUGwuVAzaV", ts, sig, body); err != nil {
						t.Fatal(err)
					}
				}},
				{"VerifyRequest", func() {
					if _, err := v.VerifyRequest(h, body); err != nil {
						t.Fatal(err)
					}
				}},
			} {
				if got := testing.AllocsPerRun(200, c.f); got != 0 {
					t.Errorf("%s: %v allocations per call, want 0", c.name, got)
				}
			}
		})
	}
}

// printableASCII is every byte an id may hold: printable ASCII but the
// space.
func printableASCII() string {
	var b strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

// flipPaddingBits returns the base64 character with the same top four bits
// as c but the low two set, for the last data character of a 32-byte MAC.
func flipPaddingBits(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	return alphabet[strings.IndexByte(alphabet, c)|3]
}

// flipBit changes one bit of the MAC a canonical base64 text encodes.
func flipBit(mac string) string {
	b, _ := base64.StdEncoding.DecodeString(mac)
	b[7] ^= 0x10
	return base64.StdEncoding.EncodeToString(b)
}
