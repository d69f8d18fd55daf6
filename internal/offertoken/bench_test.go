package offertoken

import (
	"testing"
	"time"
)

// BenchmarkVerify measures the accept path: a valid token, verified by a
// Signer holding two keys (the usual rotation state).
func BenchmarkVerify(b *testing.B) {
	now := testNow
	s := newTestSigner(b, &now, testKey("k2", 2), testKey("k1", 1))
	tok, _ := mustSign(b, s, "off_01J9Z3K4T6W8", "cus_01J9Z3K4T6W8", 15*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, "off_01J9Z3K4T6W8", "cus_01J9Z3K4T6W8"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign measures issuing a token, once per offer shown.
func BenchmarkSign(b *testing.B) {
	now := testNow
	s := newTestSigner(b, &now, testKey("k2", 2), testKey("k1", 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Sign("off_01J9Z3K4T6W8", "cus_01J9Z3K4T6W8", 15*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
