package ingest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/devstack/payload"
)

// BenchmarkWebhook is one signed webhook through the ingest's handler to
// JetStream's acknowledgement, without the HTTP server and client (bench
// ingest measures those, in processes of their own): what the handler
// itself allocates and costs per stored webhook.
func BenchmarkWebhook(b *testing.B) {
	f := newFixture(b, 5*time.Second)
	h := f.srv.Config.Handler
	body := payload.PaymentSucceeded(f.now.Add(-time.Minute), "cus_bench", "pay_bench", "pdt_course_go", 2900)
	reqs := make([]req, b.N)
	for i := range reqs {
		reqs[i] = f.signed(fmt.Sprintf("msg_bench_%09d", i), body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := reqs[i]
		hr := httptest.NewRequest(http.MethodPost, "/webhooks/dodo", bytes.NewReader(r.body))
		hr.Header.Set("webhook-id", r.id)
		hr.Header.Set("webhook-timestamp", r.ts)
		hr.Header.Set("webhook-signature", r.sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, hr)
		if w.Code != http.StatusOK {
			b.Fatalf("answer %d: %s", w.Code, w.Body)
		}
	}
}
