package standin

import (
	"maps"
	"net/http"
	"slices"
	"testing"
)

// TestDeliveryRoutes: the webhook controls over HTTP. fail_next fails
// attempts as a 503 would (the receiver never sees them, the retry
// arrives), duplicate_next doubles the next webhooks, hold and release
// with order=reverse deliver across API calls newest first.
func TestDeliveryRoutes(t *testing.T) {
	// Three API calls: payment.succeeded, payment.failed, payment.succeeded.
	calls := func(e *env) {
		e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
		e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)))
		e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtGuide, 1)))
	}
	tests := []struct {
		name         string
		delivery     map[string]any
		release      string // query of POST /_standin/webhooks/release, "" for none
		wantIDs      []string
		wantAttempts int
	}{
		{"default", map[string]any{}, "", []string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}, 3},
		{"fail the next 2 attempts", map[string]any{"fail_next": 2}, "", []string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}, 5},
		{"duplicate the next 1", map[string]any{"duplicate_next": 1}, "", []string{"msg_0000000001", "msg_0000000001", "msg_0000000002", "msg_0000000003"}, 4},
		{"duplicate all", map[string]any{"duplicate": true}, "", []string{"msg_0000000001", "msg_0000000001", "msg_0000000002", "msg_0000000002", "msg_0000000003", "msg_0000000003"}, 6},
		{"hold, release in order", map[string]any{"hold": true}, "?order=queued", []string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}, 3},
		{"hold, release reversed", map[string]any{"hold": true}, "?order=reverse", []string{"msg_0000000003", "msg_0000000002", "msg_0000000001"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			e.mustDo(200, "PUT", "/_standin/webhooks/delivery", tt.delivery)
			calls(e)
			if tt.release != "" {
				if q := decode[deliveryAnswer](t, e.mustDo(200, "GET", "/_standin/webhooks/delivery", nil)); !q.Hold || q.Queued != 3 {
					t.Errorf("while held: %+v, want hold with 3 queued", q)
				}
				e.mustDo(200, "POST", "/_standin/webhooks/release"+tt.release, nil)
			}
			e.flush()
			var ids []string
			for _, g := range e.recv.received() {
				ids = append(ids, g.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("received %v, want %v", ids, tt.wantIDs)
			}
			l := decode[Ledger](t, e.mustDo(200, "GET", "/_standin/ledger", nil))
			if l.Webhooks.Attempts != tt.wantAttempts || l.Webhooks.Failed != tt.wantAttempts-len(tt.wantIDs) {
				t.Errorf("ledger webhooks %+v, want %d attempts, %d failed", l.Webhooks, tt.wantAttempts, tt.wantAttempts-len(tt.wantIDs))
			}
			for _, a := range e.s.Sent() {
				if a.Err != nil && (a.Status != http.StatusServiceUnavailable || a.Err != errInjected) {
					t.Errorf("a failed attempt %+v, want status 503 and errInjected", a)
				}
			}
			if d := decode[deliveryAnswer](t, e.mustDo(200, "GET", "/_standin/webhooks/delivery", nil)); d.FailNext != 0 || d.DuplicateNext != 0 || d.Hold {
				t.Errorf("delivery afterwards %+v, want the counts used up and no hold", d)
			}
		})
	}
	e := newEnv(t, date(2026, 4, 16))
	for _, body := range []any{map[string]any{"fail_next": -1}, map[string]any{"delay_ms": 60001}, map[string]any{"reorder": "yes"}, map[string]any{"fail": 1}} {
		e.wantError(422, "INVALID_REQUEST_BODY", "PUT", "/_standin/webhooks/delivery", body)
	}
	e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/_standin/webhooks/release?order=random", nil)
}

// TestLedger: GET /_standin/ledger counts charges per customer and
// delivered webhooks per type and per customer, so that a merchant's
// test can assert exactly one charge.
func TestLedger(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtPro, 1)))
	e.mustDo(200, "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 900}}})
	e.flush()
	l := decode[Ledger](t, e.mustDo(200, "GET", "/_standin/ledger", nil))
	if want := map[string]int{custAna: 2, custBo: 1}; !maps.Equal(l.Charges, want) {
		t.Errorf("charges = %v, want %v", l.Charges, want)
	}
	if want := map[string]int{"payment.succeeded": 2, "payment.failed": 1, "subscription.active": 1, "refund.succeeded": 1}; !maps.Equal(l.Webhooks.Delivered, want) {
		t.Errorf("delivered = %v, want %v", l.Webhooks.Delivered, want)
	}
	if want := map[string]int{"payment.succeeded": 1, "payment.failed": 1, "refund.succeeded": 1}; !maps.Equal(l.Webhooks.DeliveredByCustomer[custAna], want) {
		t.Errorf("delivered to %s = %v, want %v", custAna, l.Webhooks.DeliveredByCustomer[custAna], want)
	}
	if len(l.Payments) != 3 || l.Payments[0].Refunded != 900 || l.Payments[1].Status != PaymentFailed || l.Payments[2].SubscriptionID == "" {
		t.Errorf("payments = %+v", l.Payments)
	}
	if got := e.s.Ledger(); !maps.Equal(got.Charges, l.Charges) || len(got.Payments) != len(l.Payments) {
		t.Errorf("Ledger() = %+v, want what the route answered", got)
	}
}
