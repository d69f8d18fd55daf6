package standin

import (
	"slices"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// TestPatchSubscription: cancel, pause and resume through PATCH
// /subscriptions/{id}, with the status, dates and webhooks the spec has.
func TestPatchSubscription(t *testing.T) {
	now := date(2026, 4, 16)
	tests := []struct {
		name       string
		start      string // the subscription's status before
		body       any
		want       int
		wantCode   string
		wantStatus string
		wantCancel bool // cancel_at_next_billing_date
		wantEvents []string
	}{
		{"cancel at the next billing date", StatusActive, map[string]any{"cancel_at_next_billing_date": true}, 200, "", StatusActive, true, []string{"subscription.updated"}},
		{"cancel now", StatusActive, map[string]any{"status": "cancelled", "cancel_reason": "cancelled_by_merchant"}, 200, "", StatusCancelled, false, []string{"subscription.cancelled", "subscription.updated"}},
		{"pause", StatusActive, map[string]any{"pause": true}, 200, "", StatusPaused, false, []string{"subscription.paused", "subscription.updated"}},
		{"resume", StatusPaused, map[string]any{"pause": false}, 200, "", StatusActive, false, []string{"subscription.unpaused", "subscription.updated"}},
		{"resume by status", StatusPaused, map[string]any{"status": "active"}, 200, "", StatusActive, false, []string{"subscription.unpaused", "subscription.updated"}},
		{"resume an active one", StatusActive, map[string]any{"pause": false}, 200, "", StatusActive, false, nil},
		{"metadata", StatusActive, map[string]any{"metadata": map[string]any{"tier": "gold"}}, 200, "", StatusActive, false, []string{"subscription.updated"}},
		{"next billing date", StatusActive, map[string]any{"next_billing_date": "2026-06-01T00:00:00Z"}, 200, "", StatusActive, false, []string{"subscription.updated"}},
		{"nothing", StatusActive, map[string]any{}, 200, "", StatusActive, false, nil},
		{"pause on hold", StatusOnHold, map[string]any{"pause": true}, 422, "SUBSCRIPTION_INACTIVE", StatusOnHold, false, nil},
		{"resume on hold", StatusOnHold, map[string]any{"pause": false}, 422, "SUBSCRIPTION_INACTIVE", StatusOnHold, false, nil},
		{"change a cancelled one", StatusCancelled, map[string]any{"cancel_at_next_billing_date": true}, 422, "SUBSCRIPTION_INACTIVE", StatusCancelled, false, nil},
		{"cancel and pause", StatusActive, map[string]any{"status": "cancelled", "pause": true}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"status on_hold", StatusActive, map[string]any{"status": "on_hold"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"status unknown", StatusActive, map[string]any{"status": "gone"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"bad cancel reason", StatusActive, map[string]any{"cancel_reason": "bored"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"bad feedback", StatusActive, map[string]any{"cancellation_feedback": "meh"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"bad next billing date", StatusActive, map[string]any{"next_billing_date": "soon"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"next billing date in the past", StatusActive, map[string]any{"next_billing_date": "2026-01-01T00:00:00Z"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"pause a string", StatusActive, map[string]any{"pause": "yes"}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"unknown field", StatusActive, map[string]any{"product_id": pdtPro}, 422, "INVALID_REQUEST_BODY", StatusActive, false, nil},
		{"malformed JSON", StatusActive, "{", 400, "INVALID_REQUEST_BODY", StatusActive, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, now)
			id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, Status: tt.start, PeriodStart: date(2026, 4, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != 200 {
				e.wantError(tt.want, tt.wantCode, "PATCH", "/subscriptions/"+id, tt.body)
			} else {
				got := decode[wire.Subscription](t, e.mustDo(200, "PATCH", "/subscriptions/"+id, tt.body))
				if got.Status != tt.wantStatus || got.CancelAtNextBillingDate != tt.wantCancel {
					t.Errorf("answer: status %s cancel_at_next_billing_date %v, want %s %v", got.Status, got.CancelAtNextBillingDate, tt.wantStatus, tt.wantCancel)
				}
				if (got.Status == StatusCancelled) != (got.CancelledAt != nil) || (got.Status == StatusPaused) != (got.PausedAt != nil) {
					t.Errorf("cancelled_at %v paused_at %v for status %s", got.CancelledAt, got.PausedAt, got.Status)
				}
			}
			if got, _ := e.s.Subscription(id); got.Status != tt.wantStatus {
				t.Errorf("status %s, want %s", got.Status, tt.wantStatus)
			}
			if got := e.webhooks(); !slices.Equal(got, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", got, tt.wantEvents)
			}
		})
	}
	e := newEnv(t, now)
	e.wantError(404, "NOT_FOUND", "PATCH", "/subscriptions/sub_nothing", map[string]any{"pause": true})
}

// TestCancelAtNextBillingDateThenRenew: a scheduled cancellation happens at
// the renewal, and a paused subscription is not renewed until resumed.
func TestCancelAtNextBillingDateThenRenew(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	cancel, _ := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1)})
	paused, _ := e.s.AddSubscription(Subscription{CustomerID: custBo, ProductID: pdtBasic, PaymentMethodID: pmBo, PeriodStart: date(2026, 4, 1)})
	e.mustDo(200, "PATCH", "/subscriptions/"+cancel, map[string]any{"cancel_at_next_billing_date": true})
	e.mustDo(200, "PATCH", "/subscriptions/"+paused, map[string]any{"pause": true})
	e.webhooks()
	got := decode[clockAnswer](t, e.mustDo(200, "POST", "/_standin/clock/advance", map[string]any{"seconds": 20 * 24 * 3600}))
	if !got.Now.Equal(date(2026, 5, 6)) || got.Renewed != 0 {
		t.Errorf("advance = %+v, want now 2026-05-06 and nothing renewed", got)
	}
	if got := e.webhooks(); !slices.Equal(got, []string{"subscription.cancelled"}) {
		t.Errorf("webhooks = %v, want [subscription.cancelled]", got)
	}
	sub := decode[wire.Subscription](t, e.mustDo(200, "GET", "/subscriptions/"+cancel, nil))
	if sub.Status != StatusCancelled || sub.CancelledAt == nil {
		t.Errorf("cancelled subscription: %s cancelled_at %v", sub.Status, sub.CancelledAt)
	}
	e.mustDo(200, "PATCH", "/subscriptions/"+paused, map[string]any{"pause": false})
	got = decode[clockAnswer](t, e.mustDo(200, "POST", "/_standin/renew", nil))
	if got.Renewed != 1 {
		t.Errorf("renew = %+v, want 1 renewed", got)
	}
	if got := e.webhooks(); !slices.Equal(got, []string{"subscription.unpaused", "subscription.updated", "payment.succeeded", "subscription.renewed"}) {
		t.Errorf("webhooks = %v", got)
	}
}

// TestChargeSubscription: POST /subscriptions/{id}/charge charges the
// subscription's card and answers the payment's id, whatever its outcome.
func TestChargeSubscription(t *testing.T) {
	tests := []struct {
		name       string
		pm         string
		status     string
		body       any
		want       int
		wantCode   string
		wantStatus string // the payment's
	}{
		{"charged", pmVisa, StatusActive, map[string]any{"product_price": 1500}, 200, "", PaymentSucceeded},
		{"with currency and metadata", pmVisa, StatusActive, map[string]any{"product_price": 1500, "product_currency": "USD", "product_description": "overage", "metadata": map[string]any{"k": "v"}}, 200, "", PaymentSucceeded},
		{"declined", pmDecline, StatusActive, map[string]any{"product_price": 1500}, 200, "", PaymentFailed},
		{"other currency", pmVisa, StatusActive, map[string]any{"product_price": 1500, "product_currency": "EUR"}, 422, "INVALID_REQUEST_BODY", ""},
		{"no price", pmVisa, StatusActive, map[string]any{}, 422, "INVALID_REQUEST_BODY", ""},
		{"zero price", pmVisa, StatusActive, map[string]any{"product_price": 0}, 422, "INVALID_REQUEST_BODY", ""},
		{"price a string", pmVisa, StatusActive, map[string]any{"product_price": "15"}, 422, "INVALID_REQUEST_BODY", ""},
		{"paused", pmVisa, StatusPaused, map[string]any{"product_price": 1500}, 422, "SUBSCRIPTION_INACTIVE", ""},
		{"no card", "", StatusActive, map[string]any{"product_price": 1500}, 422, "NO_ELIGIBLE_PAYMENT_METHODS", ""},
		{"malformed JSON", pmVisa, StatusActive, "[", 400, "INVALID_REQUEST_BODY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: tt.pm, Status: tt.status})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != 200 {
				e.wantError(tt.want, tt.wantCode, "POST", "/subscriptions/"+id+"/charge", tt.body)
				if n := e.s.Charges(custAna); n != 0 {
					t.Errorf("charges = %d, want 0", n)
				}
				return
			}
			got := decode[wire.SubscriptionCharge](t, e.mustDo(200, "POST", "/subscriptions/"+id+"/charge", tt.body))
			p := decode[payment](t, e.mustDo(200, "GET", "/payments/"+got.PaymentID, nil))
			if p.Status != tt.wantStatus || p.TotalAmount != 1500 || deref(p.SubscriptionID) != id {
				t.Errorf("payment %+v, want %s of 1500 on %s", p, tt.wantStatus, id)
			}
			if n := e.s.Charges(custAna); n != 1 {
				t.Errorf("charges = %d, want 1", n)
			}
		})
	}
	e := newEnv(t, date(2026, 4, 16))
	e.wantError(404, "NOT_FOUND", "POST", "/subscriptions/sub_nothing/charge", map[string]any{"product_price": 1})
}

// TestAdvanceClock: moving the clock renews what is due; a failed renewal
// puts the subscription on hold. Bad bodies are refused.
func TestAdvanceClock(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	ok, _ := e.s.AddSubscription(Subscription{CustomerID: custBo, ProductID: pdtBasic, PaymentMethodID: pmBo, PeriodStart: date(2026, 4, 16)})
	poor := decode[wire.CustomerPaymentMethod](t, e.mustDo(200, "POST", "/_standin/customers/"+custAna+"/payment-methods", map[string]any{"test_card": "insufficient_funds"})).PaymentMethodID
	failing, _ := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: poor, PeriodStart: date(2026, 4, 16)})
	got := decode[clockAnswer](t, e.mustDo(200, "POST", "/_standin/clock/advance", map[string]any{"to": "2026-05-16T00:00:00Z"}))
	if got.Renewed != 1 || !got.Now.Equal(date(2026, 5, 16)) {
		t.Errorf("advance = %+v, want 1 renewed at 2026-05-16", got)
	}
	if s, _ := e.s.Subscription(ok); s.Status != StatusActive || !s.PeriodEnd.Equal(date(2026, 6, 16)) {
		t.Errorf("renewed: %s until %v", s.Status, s.PeriodEnd)
	}
	if s, _ := e.s.Subscription(failing); s.Status != StatusOnHold {
		t.Errorf("failing: %s, want on_hold", s.Status)
	}
	got2 := e.webhooks()
	slices.Sort(got2)
	if want := []string{"payment.failed", "payment.succeeded", "subscription.on_hold", "subscription.renewed"}; !slices.Equal(got2, want) {
		t.Errorf("webhooks = %v, want %v", got2, want)
	}
	if now := decode[clockAnswer](t, e.mustDo(200, "GET", "/_standin/clock", nil)).Now; !now.Equal(e.s.Now()) || !e.s.Now().Equal(date(2026, 5, 16)) {
		t.Errorf("clock = %v, Now() = %v", now, e.s.Now())
	}
	for _, body := range []any{
		map[string]any{}, map[string]any{"seconds": 1, "to": "2027-01-01T00:00:00Z"}, map[string]any{"seconds": -1},
		map[string]any{"seconds": 6 * 366 * 24 * 3600}, map[string]any{"seconds": int64(1) << 62}, map[string]any{"to": "2040-01-01T00:00:00Z"},
		map[string]any{"to": "2026-01-01T00:00:00Z"}, map[string]any{"to": "tomorrow"}, "{",
	} {
		if status, _ := e.do("POST", "/_standin/clock/advance", body); status != 422 && status != 400 {
			t.Errorf("advance %v = %d, want 422 or 400", body, status)
		}
	}
	if _, err := e.s.Advance(-time.Second); err == nil {
		t.Errorf("Advance(-1s) succeeded")
	}
}
