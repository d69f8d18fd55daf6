package webhook

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const benchID = "msg_2hBjWV4W9TtbUGwuVAzaV"

// BenchmarkVerify verifies a 2 KB body carrying one v1 signature, with one
// secret and with two (during a rotation), where every secret costs an HMAC.
func BenchmarkVerify(b *testing.B) {
	body := benchBody()
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	for _, n := range []int{1, 2} {
		secrets := []Secret{NewSecret(testKey(1)), NewSecret(testKey(2))}[:n]
		v := newTestVerifier(b, DefaultTolerance, now, secrets...)
		sig := Sign(secrets[0], benchID, now, body)
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := v.Verify(benchID, ts, sig, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("request/secrets=%d", n), func(b *testing.B) {
			h := libHeader(benchID, ts, sig)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := v.VerifyRequest(h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLibraryVerify is the Standard Webhooks library on the input of
// BenchmarkVerify with one secret, for comparison.
func BenchmarkLibraryVerify(b *testing.B) {
	body := benchBody()
	now := time.Now()
	key := testKey(1)
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		b.Fatal(err)
	}
	h := libHeader(benchID, strconv.FormatInt(now.Unix(), 10), Sign(NewSecret(key), benchID, now, body))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := wh.Verify(body, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRejectMalformed is what a request with a garbage signature
// header costs: it is refused before any HMAC.
func BenchmarkVerifyRejectMalformed(b *testing.B) {
	body := benchBody()
	now := time.Now()
	v := newTestVerifier(b, DefaultTolerance, now, NewSecret(testKey(1)))
	ts := strconv.FormatInt(now.Unix(), 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(benchID, ts, "v1,garbage", body); err == nil {
			b.Fatal("accepted")
		}
	}
}
