package standin

import (
	"net/http"
	"slices"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

func changeBody(product string, mode string, extra ...any) map[string]any {
	b := map[string]any{"product_id": product, "quantity": 1, "proration_billing_mode": mode}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

// TestChangePlanPaymentFails: the immediate charge of an upgrade is
// declined, with each on_payment_failure.
func TestChangePlanPaymentFails(t *testing.T) {
	tests := []struct {
		name         string
		defaultMode  string // Config.OnPaymentFailure
		body         map[string]any
		wantProduct  string
		wantStatus   string
		wantPending  bool
		wantEvents   []string
		wantNextCode string // a second change-plan's answer
	}{
		{"prevent_change keeps the plan and leaves the change pending", "",
			changeBody(pdtPro, DifferenceImmediately, "on_payment_failure", PreventChange),
			pdtBasic, StatusActive, true, []string{"payment.failed"}, "PENDING_PLAN_CHANGE_EXISTS"},
		{"the business default is prevent_change", "",
			changeBody(pdtPro, DifferenceImmediately),
			pdtBasic, StatusActive, true, []string{"payment.failed"}, "PENDING_PLAN_CHANGE_EXISTS"},
		{"apply_change switches and puts the subscription on hold", "",
			changeBody(pdtPro, ProratedImmediately, "on_payment_failure", ApplyChange),
			pdtPro, StatusOnHold, false, []string{"payment.failed", "subscription.plan_changed", "subscription.on_hold"}, "INACTIVE_SUBSCRIPTION_PLAN_CHANGE_NOT_SUPPORTED"},
		{"a business default of apply_change", ApplyChange,
			changeBody(pdtPro, FullImmediately),
			pdtPro, StatusOnHold, false, []string{"payment.failed", "subscription.plan_changed", "subscription.on_hold"}, "INACTIVE_SUBSCRIPTION_PLAN_CHANGE_NOT_SUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16), func(c *Config) { c.OnPaymentFailure = tt.defaultMode })
			sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmDecline, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
			if err != nil {
				t.Fatal(err)
			}
			e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", tt.body)
			pays := e.s.Payments()
			if len(pays) != 1 || pays[0].Status != PaymentFailed || pays[0].SubscriptionID != sub || pays[0].ErrorCode != "CARD_DECLINED" {
				t.Errorf("payments = %+v, want one failed CARD_DECLINED for %s", pays, sub)
			}
			got, _ := e.s.Subscription(sub)
			if got.ProductID != tt.wantProduct || got.Status != tt.wantStatus || (got.PendingChange != nil) != tt.wantPending {
				t.Errorf("subscription = %s %s pending %+v, want %s %s pending %v", got.ProductID, got.Status, got.PendingChange, tt.wantProduct, tt.wantStatus, tt.wantPending)
			}
			if w := e.webhooks(); !slices.Equal(w, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", w, tt.wantEvents)
			}
			wantStatus := http.StatusConflict
			if tt.wantNextCode != "PENDING_PLAN_CHANGE_EXISTS" {
				wantStatus = http.StatusUnprocessableEntity
			}
			e.wantError(wantStatus, tt.wantNextCode, "POST", "/subscriptions/"+sub+"/change-plan", changeBody(pdtStart, DoNotBill))
			if e.s.Charges(custAna) != 1 {
				t.Errorf("Charges = %d, want 1", e.s.Charges(custAna))
			}
			if tt.wantPending {
				// A preview is still allowed; once the pending change is
				// resolved, changes are too.
				e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan/preview", changeBody(pdtStart, DoNotBill))
				if err := e.s.ResolvePendingChange(sub); err != nil {
					t.Fatal(err)
				}
				e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", changeBody(pdtStart, DoNotBill))
				if got, _ := e.s.Subscription(sub); got.ProductID != pdtStart {
					t.Errorf("after resolving: product %s, want %s", got.ProductID, pdtStart)
				}
			}
		})
	}
}

// TestChangePlanRefused: what change-plan refuses, and that a refusal
// changes and charges nothing.
func TestChangePlanRefused(t *testing.T) {
	tests := []struct {
		name       string
		sub        Subscription
		path       string // after /subscriptions/{id}
		body       any
		wantStatus int
		wantCode   string
	}{
		{"unknown subscription", Subscription{}, "", changeBody(pdtPro, DoNotBill), 404, "NOT_FOUND"},
		{"unknown product", Subscription{}, "/change-plan", changeBody("pdt_nothing", DoNotBill), 404, "NOT_FOUND"},
		{"one-time product", Subscription{}, "/change-plan", changeBody(pdtGuide, DoNotBill), 422, "INVALID_REQUEST_BODY"},
		{"another currency", Subscription{}, "/change-plan", changeBody(pdtProEUR, DoNotBill), 422, "INVALID_REQUEST_BODY"},
		{"quantity 0", Subscription{}, "/change-plan", map[string]any{"product_id": pdtPro, "quantity": 0, "proration_billing_mode": DoNotBill}, 422, "INVALID_REQUEST_BODY"},
		{"no quantity", Subscription{}, "/change-plan", map[string]any{"product_id": pdtPro, "proration_billing_mode": DoNotBill}, 422, "INVALID_REQUEST_BODY"},
		{"unknown mode", Subscription{}, "/change-plan", changeBody(pdtPro, "prorated_later"), 422, "INVALID_REQUEST_BODY"},
		{"unknown effective_at", Subscription{}, "/change-plan", changeBody(pdtPro, FullImmediately, "effective_at", "tomorrow"), 422, "INVALID_REQUEST_BODY"},
		{"unknown on_payment_failure", Subscription{}, "/change-plan", changeBody(pdtPro, FullImmediately, "on_payment_failure", "retry"), 422, "INVALID_REQUEST_BODY"},
		{"addons", Subscription{}, "/change-plan", changeBody(pdtPro, DoNotBill, "addons", []any{map[string]any{"addon_id": "adn_1", "quantity": 1}}), 422, "INVALID_REQUEST_BODY"},
		{"discount code", Subscription{}, "/change-plan", changeBody(pdtPro, DoNotBill, "discount_codes", []string{"SAVE10"}), 422, "INVALID_REQUEST_BODY"},
		{"field the spec lacks", Subscription{}, "/change-plan", changeBody(pdtPro, DoNotBill, "proration_mode", DoNotBill), 422, "INVALID_REQUEST_BODY"},
		{"not JSON", Subscription{}, "/change-plan", "product_id=pdt_pro", 400, "INVALID_REQUEST_BODY"},
		{"paused subscription", Subscription{Status: StatusPaused}, "/change-plan", changeBody(pdtPro, DoNotBill), 422, "INACTIVE_SUBSCRIPTION_PLAN_CHANGE_NOT_SUPPORTED"},
		{"on-hold subscription, preview", Subscription{Status: StatusOnHold}, "/change-plan/preview", changeBody(pdtPro, DoNotBill), 422, "INACTIVE_SUBSCRIPTION_PLAN_CHANGE_NOT_SUPPORTED"},
		{"cancelled at the next billing date", Subscription{CancelAtNextBillingDate: true}, "/change-plan", changeBody(pdtPro, DoNotBill), 422, "PLAN_CHANGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION"},
		{"no card to charge", Subscription{PaymentMethodID: "-"}, "/change-plan", changeBody(pdtPro, DifferenceImmediately), 422, "NO_ELIGIBLE_PAYMENT_METHODS"},
		{"scheduled change exists", Subscription{ScheduledChange: &PlanChange{ID: "spc_1", ProductID: pdtStart, Quantity: 1, EffectiveAt: date(2026, 5, 1), CreatedAt: date(2026, 4, 10)}},
			"/change-plan", changeBody(pdtPro, DoNotBill), 409, "SCHEDULED_PLAN_CHANGE_EXISTS"},
		{"pending change exists", Subscription{PendingChange: &PlanChange{ID: "spc_1", ProductID: pdtPro, Quantity: 1, EffectiveAt: date(2026, 4, 10), CreatedAt: date(2026, 4, 10)}},
			"/change-plan", changeBody(pdtStart, DoNotBill), 409, "PENDING_PLAN_CHANGE_EXISTS"},
		{"no API key", Subscription{}, "/change-plan", changeBody(pdtPro, DoNotBill), 401, "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			s := tt.sub
			s.CustomerID, s.ProductID, s.PeriodStart, s.PeriodEnd = custAna, pdtBasic, date(2026, 4, 1), date(2026, 5, 1)
			switch s.PaymentMethodID {
			case "":
				s.PaymentMethodID = pmVisa
			case "-":
				s.PaymentMethodID = ""
			}
			sub, err := e.s.AddSubscription(s)
			if err != nil {
				t.Fatal(err)
			}
			path := "/subscriptions/" + sub + tt.path
			if tt.path == "" {
				path = "/subscriptions/sub_nothing/change-plan"
			}
			key := testAPIKey
			if tt.wantStatus == 401 {
				key = ""
			}
			status, body := e.doKey(key, "POST", path, tt.body)
			ae := decode[apiError](t, body)
			if status != tt.wantStatus || ae.Code != tt.wantCode {
				t.Errorf("POST %s = %d %s, want %d %s", path, status, body, tt.wantStatus, tt.wantCode)
			}
			if got, _ := e.s.Subscription(sub); got.ProductID != pdtBasic || e.s.Charges(custAna) != 0 {
				t.Errorf("after the refusal: product %s, %d charges; want %s, 0", got.ProductID, e.s.Charges(custAna), pdtBasic)
			}
			if w := e.webhooks(); len(w) != 0 {
				t.Errorf("webhooks = %v, want none", w)
			}
		})
	}
}

// TestScheduledChange: a change at next_billing_date can be seen, cancelled,
// and otherwise takes effect at the renewal.
func TestScheduledChange(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sched := changeBody(pdtStart, FullImmediately, "effective_at", "next_billing_date")
	e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", sched)
	got := decode[wire.Subscription](t, e.mustDo(200, "GET", "/subscriptions/"+sub, nil))
	if sc := got.ScheduledChange; got.ProductID != pdtPro || sc == nil || sc.ProductID != pdtStart || !sc.EffectiveAt.Equal(date(2026, 5, 1)) || deref(sc.ProductName) != "Starter" {
		t.Errorf("subscription = %s scheduled %+v, want %s with %s scheduled for 2026-05-01", got.ProductID, sc, pdtPro, pdtStart)
	}
	e.mustDo(204, "DELETE", "/subscriptions/"+sub+"/change-plan/scheduled", nil)
	e.wantError(404, "NOT_FOUND", "DELETE", "/subscriptions/"+sub+"/change-plan/scheduled", nil)
	e.wantError(422, "INVALID_REQUEST_BODY", "DELETE", "/subscriptions/sub_nothing/change-plan/scheduled", nil)
	if w := e.webhooks(); !slices.Equal(w, []string{"subscription.updated", "subscription.updated"}) {
		t.Errorf("webhooks = %v, want two subscription.updated", w)
	}

	e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", sched)
	e.clock.Set(date(2026, 5, 1))
	if n := e.s.RenewDue(); n != 1 {
		t.Errorf("RenewDue() = %d, want 1", n)
	}
	s, _ := e.s.Subscription(sub)
	if s.ProductID != pdtStart || s.ScheduledChange != nil || !s.PeriodEnd.Equal(date(2026, 6, 1)) {
		t.Errorf("after renewal: %s scheduled %+v ends %s, want %s, none, 2026-06-01", s.ProductID, s.ScheduledChange, s.PeriodEnd, pdtStart)
	}
	if pays := e.s.Payments(); len(pays) != 1 || pays[0].TotalAmount != 2000 {
		t.Errorf("payments = %+v, want the renewal at the new price, 2000", pays)
	}
	if w := e.webhooks(); !slices.Equal(w, []string{"subscription.updated", "payment.succeeded", "subscription.plan_changed", "subscription.renewed"}) {
		t.Errorf("webhooks = %v", w)
	}
}

// TestRenewDue: renewals catch up period by period, go on hold when the
// card fails, and end subscriptions cancelled at their next billing date.
func TestRenewDue(t *testing.T) {
	tests := []struct {
		name        string
		sub         Subscription
		now         int // day of June 2026
		wantRenewed int
		wantStatus  string
		wantEvents  []string
	}{
		{"not yet due", Subscription{}, 0, 0, StatusActive, nil},
		{"two periods behind", Subscription{}, 2, 2, StatusActive,
			[]string{"payment.succeeded", "subscription.renewed", "payment.succeeded", "subscription.renewed"}},
		{"declined card", Subscription{PaymentMethodID: pmDecline}, 2, 0, StatusOnHold, []string{"payment.failed", "subscription.on_hold"}},
		{"no card", Subscription{PaymentMethodID: "-"}, 2, 0, StatusOnHold, []string{"subscription.on_hold"}},
		{"cancel at next billing date", Subscription{CancelAtNextBillingDate: true}, 2, 0, StatusCancelled, []string{"subscription.cancelled"}},
		{"paused is not billed", Subscription{Status: StatusPaused}, 2, 0, StatusPaused, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			s := tt.sub
			s.CustomerID, s.ProductID, s.PeriodStart, s.PeriodEnd = custAna, pdtBasic, date(2026, 4, 1), date(2026, 5, 1)
			switch s.PaymentMethodID {
			case "":
				s.PaymentMethodID = pmVisa
			case "-":
				s.PaymentMethodID = ""
			}
			id, err := e.s.AddSubscription(s)
			if err != nil {
				t.Fatal(err)
			}
			now := date(2026, 4, 30)
			if tt.now > 0 {
				now = date(2026, 6, tt.now)
			}
			e.clock.Set(now)
			if n := e.s.RenewDue(); n != tt.wantRenewed {
				t.Errorf("RenewDue() = %d, want %d", n, tt.wantRenewed)
			}
			if got, _ := e.s.Subscription(id); got.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s", got.Status, tt.wantStatus)
			}
			if w := e.webhooks(); !slices.Equal(w, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", w, tt.wantEvents)
			}
			if tt.wantRenewed == 2 {
				got, _ := e.s.Subscription(id)
				if !got.PeriodStart.Equal(date(2026, 6, 1)) || !got.PeriodEnd.Equal(date(2026, 7, 1)) {
					t.Errorf("period = %s..%s, want 2026-06-01..2026-07-01", got.PeriodStart, got.PeriodEnd)
				}
				for _, p := range e.s.Payments() {
					if p.SubscriptionID != id || p.TotalAmount != 3000 || p.ProductCart != nil {
						t.Errorf("renewal payment = %+v, want 3000 for %s without a product_cart", p, id)
					}
				}
			}
		})
	}
}
