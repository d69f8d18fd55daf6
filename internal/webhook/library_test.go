package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The library's test fixtures (libraries/go/webhook_test.go).
const (
	libMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	libPayload = `{"test": 2432232314}`
	// libInvalidSig is the library's "invalid signature".
	libInvalidSig = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

// libNoTolerance stands for a verifier without a timestamp check, where the
// library's VerifyIgnoringTimestamp is the counterpart.
const libNoTolerance = 100 * 365 * 24 * time.Hour

func benchBody() []byte {
	// A 2 KB JSON body, roughly a Dodo payment event.
	var b bytes.Buffer
	b.WriteString(`{"business_id":"bus_1","type":"payment.succeeded","timestamp":"2026-01-01T00:00:00Z","data":{"items":[`)
	for i := 0; b.Len() < 2048-40; i++ {
		fmt.Fprintf(&b, `{"product_id":"pdt_%04d","quantity":1},`, i)
	}
	b.WriteString(`{"product_id":"pdt_last","quantity":1}]}}`)
	return b.Bytes()[:2048]
}

func libWebhook(t testing.TB, key []byte) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatalf("library NewWebhookRaw: %v", err)
	}
	return wh
}

func libSign(t testing.TB, key []byte, id string, ts time.Time, body []byte) string {
	t.Helper()
	sig, err := libWebhook(t, key).Sign(id, ts, body)
	if err != nil {
		t.Fatalf("library Sign: %v", err)
	}
	return sig
}

func libHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	return h
}

// TestSignMatchesLibrary signs with each implementation and verifies with
// the other.
func TestSignMatchesLibrary(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		key  []byte
		id   string
		ts   time.Time
		body []byte
		want string // a known signature, if any
	}{
		{name: "library's vector", key: mustDecode(t, libSecret), id: libMsgID, ts: time.Unix(1614265330, 0), body: []byte(libPayload), want: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
		{name: "now", key: testKey(1), id: "msg_1", ts: now, body: []byte(`{}`)},
		{name: "empty body", key: testKey(1), id: "msg_1", ts: now, body: nil},
		{name: "2 KB body", key: testKey(2), id: "msg_2hBjWV4W9TtbUGwuVAzaV", ts: now, body: benchBody()},
		{name: "binary body", key: testKey(3), id: "msg_3", ts: now, body: []byte("\x00\xff.\n\r%s%d")},
		{name: "dots in id and body", key: testKey(4), id: "a.b.c", ts: now, body: []byte("1.2.3")},
		{name: "one-byte key", key: []byte{7}, id: "msg_4", ts: now, body: []byte(`{}`)},
		{name: "key longer than a SHA-256 block", key: bytes.Repeat([]byte("k"), 100), id: "msg_5", ts: now, body: []byte(`{}`)},
		{name: "epoch", key: testKey(5), id: "msg_6", ts: time.Unix(0, 0), body: []byte(`{}`)},
		{name: "sub-second time is truncated", key: testKey(6), id: "msg_7", ts: time.Unix(testUnix, 999_999_999), body: []byte(`{}`)},
		{name: "far future", key: testKey(7), id: "msg_8", ts: time.Unix(99_999_999_999, 0), body: []byte(`{}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := libWebhook(t, tt.key)
			theirs := libSign(t, tt.key, tt.id, tt.ts, tt.body)
			ours := Sign(NewSecret(tt.key), tt.id, tt.ts, tt.body)
			if ours != theirs {
				t.Fatalf("Sign = %q, library Sign = %q", ours, theirs)
			}
			if tt.want != "" && ours != tt.want {
				t.Fatalf("Sign = %q, want %q", ours, tt.want)
			}

			// Library-signed, verified by us at the signing time.
			ts := strconv.FormatInt(tt.ts.Unix(), 10)
			v := newTestVerifier(t, DefaultTolerance, tt.ts, NewSecret(tt.key))
			if _, err := v.Verify(tt.id, ts, theirs, tt.body); err != nil {
				t.Errorf("Verify(library signature) error = %v, want nil", err)
			}
			// Signed by us, verified by the library.
			h := libHeader(tt.id, ts, ours)
			if err := lib.VerifyIgnoringTimestamp(tt.body, h); err != nil {
				t.Errorf("library VerifyIgnoringTimestamp(our signature) error = %v, want nil", err)
			}
			if tt.ts.Equal(now) {
				if err := lib.Verify(tt.body, h); err != nil {
					t.Errorf("library Verify(our signature) error = %v, want nil", err)
				}
			}
		})
	}
}

// TestLibraryCases runs the library's own cases (webhook_test.go: TestWebhook
// and TestWebhookPrefix) and a few more through both the library and us,
// with our tolerance at the library's 5 minutes, and wants the same decision
// from both.
func TestLibraryCases(t *testing.T) {
	type libCase struct {
		name   string
		secret string // for NewWebhook and ParseSecrets
		raw    []byte // instead of secret: NewWebhookRaw and NewSecret
		// ts is the signature's time from now, taken just before signing:
		// the library reads the clock itself when it verifies.
		ts        time.Duration
		modify    func(h http.Header)
		noEnforce bool // the library's VerifyIgnoringTimestamp
		wantErr   bool
	}
	setSig := func(sig string) func(http.Header) {
		return func(h http.Header) { h.Set("webhook-signature", sig) }
	}
	editSig := func(f func(valid string) string) func(http.Header) {
		return func(h http.Header) { h.Set("webhook-signature", f(h.Get("webhook-signature"))) }
	}
	tests := []libCase{
		// TestWebhook
		{name: "valid signature is valid", ts: 0},
		{name: "missing id returns error", ts: 0, modify: func(h http.Header) { h.Del("webhook-id") }, wantErr: true},
		{name: "missing timestamp returns error", ts: 0, modify: func(h http.Header) { h.Del("webhook-timestamp") }, wantErr: true},
		{name: "missing signature returns error", ts: 0, modify: func(h http.Header) { h.Del("webhook-signature") }, wantErr: true},
		{name: "invalid signature is invalid", ts: 0, modify: setSig(libInvalidSig), wantErr: true},
		{name: "partial signature is invalid", ts: 0, modify: setSig("v1,"), wantErr: true},
		{name: "old timestamp fails", ts: -DefaultTolerance - 30*time.Second, wantErr: true},
		{name: "new timestamp fails", ts: DefaultTolerance + 30*time.Second, wantErr: true},
		{name: "valid multi sig is valid", ts: 0, modify: editSig(func(valid string) string {
			return strings.Join([]string{libInvalidSig, "v2," + strings.TrimPrefix(libInvalidSig, "v1,"), valid, libInvalidSig}, " ")
		})},
		{name: "old timestamp passes when ignoring tolerance", ts: -DefaultTolerance - 30*time.Second, noEnforce: true},
		{name: "new timestamp passes when ignoring tolerance", ts: DefaultTolerance + 30*time.Second, noEnforce: true},
		{name: "valid timestamp passes when ignoring tolerance", ts: 0, noEnforce: true},
		{name: "invalid timestamp fails when ignoring tolerance", ts: 0, modify: func(h http.Header) {
			h.Set("webhook-timestamp", fmt.Sprint(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
		}, noEnforce: true, wantErr: true},
		// TestWebhookPrefix
		{name: "secret without prefix", secret: libSecret, ts: 0},
		{name: "secret with prefix", secret: "whsec_" + libSecret, ts: 0},
		{name: "raw secret", raw: []byte("raw secret bytes, not base64"), ts: 0},
		{name: "raw one-byte secret", raw: []byte{0}, ts: 0},
		// More of the same kind.
		{name: "v1,invalid then v2 then valid", ts: 0, modify: editSig(func(valid string) string {
			return "v1,invalid v2," + strings.TrimPrefix(valid, "v1,") + " " + valid
		})},
		{name: "valid MAC under v2 only", ts: 0, modify: editSig(func(valid string) string { return "v2," + strings.TrimPrefix(valid, "v1,") }), wantErr: true},
		{name: "valid with text after a second comma", ts: 0, modify: editSig(func(valid string) string { return valid + ",extra" })},
		{name: "valid after a tab, which is no separator", ts: 0, modify: editSig(func(valid string) string { return "v2,x\t" + valid }), wantErr: true},
		{name: "valid between double spaces", ts: 0, modify: editSig(func(valid string) string { return "  " + valid + "  " })},
		{name: "non-canonical padding bits", ts: 0, modify: editSig(func(valid string) string {
			return valid[:45] + string(flipPaddingBits(valid[45])) + "="
		}), wantErr: true},
		{name: "unpadded", ts: 0, modify: editSig(func(valid string) string { return strings.TrimSuffix(valid, "=") }), wantErr: true},
		{name: "4m30s old", ts: -DefaultTolerance + 30*time.Second},
		{name: "4m30s ahead", ts: DefaultTolerance - 30*time.Second},
		{name: "an hour old", ts: -time.Hour, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lib *standardwebhooks.Webhook
			var ours []Secret
			var err error
			if tt.raw != nil {
				lib, ours = libWebhook(t, tt.raw), []Secret{NewSecret(tt.raw)}
			} else {
				secret := tt.secret
				if secret == "" {
					secret = libSecret
				}
				if lib, err = standardwebhooks.NewWebhook(secret); err != nil {
					t.Fatalf("library NewWebhook: %v", err)
				}
				if ours, err = ParseSecrets(secret); err != nil {
					t.Fatalf("ParseSecrets: %v", err)
				}
			}
			// Cases near the tolerance keep 30 s from its edge: the
			// library reads its own clock, so a slow machine between
			// signing and verifying must not move a case across it.
			ts := time.Now().Add(tt.ts)
			sig, err := lib.Sign(libMsgID, ts, []byte(libPayload))
			if err != nil {
				t.Fatalf("library Sign: %v", err)
			}
			h := libHeader(libMsgID, fmt.Sprint(ts.Unix()), sig)
			if tt.modify != nil {
				tt.modify(h)
			}

			tolerance := DefaultTolerance
			var libErr error
			if tt.noEnforce {
				tolerance = libNoTolerance
				libErr = lib.VerifyIgnoringTimestamp([]byte(libPayload), h)
			} else {
				libErr = lib.Verify([]byte(libPayload), h)
			}
			v, err := NewVerifier(ours, tolerance, time.Now)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			_, ourErr := v.VerifyRequest(h, []byte(libPayload))

			if (libErr != nil) != tt.wantErr {
				t.Errorf("library error = %v, want error: %t", libErr, tt.wantErr)
			}
			if (ourErr != nil) != (libErr != nil) {
				t.Errorf("our error = %v, library error = %v; want the same decision", ourErr, libErr)
			}
		})
	}
}
