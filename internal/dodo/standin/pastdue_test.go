package standin

import (
	"slices"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// TestRenewalPastDue: with a grace period a failed renewal puts the
// subscription past_due (payment.failed, subscription.past_due, the
// deadline in past_due_ends_at); the grace period ending puts it on_hold;
// without one it goes on_hold at once, as before.
func TestRenewalPastDue(t *testing.T) {
	const grace = 3 * 24 * time.Hour
	tests := []struct {
		name       string
		grace      time.Duration
		pm         string
		wantStatus string
		want       []string
	}{
		{"declined, grace", grace, pmDecline, StatusPastDue, []string{"payment.failed", "subscription.past_due"}},
		{"no card, grace", grace, "", StatusPastDue, []string{"subscription.past_due"}},
		{"declined, no grace", 0, pmDecline, StatusOnHold, []string{"payment.failed", "subscription.on_hold"}},
		{"paid, grace", grace, pmVisa, StatusActive, []string{"payment.succeeded", "subscription.renewed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16), func(c *Config) { c.PastDueGrace = tt.grace })
			id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: tt.pm, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Set(date(2026, 5, 1))
			e.s.RenewDue()
			if got := e.webhooks(); !slices.Equal(got, tt.want) {
				t.Errorf("webhooks: got %v, want %v", got, tt.want)
			}
			sub := decode[wire.Subscription](t, e.mustDo(200, "GET", "/subscriptions/"+id, nil))
			if sub.Status != tt.wantStatus {
				t.Fatalf("status: got %s, want %s", sub.Status, tt.wantStatus)
			}
			if got, want := sub.HasPaymentMethod != nil && *sub.HasPaymentMethod, tt.pm != ""; got != want {
				t.Errorf("has_payment_method: got %v, want %v", got, want)
			}
			if tt.wantStatus != StatusPastDue {
				if sub.PastDueEndsAt != nil {
					t.Errorf("past_due_ends_at: got %v, want none", sub.PastDueEndsAt)
				}
				return
			}
			if want := date(2026, 5, 1).Add(grace); sub.PastDueEndsAt == nil || !sub.PastDueEndsAt.Equal(want) {
				t.Fatalf("past_due_ends_at: got %v, want %v", sub.PastDueEndsAt, want)
			}
			listed := decode[wire.List[wire.SubscriptionListItem]](t, e.mustDo(200, "GET", "/subscriptions?status=past_due", nil))
			if len(listed.Items) != 1 || listed.Items[0].SubscriptionID != id {
				t.Errorf("GET /subscriptions?status=past_due: got %+v, want %s", listed.Items, id)
			}
			// Past due is not renewed again; the grace period ending puts
			// it on hold.
			e.clock.Set(date(2026, 5, 1).Add(grace - time.Second))
			if e.s.RenewDue(); len(e.webhooks()) != 0 {
				t.Error("within the grace period: webhooks sent, want none")
			}
			e.clock.Set(date(2026, 5, 1).Add(grace))
			e.s.RenewDue()
			if got := e.webhooks(); !slices.Equal(got, []string{"subscription.on_hold"}) {
				t.Errorf("grace period over: got %v, want [subscription.on_hold]", got)
			}
			if s, _ := e.s.Subscription(id); s.Status != StatusOnHold {
				t.Errorf("status: got %s, want on_hold", s.Status)
			}
		})
	}
}

// TestPastDueControls drives the control routes: past_due directly, a
// failed retry that leaves it, and a retry on a new card that recovers it
// and starts the next period.
func TestPastDueControls(t *testing.T) {
	e := newEnv(t, date(2026, 5, 1))
	id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmDecline, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	path := "/_standin/subscriptions/" + id
	e.wantError(409, "SUBSCRIPTION_NOT_PAST_DUE", "POST", path+"/recover", map[string]any{})
	e.wantError(422, "INVALID_REQUEST_BODY", "POST", path+"/past_due", map[string]any{"grace_seconds": 0})
	e.wantError(404, "NOT_FOUND", "POST", "/_standin/subscriptions/sub_nothing/past_due", map[string]any{})
	sub := decode[wire.Subscription](t, e.mustDo(200, "POST", path+"/past_due", map[string]any{"grace_seconds": 86400}))
	if sub.Status != StatusPastDue || sub.PastDueEndsAt == nil || !sub.PastDueEndsAt.Equal(date(2026, 5, 2)) {
		t.Fatalf("past_due: got %s until %v, want past_due until 2026-05-02", sub.Status, sub.PastDueEndsAt)
	}
	if got := e.webhooks(); !slices.Equal(got, []string{"subscription.past_due"}) {
		t.Errorf("past_due: webhooks %v, want [subscription.past_due]", got)
	}
	e.wantError(409, "SUBSCRIPTION_NOT_ACTIVE", "POST", path+"/past_due", map[string]any{})

	// A retry on the declined card fails and changes nothing else.
	p := decode[wire.Payment](t, e.mustDo(200, "POST", path+"/recover", map[string]any{}))
	if p.Status == nil || *p.Status != PaymentFailed || p.RetryAttempt != 1 || !p.ChargesSubscription(id) {
		t.Errorf("failed retry: got %+v, want failed, retry_attempt 1, of %s", p, id)
	}
	if got := e.webhooks(); !slices.Equal(got, []string{"payment.failed"}) {
		t.Errorf("failed retry: webhooks %v, want [payment.failed]", got)
	}
	if s, _ := e.s.Subscription(id); s.Status != StatusPastDue {
		t.Errorf("after a failed retry: %s, want past_due", s.Status)
	}
	// The customer pays with a good card: active, next period.
	p = decode[wire.Payment](t, e.mustDo(200, "POST", path+"/recover", map[string]any{"payment_method_id": pmVisa}))
	if p.Status == nil || *p.Status != PaymentSucceeded || p.RetryAttempt != 2 || p.TotalAmount != 3000 {
		t.Errorf("retry: got %+v, want succeeded, retry_attempt 2, 3000", p)
	}
	if got, want := e.webhooks(), []string{"payment.succeeded", "subscription.active", "subscription.renewed"}; !slices.Equal(got, want) {
		t.Errorf("retry: webhooks %v, want %v", got, want)
	}
	s, _ := e.s.Subscription(id)
	if s.Status != StatusActive || !s.PeriodStart.Equal(date(2026, 5, 1)) || !s.PeriodEnd.Equal(date(2026, 6, 1)) || s.PaymentMethodID != pmVisa {
		t.Errorf("recovered: %s %s..%s on %s, want active 2026-05-01..2026-06-01 on %s", s.Status, s.PeriodStart, s.PeriodEnd, s.PaymentMethodID, pmVisa)
	}
	if got := decode[wire.Subscription](t, e.mustDo(200, "GET", "/subscriptions/"+id, nil)); got.PastDueEndsAt != nil {
		t.Errorf("recovered: past_due_ends_at %v, want none", got.PastDueEndsAt)
	}
	e.wantError(409, "SUBSCRIPTION_NOT_PAST_DUE", "POST", path+"/recover", map[string]any{})
}

// TestChangePlanAnswersPayment: change-plan answers the body Dodo answers
// since v1.113.0: the payment of the charge, or nulls without one.
func TestChangePlanAnswersPayment(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	change := func(product, mode string) map[string]any {
		return map[string]any{"product_id": product, "quantity": 1, "proration_billing_mode": mode}
	}
	up := decode[wire.ChangePlanResult](t, e.mustDo(200, "POST", "/subscriptions/"+id+"/change-plan", change(pdtPro, ProratedImmediately)))
	pays := e.s.Payments()
	if len(pays) != 1 || up.PaymentID == nil || *up.PaymentID != pays[0].ID {
		t.Fatalf("upgrade: answered %+v, want the payment %v", up, pays)
	}
	if up.PaymentLink != nil || up.ClientSecret != nil || up.ExpiresOn != nil {
		t.Errorf("upgrade: answered %+v, want no payment link", up)
	}
	free := decode[wire.ChangePlanResult](t, e.mustDo(200, "POST", "/subscriptions/"+id+"/change-plan", change(pdtBasic, DoNotBill)))
	if free != (wire.ChangePlanResult{}) {
		t.Errorf("do_not_bill: answered %+v, want all null", free)
	}
}
