package standin

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

type session struct {
	SessionID   string  `json:"session_id"`
	CheckoutURL *string `json:"checkout_url"`
	PaymentID   *string `json:"payment_id"`
}

type payment struct {
	PaymentID         string                 `json:"payment_id"`
	Status            string                 `json:"status"`
	TotalAmount       int64                  `json:"total_amount"`
	Currency          string                 `json:"currency"`
	SubscriptionID    *string                `json:"subscription_id"`
	CheckoutSessionID *string                `json:"checkout_session_id"`
	PaymentMethodID   *string                `json:"payment_method_id"`
	CardLastFour      *string                `json:"card_last_four"`
	ErrorCode         *string                `json:"error_code"`
	ErrorMessage      *string                `json:"error_message"`
	Metadata          map[string]any         `json:"metadata"`
	ProductCart       []wire.ProductCartItem `json:"product_cart"`
	Customer          struct {
		CustomerID string `json:"customer_id"`
	} `json:"customer"`
}

// TestOneClick charges saved cards through POST /checkouts with
// payment_method_id and confirm, and checks the payment, the webhooks and
// the charge count.
func TestOneClick(t *testing.T) {
	wantMeta := map[string]any{"offerflow_idempotency_key": "offer_1:attempt_1", "offer_id": "offer_1", "upsell": true}
	tests := []struct {
		name       string
		customer   string
		pm         string
		cart       []map[string]any
		wantStatus string
		wantAmount int64
		wantCur    string
		wantLast4  string
		wantError  string // error_code
		wantSub    bool   // a subscription was created
		wantEvents []string
	}{
		{"4242 succeeds", custAna, pmVisa, []map[string]any{item(pdtGuide, 2)}, PaymentSucceeded, 3800, "USD", "4242", "", false, []string{"payment.succeeded"}},
		{"0002 is declined", custAna, pmDecline, []map[string]any{item(pdtGuide, 1)}, PaymentFailed, 1900, "USD", "0002", "CARD_DECLINED", false, []string{"payment.failed"}},
		{"expired card fails", custAna, pmExpired, []map[string]any{item(pdtGuide, 1)}, PaymentFailed, 1900, "USD", "4242", "EXPIRED_CARD", false, []string{"payment.failed"}},
		{"euro product", custBo, pmBo, []map[string]any{item(pdtEbook, 1)}, PaymentSucceeded, 1200, "EUR", "4242", "", false, []string{"payment.succeeded"}},
		{"two one-time products", custAna, pmVisa, []map[string]any{item(pdtGuide, 1), item(pdtGuide, 3)}, PaymentSucceeded, 7600, "USD", "4242", "", false, []string{"payment.succeeded"}},
		{"subscription product", custAna, pmVisa, []map[string]any{item(pdtPro, 1)}, PaymentSucceeded, 8000, "USD", "4242", "", true, []string{"payment.succeeded", "subscription.active"}},
		{"subscription product declined", custAna, pmDecline, []map[string]any{item(pdtPro, 1)}, PaymentFailed, 8000, "USD", "0002", "CARD_DECLINED", false, []string{"payment.failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			cs := decode[session](t, e.mustDo(200, "POST", "/checkouts", oneClick(tt.customer, tt.pm, tt.cart...)))
			if cs.CheckoutURL != nil || cs.PaymentID == nil || !strings.HasPrefix(cs.SessionID, "cks_") {
				t.Fatalf("session = %+v, want cks_ id, payment_id and checkout_url null", cs)
			}
			p := decode[payment](t, e.mustDo(200, "GET", "/payments/"+*cs.PaymentID, nil))
			if p.Status != tt.wantStatus || p.TotalAmount != tt.wantAmount || p.Currency != tt.wantCur || deref(p.CardLastFour) != tt.wantLast4 || deref(p.ErrorCode) != tt.wantError {
				t.Errorf("payment = %s %d %s card %s error %q, want %s %d %s card %s error %q",
					p.Status, p.TotalAmount, p.Currency, deref(p.CardLastFour), deref(p.ErrorCode), tt.wantStatus, tt.wantAmount, tt.wantCur, tt.wantLast4, tt.wantError)
			}
			if (tt.wantError != "") != (p.ErrorMessage != nil) {
				t.Errorf("error_message = %v, want one exactly when error_code is set", p.ErrorMessage)
			}
			if deref(p.PaymentMethodID) != tt.pm || deref(p.CheckoutSessionID) != cs.SessionID || p.Customer.CustomerID != tt.customer {
				t.Errorf("payment refers to pm %s, session %s, customer %s; want %s, %s, %s",
					deref(p.PaymentMethodID), deref(p.CheckoutSessionID), p.Customer.CustomerID, tt.pm, cs.SessionID, tt.customer)
			}
			if !maps.Equal(p.Metadata, wantMeta) {
				t.Errorf("metadata = %v, want the request's %v", p.Metadata, wantMeta)
			}
			if len(p.ProductCart) != len(tt.cart) {
				t.Errorf("product_cart = %v, want %d items", p.ProductCart, len(tt.cart))
			}
			if (p.SubscriptionID != nil) != tt.wantSub {
				t.Errorf("subscription_id = %v, want one: %v", p.SubscriptionID, tt.wantSub)
			}
			if tt.wantSub {
				sub, ok := e.s.Subscription(*p.SubscriptionID)
				if !ok || sub.Status != StatusActive || sub.ProductID != pdtPro || sub.PaymentMethodID != tt.pm ||
					!sub.PeriodStart.Equal(date(2026, 4, 16)) || !sub.PeriodEnd.Equal(date(2026, 5, 16)) {
					t.Errorf("subscription = %+v, want active on %s with %s from 2026-04-16 to 2026-05-16", sub, pdtPro, tt.pm)
				}
			}
			if got := e.s.Charges(tt.customer); got != 1 {
				t.Errorf("Charges(%s) = %d, want 1", tt.customer, got)
			}
			st := decode[wire.CheckoutSessionStatus](t, e.mustDo(200, "GET", "/checkouts/"+cs.SessionID, nil))
			if deref(st.PaymentID) != p.PaymentID || deref(st.PaymentStatus) != tt.wantStatus {
				t.Errorf("checkout status = %s %s, want %s %s", deref(st.PaymentID), deref(st.PaymentStatus), p.PaymentID, tt.wantStatus)
			}

			e.flush()
			got := e.recv.received()
			if types := e.recv.types(); !slices.Equal(types, tt.wantEvents) {
				t.Fatalf("webhooks = %v, want %v", types, tt.wantEvents)
			}
			var wh struct {
				BusinessID string  `json:"business_id"`
				Data       payment `json:"data"`
			}
			if err := json.Unmarshal(got[0].Body, &wh); err != nil {
				t.Fatal(err)
			}
			if wh.BusinessID != "bus_test" || wh.Data.PaymentID != p.PaymentID || wh.Data.Status != tt.wantStatus || !maps.Equal(wh.Data.Metadata, wantMeta) {
				t.Errorf("webhook = %s %s %s %v, want bus_test %s %s %v", wh.BusinessID, wh.Data.PaymentID, wh.Data.Status, wh.Data.Metadata, p.PaymentID, tt.wantStatus, wantMeta)
			}
			if !strings.HasPrefix(got[0].ID, "msg_") {
				t.Errorf("webhook-id = %q, want msg_...", got[0].ID)
			}
		})
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestOneClickRefused: requests Dodo refuses create no payment and send no
// webhook.
func TestOneClickRefused(t *testing.T) {
	with := func(f func(b map[string]any)) map[string]any {
		b := oneClick(custAna, pmVisa, item(pdtGuide, 1))
		f(b)
		return b
	}
	manyKeys := map[string]any{}
	for i := range 51 {
		manyKeys[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name       string
		key        string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"no API key", "", oneClick(custAna, pmVisa, item(pdtGuide, 1)), 401, "UNAUTHORIZED"},
		{"wrong API key", "sk_test_wrong", oneClick(custAna, pmVisa, item(pdtGuide, 1)), 401, "UNAUTHORIZED"},
		{"payment_method_id without confirm", testAPIKey, with(func(b map[string]any) { delete(b, "confirm") }), 422, "INVALID_REQUEST_BODY"},
		{"another customer's card", testAPIKey, oneClick(custAna, pmBo, item(pdtGuide, 1)), 422, "INVALID_REQUEST_BODY"},
		{"unknown card", testAPIKey, oneClick(custAna, "pm_nothing", item(pdtGuide, 1)), 422, "INVALID_REQUEST_BODY"},
		{"card without recurring consent", testAPIKey, oneClick(custAna, pmOneOff, item(pdtGuide, 1)), 422, "NO_ELIGIBLE_PAYMENT_METHODS"},
		{"new customer with a saved card", testAPIKey, with(func(b map[string]any) { b["customer"] = map[string]any{"email": "new@example.com"} }), 422, "INVALID_REQUEST_BODY"},
		{"no customer with a saved card", testAPIKey, with(func(b map[string]any) { delete(b, "customer") }), 422, "INVALID_REQUEST_BODY"},
		{"unknown customer", testAPIKey, oneClick("cus_nobody", pmVisa, item(pdtGuide, 1)), 404, "NOT_FOUND"},
		{"no billing address", testAPIKey, with(func(b map[string]any) { delete(b, "billing_address") }), 422, "INVALID_REQUEST_BODY"},
		{"minimal address without zipcode", testAPIKey, with(func(b map[string]any) { b["billing_address"] = map[string]any{"country": "US"} }), 422, "INVALID_REQUEST_BODY"},
		{"full address needed without minimal_address", testAPIKey, with(func(b map[string]any) { delete(b, "minimal_address") }), 422, "INVALID_REQUEST_BODY"},
		{"unknown product", testAPIKey, oneClick(custAna, pmVisa, item("pdt_nothing", 1)), 404, "NOT_FOUND"},
		{"empty cart", testAPIKey, oneClick(custAna, pmVisa), 422, "INVALID_REQUEST_BODY"},
		{"quantity 0", testAPIKey, oneClick(custAna, pmVisa, item(pdtGuide, 0)), 422, "INVALID_REQUEST_BODY"},
		{"mixed currencies", testAPIKey, oneClick(custAna, pmVisa, item(pdtGuide, 1), item(pdtEbook, 1)), 422, "INVALID_REQUEST_BODY"},
		{"billing currency differs", testAPIKey, with(func(b map[string]any) { b["billing_currency"] = "EUR" }), 422, "INVALID_REQUEST_BODY"},
		{"subscription with another product", testAPIKey, oneClick(custAna, pmVisa, item(pdtPro, 1), item(pdtGuide, 1)), 422, "INVALID_REQUEST_BODY"},
		{"top-level customer_id, as in the docs' sample", testAPIKey, with(func(b map[string]any) { b["customer_id"] = custAna }), 422, "INVALID_REQUEST_BODY"},
		{"metadata value an object", testAPIKey, with(func(b map[string]any) { b["metadata"] = map[string]any{"offer": map[string]any{"id": 1}} }), 422, "INVALID_REQUEST_BODY"},
		{"51 metadata keys", testAPIKey, with(func(b map[string]any) { b["metadata"] = manyKeys }), 422, "MAXIMUM_KEYS_REACHED"},
		{"not JSON", testAPIKey, `{"product_cart": [`, 400, "INVALID_REQUEST_BODY"},
		{"quantity a string", testAPIKey, oneClick(custAna, pmVisa, map[string]any{"product_id": pdtGuide, "quantity": "1"}), 422, "INVALID_REQUEST_BODY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			status, body := e.doKey(tt.key, "POST", "/checkouts", tt.body)
			ae := decode[apiError](t, body)
			if status != tt.wantStatus || ae.Code != tt.wantCode || ae.Message == "" {
				t.Errorf("POST /checkouts = %d %s, want %d %s with a message", status, body, tt.wantStatus, tt.wantCode)
			}
			if n := e.s.Charges(custAna) + e.s.Charges(custBo); n != 0 {
				t.Errorf("charges = %d, want 0", n)
			}
			if got := e.webhooks(); len(got) != 0 {
				t.Errorf("webhooks = %v, want none", got)
			}
		})
	}
}

// TestFallbackCheckout: without a saved card the checkout hands out a
// checkout_url and charges nothing.
func TestFallbackCheckout(t *testing.T) {
	tests := []struct {
		name string
		body map[string]any
	}{
		{"existing customer", map[string]any{"product_cart": []any{item(pdtPro, 1)}, "customer": map[string]any{"customer_id": custAna},
			"return_url": "https://merchant.example/thanks", "metadata": map[string]any{"offer_id": "offer_1"}}},
		{"new customer", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"email": "new@example.com", "name": "New Person"}}},
		{"no customer", map[string]any{"product_cart": []any{item(pdtGuide, 1)}}},
		{"confirmed without a card", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custAna},
			"confirm": true, "minimal_address": true, "billing_address": map[string]any{"country": "US", "zipcode": "94102"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			cs := decode[session](t, e.mustDo(200, "POST", "/checkouts", tt.body))
			if cs.CheckoutURL == nil || *cs.CheckoutURL != "https://test.checkout.dodopayments.com/session/"+cs.SessionID || cs.PaymentID != nil {
				t.Errorf("session = %+v (url %q), want a test.checkout.dodopayments.com URL and no payment", cs, deref(cs.CheckoutURL))
			}
			st := decode[wire.CheckoutSessionStatus](t, e.mustDo(200, "GET", "/checkouts/"+cs.SessionID, nil))
			if st.PaymentID != nil || st.PaymentStatus != nil {
				t.Errorf("checkout status = %+v, want no payment", st)
			}
			if n := len(e.s.Payments()); n != 0 {
				t.Errorf("payments = %d, want 0", n)
			}
			if got := e.webhooks(); len(got) != 0 {
				t.Errorf("webhooks = %v, want none", got)
			}
		})
	}
}

// TestChargesCountEveryAttempt: the per-customer count is what tests use to
// prove a retried charge did not bill twice.
func TestChargesCountEveryAttempt(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	for _, pm := range []string{pmVisa, pmDecline, pmVisa} {
		e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pm, item(pdtGuide, 1)))
	}
	e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custAna}})
	e.wantError(422, "NO_ELIGIBLE_PAYMENT_METHODS", "POST", "/checkouts", oneClick(custAna, pmOneOff, item(pdtGuide, 1)))
	tests := []struct {
		customer string
		want     int
	}{{custAna, 3}, {custBo, 1}, {"cus_nobody", 0}}
	for _, tt := range tests {
		if got := e.s.Charges(tt.customer); got != tt.want {
			t.Errorf("Charges(%s) = %d, want %d", tt.customer, got, tt.want)
		}
	}
	var statuses []string
	for _, p := range e.s.Payments() {
		statuses = append(statuses, p.CustomerID+":"+p.Status)
	}
	want := []string{"cus_ana:succeeded", "cus_ana:failed", "cus_ana:succeeded", "cus_bo:succeeded"}
	if !slices.Equal(statuses, want) {
		t.Errorf("payments = %v, want %v", statuses, want)
	}
}

// TestListPayments: GET /payments filters and pages, newest first, and
// finds a payment by the metadata offerflow put on it.
func TestListPayments(t *testing.T) {
	e := newEnv(t, date(2026, 4, 1))
	meta := func(key string) map[string]any {
		b := oneClick(custAna, pmVisa, item(pdtGuide, 1))
		b["metadata"] = map[string]any{"offerflow_idempotency_key": key}
		return b
	}
	var ids []string
	for i, b := range []map[string]any{meta("k1"), oneClick(custAna, pmDecline, item(pdtGuide, 1)), meta("k3"), oneClick(custBo, pmBo, item(pdtGuide, 1))} {
		e.clock.Set(date(2026, 4, 1+i))
		ids = append(ids, *decode[session](t, e.mustDo(200, "POST", "/checkouts", b)).PaymentID)
	}
	sub, _ := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	e.clock.Set(date(2026, 4, 16))
	e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": DifferenceImmediately})
	subPay := e.s.Payments()[4].ID

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all, newest first", "", []string{subPay, ids[3], ids[2], ids[1], ids[0]}},
		{"by customer", "?customer_id=" + custAna, []string{subPay, ids[2], ids[1], ids[0]}},
		{"by status", "?customer_id=" + custAna + "&status=failed", []string{ids[1]}},
		{"by subscription", "?subscription_id=" + sub, []string{subPay}},
		{"by product", "?product_id=" + pdtGuide + "&customer_id=" + custBo, []string{ids[3]}},
		{"created on or after", "?created_at_gte=2026-04-03T00:00:00Z", []string{subPay, ids[3], ids[2]}},
		{"created on or before", "?created_at_lte=2026-04-02T00:00:00Z", []string{ids[1], ids[0]}},
		{"created between", "?created_at_gte=2026-04-02T00:00:00Z&created_at_lte=2026-04-03T00:00:00Z", []string{ids[2], ids[1]}},
		{"page 0 of 2", "?page_size=2&page_number=0", []string{subPay, ids[3]}},
		{"page 2 of 2", "?page_size=2&page_number=2", []string{ids[0]}},
		{"past the end", "?page_size=2&page_number=3", nil},
		{"nobody", "?customer_id=cus_nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := decode[struct {
				Items []payment `json:"items"`
			}](t, e.mustDo(200, "GET", "/payments"+tt.query, nil))
			var got []string
			for _, p := range list.Items {
				got = append(got, p.PaymentID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("GET /payments%s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	// How offerflow reconciles a charge it is unsure about.
	list := decode[struct {
		Items []payment `json:"items"`
	}](t, e.mustDo(200, "GET", "/payments?customer_id="+custAna+"&created_at_gte=2026-04-01T00:00:00Z", nil))
	var found []string
	for _, p := range list.Items {
		if p.Metadata["offerflow_idempotency_key"] == "k3" {
			found = append(found, p.PaymentID)
		}
	}
	if !slices.Equal(found, []string{ids[2]}) {
		t.Errorf("payments with offerflow_idempotency_key k3 = %v, want [%s]", found, ids[2])
	}
	for _, q := range []string{"?page_size=-1", "?created_at_gte=yesterday", "?page_number=x"} {
		e.wantError(http.StatusUnprocessableEntity, "INVALID_REQUEST_BODY", "GET", "/payments"+q, nil)
	}
}

// TestReads covers the read endpoints' bodies and the seeding API's
// checks.
func TestReads(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	methods := decode[wire.List[wire.CustomerPaymentMethod]](t, e.mustDo(200, "GET", "/customers/"+custAna+"/payment-methods", nil))
	var got []string
	for _, m := range methods.Items {
		got = append(got, fmt.Sprintf("%s %s %s/%s %s recurring=%v", m.PaymentMethodID, deref(m.Card.Last4Digits),
			deref(m.Card.ExpiryMonth), deref(m.Card.ExpiryYear), deref(m.PaymentMethodType), fmtBool(m.RecurringEnabled)))
	}
	want := []string{
		"pm_visa 4242 06/2032 credit recurring=null",
		"pm_declined 0002 06/2032 credit recurring=null",
		"pm_expired 4242 01/2025 credit recurring=null",
		"pm_oneoff 4444 06/2032 debit recurring=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("payment methods = %q, want %q", got, want)
	}
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	methods = decode[wire.List[wire.CustomerPaymentMethod]](t, e.mustDo(200, "GET", "/customers/"+custAna+"/payment-methods", nil))
	if lu := methods.Items[0].LastUsedAt; lu == nil || !lu.Equal(date(2026, 4, 16)) {
		t.Errorf("last_used_at after a charge = %v, want 2026-04-16", lu)
	}

	prod := decode[wire.Product](t, e.mustDo(200, "GET", "/products/"+pdtYearly, nil))
	if prod.Price.Type != "recurring_price" || deref(prod.Price.Price) != 30000 || deref(prod.Price.PaymentFrequencyInterval) != "Year" || !prod.IsRecurring {
		t.Errorf("product = %+v, want a recurring yearly price of 30000", prod.Price)
	}
	cust := decode[wire.Customer](t, e.mustDo(200, "GET", "/customers/"+custBo, nil))
	if cust.Email != "bo@example.com" || deref(cust.PhoneNumber) != "+4930123456" || cust.BusinessID != "bus_test" {
		t.Errorf("customer = %+v", cust)
	}

	errs := []struct {
		name string
		err  error
	}{
		{"customer without email", second(e.s.AddCustomer(Customer{Name: "X"}))},
		{"duplicate customer", second(e.s.AddCustomer(Customer{ID: custAna, Email: "a@b.c", Name: "A"}))},
		{"card of unknown customer", second(e.s.AddPaymentMethod("cus_nobody", Card{Number: "4242424242424242", ExpMonth: 1, ExpYear: 2030}))},
		{"card number too short", second(e.s.AddPaymentMethod(custAna, Card{Number: "4242", ExpMonth: 1, ExpYear: 2030}))},
		{"card month 13", second(e.s.AddPaymentMethod(custAna, Card{Number: "4242424242424242", ExpMonth: 13, ExpYear: 2030}))},
		{"product currency", second(e.s.AddProduct(Product{Price: 100, Currency: "usd"}))},
		{"product interval", second(e.s.AddProduct(Product{Price: 100, Currency: "USD", Recurring: true, Interval: "Fortnight"}))},
		{"subscription to a one-time product", second(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtGuide}))},
		{"subscription on another's card", second(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, PaymentMethodID: pmBo}))},
		{"subscription status", second(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, Status: "trialing"}))},
		{"subscription metadata", second(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, Metadata: map[string]any{"a": []int{1}}}))},
	}
	for _, tt := range errs {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := e.s.Subscription(id); !s.PeriodStart.Equal(date(2026, 4, 16)) || !s.PeriodEnd.Equal(date(2026, 5, 16)) || s.Status != StatusActive || s.Quantity != 1 {
		t.Errorf("defaults: %+v", s)
	}
}

func second[T any](_ T, err error) error { return err }

func fmtBool(b *bool) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprint(*b)
}

func TestIDTagMakesIdsUnique(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16), func(c *Config) { c.IDTag = "run7" })
	id, err := e.s.AddProduct(Product{Name: "Tagged", Price: 100, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(id, "_run7") || !strings.HasPrefix(id, "pdt_") {
		t.Fatalf("generated id %q, want pdt_..._run7", id)
	}
	cs := decode[session](t, e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1))))
	if cs.PaymentID == nil || !strings.HasSuffix(*cs.PaymentID, "_run7") {
		t.Fatalf("payment id %v, want ..._run7", cs.PaymentID)
	}
	e.flush()
	sent := e.s.Sent()
	if len(sent) == 0 || !strings.HasSuffix(sent[0].ID, "_run7") {
		t.Fatalf("webhook ids %+v, want ..._run7", sent)
	}
}
