package standin

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// TestRefunds: POST /refunds, full and partial, with good and bad bodies;
// each refund sends refund.succeeded with the spec's Refund, and the
// payment shows its refunds and refund_status.
func TestRefunds(t *testing.T) {
	type step struct {
		body       any
		want       int
		wantAmount int64
		wantPart   bool
	}
	tests := []struct {
		name       string
		steps      []step
		wantStatus string // the payment's refund_status at the end, "" for null
	}{
		{"full", []step{{map[string]any{"payment_id": "pay_0000000001", "reason": "duplicate"}, 200, 3800, false}}, "full"},
		{"one line", []step{{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide}}}, 200, 3800, false}}, "full"},
		{"partial then the rest", []step{
			{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 1000}}}, 200, 1000, true},
			{map[string]any{"payment_id": "pay_0000000001"}, 200, 2800, true},
			{map[string]any{"payment_id": "pay_0000000001"}, 422, 0, false},
		}, "full"},
		{"partial only", []step{{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 100, "tax_inclusive": true}}, "metadata": map[string]any{"ticket": "T-1"}}, 200, 100, true}}, "partial"},
		{"partial beyond what is left", []step{
			{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 3000}}}, 200, 3000, true},
			{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 900}}}, 422, 0, false},
		}, "partial"},
		{"item beyond its line", []step{{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 3801}}}, 422, 0, false}}, ""},
		{"item not in the cart", []step{{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtEbook}}}, 422, 0, false}}, ""},
		{"zero amount", []step{{map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 0}}}, 422, 0, false}}, ""},
		{"failed payment", []step{{map[string]any{"payment_id": "pay_0000000002"}, 422, 0, false}}, ""},
		{"unknown payment", []step{{map[string]any{"payment_id": "pay_nothing"}, 404, 0, false}}, ""},
		{"no payment id", []step{{map[string]any{"reason": "x"}, 422, 0, false}}, ""},
		{"malformed JSON", []step{{`{"payment_id":`, 400, 0, false}}, ""},
		{"unknown field", []step{{map[string]any{"payment_id": "pay_0000000001", "amount": 5}, 422, 0, false}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 2)))    // pay_0000000001, $38
			e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1))) // pay_0000000002, failed
			e.webhooks()
			var wantEvents []string
			for i, st := range tt.steps {
				status, body := e.do("POST", "/refunds", st.body)
				if status != st.want {
					t.Fatalf("step %d: POST /refunds = %d %s, want %d", i, status, body, st.want)
				}
				if status != 200 {
					continue
				}
				wantEvents = append(wantEvents, "refund.succeeded")
				r := decode[wire.Refund](t, body)
				if deref(r.Amount) != st.wantAmount || r.IsPartial != st.wantPart || r.Status != "succeeded" || r.CustomerID() != custAna || r.PayloadType != "" {
					t.Errorf("step %d: refund = %+v, want %d partial=%v succeeded for %s without payload_type", i, r, st.wantAmount, st.wantPart, custAna)
				}
			}
			got := e.webhooks()
			if !slices.Equal(got, wantEvents) {
				t.Errorf("webhooks = %v, want %v", got, wantEvents)
			}
			p := decode[wire.Payment](t, e.mustDo(200, "GET", "/payments/pay_0000000001", nil))
			if deref(p.RefundStatus) != tt.wantStatus || len(p.Refunds) != len(wantEvents) {
				t.Errorf("payment refund_status %q with %d refunds, want %q with %d", deref(p.RefundStatus), len(p.Refunds), tt.wantStatus, len(wantEvents))
			}
		})
	}
}

// TestListRefunds: GET /refunds and GET /refunds/{id} read the refunds
// back, filtered.
func TestListRefunds(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 2)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtGuide, 1)))
	a := decode[wire.Refund](t, e.mustDo(200, "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 100}}}))
	b := decode[wire.Refund](t, e.mustDo(200, "POST", "/refunds", map[string]any{"payment_id": "pay_0000000002"}))
	if got := decode[wire.Refund](t, e.mustDo(200, "GET", "/refunds/"+a.RefundID, nil)); got.RefundID != a.RefundID || deref(got.Amount) != 100 {
		t.Errorf("GET refund = %+v, want %+v", got, a)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{b.RefundID, a.RefundID}},
		{"?customer_id=" + custAna, []string{a.RefundID}},
		{"?status=succeeded&page_size=1&page_number=1", []string{a.RefundID}},
		{"?status=pending", nil},
		{"?created_at_gte=2026-04-17T00:00:00Z", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range decode[wire.List[wire.RefundSummary]](t, e.mustDo(200, "GET", "/refunds"+tt.query, nil)).Items {
			got = append(got, r.RefundID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("GET /refunds%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	e.wantError(404, "NOT_FOUND", "GET", "/refunds/ref_nothing", nil)
	e.wantError(422, "INVALID_REQUEST_BODY", "GET", "/refunds?status=done", nil)
	e.wantError(422, "INVALID_REQUEST_BODY", "GET", "/refunds?page_size=x", nil)
}

// TestRefundWebhook: refund.succeeded carries the refund with its
// payload_type.
func TestRefundWebhook(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.flush()
	e.recv.reset()
	e.mustDo(200, "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001", "metadata": map[string]any{"k": "v"}})
	e.flush()
	got := e.recv.received()
	if len(got) != 1 {
		t.Fatalf("webhooks = %d, want 1", len(got))
	}
	var env struct {
		Type string      `json:"type"`
		Data wire.Refund `json:"data"`
	}
	if err := json.Unmarshal(got[0].Body, &env); err != nil {
		t.Fatal(err)
	}
	if d := env.Data; env.Type != "refund.succeeded" || d.PayloadType != "Refund" || d.PaymentID != "pay_0000000001" || deref(d.Amount) != 1900 || d.IsPartial || d.Metadata["k"].String() != "v" {
		t.Errorf("webhook %s %+v, want refund.succeeded of the whole $19 with payload_type Refund and metadata k=v", env.Type, d)
	}
}
