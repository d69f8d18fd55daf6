package standin

import (
	"slices"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// TestOneTimePayment: POST /payments charges a saved card at once, or
// waits behind a payment link until a test completes it.
func TestOneTimePayment(t *testing.T) {
	body := func(customer map[string]any, extra ...any) map[string]any {
		b := map[string]any{"product_cart": []any{item(pdtGuide, 2)}, "customer": customer, "billing": map[string]any{"country": "US", "zipcode": "94102"}}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	ana := map[string]any{"customer_id": custAna}
	tests := []struct {
		name       string
		body       any
		want       int
		wantCode   string
		wantStatus string
		wantLink   bool
		wantEvents []string
	}{
		{"saved card", body(ana, "payment_method_id", pmVisa), 200, "", PaymentSucceeded, false, []string{"payment.succeeded"}},
		{"declined card", body(ana, "payment_method_id", pmDecline), 200, "", PaymentFailed, false, []string{"payment.failed"}},
		{"payment link", body(ana, "payment_link", true, "return_url", "https://m.example"), 200, "", PaymentRequiresMethod, true, nil},
		{"new customer", body(map[string]any{"email": "dee@example.com", "name": "Dee"}), 200, "", PaymentRequiresMethod, true, nil},
		{"card without customer id", body(map[string]any{"email": "dee@example.com"}, "payment_method_id", pmVisa), 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"unknown customer", body(map[string]any{"customer_id": "cus_nobody"}), 404, "NOT_FOUND", "", false, nil},
		{"unknown product", map[string]any{"product_cart": []any{item("pdt_nothing", 1)}, "customer": ana, "billing": map[string]any{"country": "US"}}, 404, "NOT_FOUND", "", false, nil},
		{"no billing", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana}, 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"no customer", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "billing": map[string]any{"country": "US"}}, 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"quantity beyond int32", map[string]any{"product_cart": []any{item(pdtGuide, 1<<40)}, "customer": ana, "billing": map[string]any{"country": "US"}}, 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"total beyond int32", map[string]any{"product_cart": []any{item(pdtGuide, 1<<30), item(pdtGuide, 1<<30)}, "customer": ana, "billing": map[string]any{"country": "US"}}, 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"empty cart", map[string]any{"product_cart": []any{}, "customer": ana, "billing": map[string]any{"country": "US"}}, 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"unknown discount", body(ana, "discount_codes", []string{"NOPE"}), 422, "INVALID_DISCOUNT_CODE", "", false, nil},
		{"billing currency", body(ana, "billing_currency", "EUR"), 422, "INVALID_REQUEST_BODY", "", false, nil},
		{"not recurring-enabled", body(ana, "payment_method_id", pmOneOff), 422, "NO_ELIGIBLE_PAYMENT_METHODS", "", false, nil},
		{"malformed JSON", `{"product_cart":[`, 400, "INVALID_REQUEST_BODY", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			if tt.want != 200 {
				e.wantError(tt.want, tt.wantCode, "POST", "/payments", tt.body)
				if got := e.webhooks(); len(got) != 0 {
					t.Errorf("webhooks = %v, want none", got)
				}
				return
			}
			got := decode[wire.OneTimePayment](t, e.mustDo(200, "POST", "/payments", tt.body))
			if got.TotalAmount != 3800 || (got.PaymentLink != nil) != tt.wantLink || got.ClientSecret == "" {
				t.Errorf("answer %+v, want 3800, a client secret, payment link %v", got, tt.wantLink)
			}
			p := decode[payment](t, e.mustDo(200, "GET", "/payments/"+got.PaymentID, nil))
			if p.Status != tt.wantStatus || p.Customer.CustomerID != got.Customer.CustomerID {
				t.Errorf("payment %s of %s, want %s of %s", p.Status, p.Customer.CustomerID, tt.wantStatus, got.Customer.CustomerID)
			}
			if got := e.webhooks(); !slices.Equal(got, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", got, tt.wantEvents)
			}
		})
	}
}

// TestCompletePayment: POST /_standin/payments/{id}/complete pays a
// payment link with a card, and settles a 3-D Secure payment either way.
func TestCompletePayment(t *testing.T) {
	tests := []struct {
		name       string
		threeDS    bool // a one-click charge on the 3-D Secure card, else a payment link
		body       any
		want       int
		wantStatus string
		wantEvent  string
		wantCode   string
	}{
		{"link paid with a new card", false, map[string]any{"card": map[string]any{"test_card": "success"}}, 200, PaymentSucceeded, "payment.succeeded", ""},
		{"link paid with the default card", false, map[string]any{}, 200, PaymentSucceeded, "payment.succeeded", ""},
		{"link paid with a saved card", false, map[string]any{"payment_method_id": pmVisa}, 200, PaymentSucceeded, "payment.succeeded", ""},
		{"link paid with a declined card", false, map[string]any{"card": map[string]any{"test_card": "decline"}}, 200, PaymentFailed, "payment.failed", "CARD_DECLINED"},
		{"link with card and id", false, map[string]any{"payment_method_id": pmVisa, "card": map[string]any{}}, 422, "", "", ""},
		{"link with a bad card", false, map[string]any{"card": map[string]any{"card_number": "12"}}, 422, "", "", ""},
		{"3ds passed", true, map[string]any{}, 200, PaymentSucceeded, "payment.succeeded", ""},
		{"3ds failed", true, map[string]any{"authenticated": false}, 200, PaymentFailed, "payment.failed", "AUTHENTICATION_FAILED"},
		{"malformed JSON", true, "{", 400, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			var id string
			if tt.threeDS {
				pm := decode[wire.CustomerPaymentMethod](t, e.mustDo(200, "POST", "/_standin/customers/"+custAna+"/payment-methods", map[string]any{"test_card": "3ds"})).PaymentMethodID
				id = deref(decode[session](t, e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pm, item(pdtGuide, 1)))).PaymentID)
			} else {
				id = decode[wire.OneTimePayment](t, e.mustDo(200, "POST", "/payments", map[string]any{
					"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custAna}, "billing": map[string]any{"country": "US"},
				})).PaymentID
			}
			e.webhooks()
			status, body := e.do("POST", "/_standin/payments/"+id+"/complete", tt.body)
			if status != tt.want {
				t.Fatalf("complete = %d %s, want %d", status, body, tt.want)
			}
			if status != 200 {
				return
			}
			p := decode[payment](t, body)
			if p.Status != tt.wantStatus || deref(p.ErrorCode) != tt.wantCode {
				t.Errorf("payment %s %q, want %s %q", p.Status, deref(p.ErrorCode), tt.wantStatus, tt.wantCode)
			}
			if got := e.webhooks(); !slices.Equal(got, []string{tt.wantEvent}) {
				t.Errorf("webhooks = %v, want [%s]", got, tt.wantEvent)
			}
			if n := e.s.Charges(custAna); n != 1 {
				t.Errorf("charges = %d, want 1", n)
			}
			e.wantError(409, "PAYMENT_NOT_PENDING", "POST", "/_standin/payments/"+id+"/complete", map[string]any{})
		})
	}
	e := newEnv(t, date(2026, 4, 16))
	e.wantError(404, "NOT_FOUND", "POST", "/_standin/payments/pay_nothing/complete", map[string]any{})
}

// TestThreeDSSubscription: a one-click subscription on the 3-D Secure
// card starts once the customer authenticates, not before.
func TestThreeDSSubscription(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	pm := decode[wire.CustomerPaymentMethod](t, e.mustDo(200, "POST", "/_standin/customers/"+custBo+"/payment-methods", map[string]any{"test_card": "3ds"})).PaymentMethodID
	id := deref(decode[session](t, e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pm, item(pdtBasic, 1)))).PaymentID)
	if got := e.webhooks(); !slices.Equal(got, []string{"payment.processing"}) {
		t.Errorf("webhooks = %v, want [payment.processing]", got)
	}
	if subs := decode[wire.List[wire.SubscriptionListItem]](t, e.mustDo(200, "GET", "/subscriptions?customer_id="+custBo, nil)).Items; len(subs) != 0 {
		t.Errorf("subscriptions before authentication = %d, want 0", len(subs))
	}
	p := decode[payment](t, e.mustDo(200, "POST", "/_standin/payments/"+id+"/complete", map[string]any{"authenticated": true}))
	if p.Status != PaymentSucceeded || p.SubscriptionID == nil {
		t.Errorf("payment %s on subscription %v, want succeeded on a new one", p.Status, p.SubscriptionID)
	}
	if got := e.webhooks(); !slices.Equal(got, []string{"payment.succeeded", "subscription.active"}) {
		t.Errorf("webhooks = %v, want [payment.succeeded subscription.active]", got)
	}
}

// TestCompleteCheckout: a fallback checkout completed by a test pays as
// Dodo's hosted page would, with the discount and the trial of the
// session.
func TestCompleteCheckout(t *testing.T) {
	ana := map[string]any{"customer_id": custAna}
	tests := []struct {
		name        string
		session     map[string]any
		pay         any
		want        int
		wantCode    string
		wantAmount  int64 // 0: no payment
		wantEvents  []string
		wantTrial   int
		wantNextDay int // day of May 2026 (or April) the subscription next bills, 0 for none
	}{
		{"one-time", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana}, map[string]any{"payment_method_id": pmVisa}, 200, "", 1900, []string{"payment.succeeded"}, 0, 0},
		{"new customer, new card", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"email": "eve@example.com", "name": "Eve"}}, map[string]any{"card": map[string]any{"test_card": "success"}}, 200, "", 1900, []string{"payment.succeeded"}, 0, 0},
		{"declined", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana}, map[string]any{"payment_method_id": pmDecline}, 200, "", 1900, []string{"payment.failed"}, 0, 0},
		{"subscription", map[string]any{"product_cart": []any{item(pdtBasic, 1)}, "customer": ana}, map[string]any{}, 200, "", 3000, []string{"payment.succeeded", "subscription.active"}, 0, 16},
		{"subscription with a trial", map[string]any{"product_cart": []any{item(pdtBasic, 1)}, "customer": ana, "subscription_data": map[string]any{"trial_period_days": 14}}, map[string]any{}, 200, "", 0, []string{"subscription.active"}, 14, 30},
		{"percentage discount", map[string]any{"product_cart": []any{item(pdtGuide, 2)}, "customer": ana, "discount_codes": []string{"TENOFF"}}, map[string]any{}, 200, "", 3420, []string{"payment.succeeded"}, 0, 0},
		{"flat discount", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana, "discount_code": "FIVE"}, map[string]any{}, 200, "", 1400, []string{"payment.succeeded"}, 0, 0},
		{"no customer", map[string]any{"product_cart": []any{item(pdtGuide, 1)}}, map[string]any{}, 422, "INVALID_REQUEST_BODY", 0, nil, 0, 0},
		{"card of nobody's", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana}, map[string]any{"payment_method_id": "pm_nothing"}, 422, "INVALID_REQUEST_BODY", 0, nil, 0, 0},
		{"unknown field", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": ana}, map[string]any{"cvc": "1"}, 422, "INVALID_REQUEST_BODY", 0, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			e.mustDo(200, "POST", "/_standin/discounts", map[string]any{"code": "TENOFF", "type": "percentage", "amount": 1000})
			e.mustDo(200, "POST", "/_standin/discounts", map[string]any{"code": "FIVE", "type": "flat", "amount": 500})
			cs := decode[session](t, e.mustDo(200, "POST", "/checkouts", tt.session))
			path := "/_standin/checkouts/" + cs.SessionID + "/complete"
			if tt.want != 200 {
				e.wantError(tt.want, tt.wantCode, "POST", path, tt.pay)
				return
			}
			st := decode[wire.CheckoutSessionStatus](t, e.mustDo(200, "POST", path, tt.pay))
			if (st.PaymentID != nil) != (tt.wantAmount > 0) {
				t.Fatalf("status %+v, want a payment: %v", st, tt.wantAmount > 0)
			}
			if st.PaymentID != nil {
				p := decode[wire.Payment](t, e.mustDo(200, "GET", "/payments/"+*st.PaymentID, nil))
				if p.TotalAmount != tt.wantAmount || deref(p.CheckoutSessionID) != cs.SessionID {
					t.Errorf("payment %d of session %s, want %d of %s", p.TotalAmount, deref(p.CheckoutSessionID), tt.wantAmount, cs.SessionID)
				}
				if _, ok := tt.session["discount_codes"]; ok && (len(p.Discounts) != 1 || p.DiscountID == nil) {
					t.Errorf("payment discounts %+v, want the one applied", p.Discounts)
				}
			}
			if got := e.webhooks(); !slices.Equal(got, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", got, tt.wantEvents)
			}
			if tt.wantNextDay > 0 {
				subs := decode[wire.List[wire.SubscriptionListItem]](t, e.mustDo(200, "GET", "/subscriptions?customer_id="+custAna, nil)).Items
				if len(subs) != 1 {
					t.Fatalf("subscriptions = %d, want 1", len(subs))
				}
				next := date(2026, 5, tt.wantNextDay)
				if tt.wantTrial > 0 {
					next = date(2026, 4, tt.wantNextDay)
				}
				if s := subs[0]; s.TrialPeriodDays != tt.wantTrial || !s.NextBillingDate.Equal(next) {
					t.Errorf("subscription trial %d next %v, want %d %v", s.TrialPeriodDays, s.NextBillingDate, tt.wantTrial, next)
				}
			}
			e.wantError(409, "CHECKOUT_SESSION_CONSUMED", "POST", path, tt.pay)
		})
	}
	e := newEnv(t, date(2026, 4, 16))
	e.wantError(404, "NOT_FOUND", "POST", "/_standin/checkouts/cks_nothing/complete", map[string]any{})
	e.wantError(422, "INVALID_DISCOUNT_CODE", "POST", "/checkouts", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "discount_codes": []string{"NOPE"}})
	e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/checkouts", map[string]any{"product_cart": []any{item(pdtBasic, 1)}, "subscription_data": map[string]any{"trial_period_days": -1}})
	one := oneClick(custAna, pmVisa, item(pdtGuide, 1))
	one["discount_codes"] = []string{"A", "B"}
	e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/checkouts", one)
}

// TestDiscountsRoute: POST /_standin/discounts adds codes and refuses bad
// and duplicate ones.
func TestDiscountsRoute(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	got := decode[wire.Discount](t, e.mustDo(200, "POST", "/_standin/discounts", map[string]any{"code": "SPRING", "amount": 2500, "name": "Spring"}))
	if got.Code != "SPRING" || got.Type != "percentage" || got.Amount != 2500 || deref(got.Name) != "Spring" {
		t.Errorf("discount %+v", got)
	}
	e.wantError(409, "DISCOUNT_CODE_EXISTS", "POST", "/_standin/discounts", map[string]any{"code": "SPRING", "amount": 10})
	for _, body := range []any{
		map[string]any{"code": "", "amount": 10}, map[string]any{"code": "X", "amount": 0}, map[string]any{"code": "X", "amount": 10001},
		map[string]any{"code": "X", "type": "bogo", "amount": 1}, map[string]any{"code": " X", "amount": 1},
	} {
		e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/_standin/discounts", body)
	}
}
