package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// FuzzParseSignatureHeader checks the parser against a plain reference: the
// library's split (strings.Split on " " then ","), keeping each v1 text that
// is the canonical base64 of a 32-byte MAC, which is what the library's text
// comparison could ever match.
func FuzzParseSignatureHeader(f *testing.F) {
	mac := strings.TrimPrefix(Sign(NewSecret(testKey(1)), "msg_1", time.Unix(testUnix, 0), nil), "v1,")
	for _, seed := range []string{
		"", " ", "v1", "v1,", "v1,invalid", "v1," + mac, "v2," + mac, "v1a," + mac, "V1," + mac,
		"v1," + mac + ",extra", "v1," + mac + " v1," + mac, "  v1," + mac + "  ", "v2,x\tv1," + mac,
		"v1," + mac[:43], "v1," + mac[:42] + "F=", "v1," + mac[:20] + "\n" + mac[20:43],
		"v1,invalid v2," + mac + " v1," + mac, "v1,,," + mac, ",v1," + mac,
		strings.Repeat("v2,x ", 64) + "v1," + mac, strings.Repeat(" ", 9000) + "v1," + mac,
	} {
		f.Add(seed)
	}
	b64 := base64.StdEncoding.Strict()
	f.Fuzz(func(t *testing.T, header string) {
		var buf [maxSignatures][sha256.Size]byte
		got, err := parseSignatureHeader(buf[:0], header, b64)

		var want [][sha256.Size]byte
		entries := 0
		for _, entry := range strings.Split(header, " ") {
			if entry != "" {
				entries++
			}
			parts := strings.Split(entry, ",")
			if len(parts) < 2 || parts[0] != "v1" {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(parts[1])
			if err != nil || len(b) != sha256.Size || base64.StdEncoding.EncodeToString(b) != parts[1] {
				continue
			}
			want = append(want, [sha256.Size]byte(b))
		}

		tooBig := len(header) > maxSignatureHeaderLen || entries > maxSignatures
		if tooBig || len(want) == 0 {
			if !errors.Is(err, ErrMalformedHeaders) {
				t.Fatalf("parse(%q) = %d MACs, %v; want ErrMalformedHeaders (%d bytes, %d entries, %d v1 MACs)", header, len(got), err, len(header), entries, len(want))
			}
			return
		}
		if err != nil {
			t.Fatalf("parse(%q) error = %v, want %d MACs", header, err, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("parse(%q) = %d MACs, want %d", header, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("parse(%q) MAC %d = %x, want %x", header, i, got[i], want[i])
			}
		}
	})
}

// FuzzVerify is differential: our Verifier, holding secrets A and B, must
// accept exactly when the library, holding A or holding B, accepts, except
// where we are deliberately stricter (stricterThanLibrary), and there we must
// refuse with ErrMalformedHeaders.
//
// Time: the library reads time.Now() itself, so both sides use the real
// clock, and the timestamp is given relative to it: "$NOW" in tsTmpl becomes
// now+offset seconds, which keeps the corpus valid whenever it runs. The two
// clock readings are microseconds apart, so a timestamp within 2 seconds of
// either tolerance edge is only checked for signatures (ours accepting implies
// the library's VerifyIgnoringTimestamp accepting); elsewhere the decisions
// cannot differ by clock.
//
// Signatures: "$A", "$B" and "$C" in sigTmpl become the library's base64
// signature of (id, timestamp, body) under secrets A, B and C (C is known to
// neither side), so the fuzzer can build headers around valid signatures.
func FuzzVerify(f *testing.F) {
	keys := [3][]byte{testKey(1), testKey(2), testKey(3)}
	v, err := NewVerifier([]Secret{NewSecret(keys[0]), NewSecret(keys[1])}, DefaultTolerance, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	libs := [2]*standardwebhooks.Webhook{libWebhook(f, keys[0]), libWebhook(f, keys[1])}

	type seed struct {
		id, ts string
		offset int64
		sig    string
		body   string
	}
	for _, s := range []seed{
		{"msg_1", "$NOW", 0, "v1,$A", `{"a":1}`},
		{"msg_1", "$NOW", 0, "v1,$B", `{"a":1}`},
		{"msg_1", "$NOW", 0, "v1,$C", `{"a":1}`},
		{"msg_1", "$NOW", 0, "v1,$C v1,$B", ""},
		{"msg_1", "$NOW", 0, "v1,$A v1,$B", ""},
		{"msg_1", "$NOW", 0, "v2,$A", "x"},
		{"msg_1", "$NOW", 0, "v1,$A,junk", "x"},
		{"msg_1", "$NOW", 0, "v1,$A\t", "x"},
		{"msg_1", "$NOW", 0, "v1,invalid v2,$A v1,$B", "x"},
		{"msg_1", "$NOW", 0, "v1,", "x"},
		{"msg_1", "$NOW", 0, "V1,$A", "x"},
		{"msg_1", "$NOW", 0, "v1, $A", "x"},
		{"msg_1", "+$NOW", 0, "v1,$A", "x"},
		{"msg_1", "0$NOW", 0, "v1,$A", "x"},
		{"msg_1", "-$NOW", 0, "v1,$A", "x"},
		{"msg_1", "$NOW.5", 0, "v1,$A", "x"},
		{"msg_1", "$NOW000", 0, "v1,$A", "x"},
		{"msg_1", "$NOW", -300, "v1,$A", "x"},
		{"msg_1", "$NOW", 300, "v1,$A", "x"},
		{"msg_1", "$NOW", -303, "v1,$A", "x"},
		{"msg_1", "$NOW", 303, "v1,$A", "x"},
		{"msg_1", "$NOW", -3600, "v1,$B", "x"},
		{"msg_1", "$NOW", 1 << 40, "v1,$B", "x"},
		{"msg_1", "0", 0, "v1,$A", "x"},
		{"msg_1", "abc", 0, "v1,$A", "x"},
		{"", "$NOW", 0, "v1,$A", "x"},
		{"msg_1", "", 0, "v1,$A", "x"},
		{"msg_1", "$NOW", 0, "", "x"},
		{"msg\n1", "$NOW", 0, "v1,$A", "x"},
		{"msg_é", "$NOW", 0, "v1,$A", "x"},
		{strings.Repeat("m", 257), "$NOW", 0, "v1,$A", "x"},
		{"a.b", "$NOW", 0, "v1,$A", "c.d"},
		{"msg_1", "$NOW", 0, strings.Repeat("v2,x ", 64) + "v1,$A", "x"},
		{"msg_1", "$NOW", 0, strings.Repeat("v2,x ", 63) + "v1,$A", "x"},
		{"msg_1", "$NOW", 0, strings.Repeat(" ", 8200) + "v1,$A", "x"},
	} {
		f.Add(s.id, s.ts, s.offset, s.sig, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, id, tsTmpl string, offset int64, sigTmpl string, body []byte) {
		now := time.Now()
		ts := strings.ReplaceAll(tsTmpl, "$NOW", strconv.FormatInt(now.Unix()+offset%(1<<40), 10))
		sig := sigTmpl
		sec, tsErr := strconv.ParseInt(ts, 10, 64)
		if strings.Contains(sig, "$") {
			for i, name := range []string{"$A", "$B", "$C"} {
				mac := "unsignable" // the library signs only parsable timestamps
				if tsErr == nil {
					mac = strings.TrimPrefix(libSign(t, keys[i], id, time.Unix(sec, 0), body), "v1,")
				}
				sig = strings.ReplaceAll(sig, name, mac)
			}
		}
		h := http.Header{headerID: {id}, headerTimestamp: {ts}, headerSignature: {sig}}

		_, ours := v.VerifyRequest(h, body)
		libErrs := [2]error{libs[0].Verify(body, h), libs[1].Verify(body, h)}
		libAccepts := libErrs[0] == nil || libErrs[1] == nil

		if reason := stricterThanLibrary(id, ts, sig); reason != "" {
			if !errors.Is(ours, ErrMalformedHeaders) {
				t.Fatalf("%s: our error = %v, want ErrMalformedHeaders\nid %q ts %q sig %q", reason, ours, id, ts, sig)
			}
			return
		}
		if tsErr == nil {
			if d := abs(sec - now.Unix()); abs(d-int64(DefaultTolerance/time.Second)) <= 2 {
				libIgnoring := libs[0].VerifyIgnoringTimestamp(body, h) == nil || libs[1].VerifyIgnoringTimestamp(body, h) == nil
				if ours == nil && !libIgnoring {
					t.Fatalf("near the tolerance edge: we accept, library refuses the signature\nid %q ts %q sig %q", id, ts, sig)
				}
				return
			}
		}
		if (ours == nil) != libAccepts {
			t.Fatalf("our error = %v, library errors = %v; want the same decision\nid %q ts %q sig %q body %q", ours, libErrs, id, ts, sig, body)
		}
		// Where the two classify the same way, the sentinel must agree too.
		if got, want := errors.Is(ours, ErrMissingHeaders), errors.Is(libErrs[0], standardwebhooks.ErrRequiredHeaders); got != want {
			t.Fatalf("our error = %v, library error = %v; want both or neither to be missing headers", ours, libErrs[0])
		}
		if errors.Is(libErrs[0], standardwebhooks.ErrInvalidHeaders) && !errors.Is(ours, ErrMalformedHeaders) {
			t.Fatalf("our error = %v, library error = %v; want ErrMalformedHeaders", ours, libErrs[0])
		}
		if errors.Is(ours, ErrTimestampOutOfTolerance) {
			for _, e := range libErrs {
				if !errors.Is(e, standardwebhooks.ErrMessageTooOld) && !errors.Is(e, standardwebhooks.ErrMessageTooNew) {
					t.Fatalf("our error = %v, library error = %v; want both out of tolerance", ours, e)
				}
			}
		}
		if errors.Is(ours, ErrNoMatchingSignature) {
			for _, e := range libErrs {
				if !errors.Is(e, standardwebhooks.ErrNoMatchingSignature) {
					t.Fatalf("our error = %v, library error = %v; want both not matching", ours, e)
				}
			}
		}
	})
}

// stricterThanLibrary names the reason, if any, that we refuse headers the
// library could accept. This is the complete list of deliberate differences.
func stricterThanLibrary(id, ts, sig string) string {
	if id == "" || ts == "" || sig == "" {
		return "" // missing: both refuse
	}
	if len(id) > maxIDLen {
		return "id over 128 bytes"
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= 0x20 || id[i] > 0x7e {
			return "id not printable ASCII without spaces"
		}
	}
	// The library parses with strconv.ParseInt and signs the re-formatted
	// number; we sign the header text and accept only its canonical form.
	if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && strconv.FormatInt(sec, 10) != ts {
		return "timestamp not in canonical form (sign or leading zero)"
	}
	if len(sig) > maxSignatureHeaderLen {
		return "signature header over 8 KiB"
	}
	entries := 0
	for _, e := range strings.Split(sig, " ") {
		if e != "" {
			entries++
		}
	}
	if entries > maxSignatures {
		return "signature header with over 64 (non-empty, space-separated) entries"
	}
	return ""
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
