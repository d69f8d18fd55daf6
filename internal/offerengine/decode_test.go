package offerengine

import (
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

func TestDecodeSignal(t *testing.T) {
	tests := []struct {
		name, body, err string
	}{
		{"ok", `{"id":"s1","customer_id":"cus_1","name":"plan_limit_near","value":0.9}`, ""},
		{"with metadata and time", `{"id":"s-2:x","customer_id":"cus_1","name":"usage_milestone","value":1000,"metadata":{"feature":"api"},"at":"2026-04-01T00:00:00Z"}`, ""},
		{"unknown name", `{"id":"s1","customer_id":"cus_1","name":"bought_lunch"}`, "name \"bought_lunch\""},
		{"no id", `{"customer_id":"cus_1","name":"onboarding_completed"}`, "id must be"},
		{"id with space", `{"id":"a b","customer_id":"cus_1","name":"onboarding_completed"}`, "id must be"},
		{"no customer", `{"id":"s1","name":"onboarding_completed"}`, "customer_id must be"},
		{"unknown field", `{"id":"s1","customer_id":"cus_1","name":"onboarding_completed","vaule":1}`, "unknown field"},
		{"value is a string", `{"id":"s1","customer_id":"cus_1","name":"onboarding_completed","value":"high"}`, "cannot unmarshal"},
		{"trailing data", `{"id":"s1","customer_id":"cus_1","name":"onboarding_completed"} {}`, "trailing data"},
		{"not JSON", `id=s1`, "invalid character"},
		{"empty", ``, "EOF"},
		{"array", `[]`, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSignal([]byte(tt.body))
			checkErr(t, err, tt.err)
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, body, err string
	}{
		{"ok", `{"request_id":"r1","product_id":"pdt_pro"}`, ""},
		{"every field", `{"request_id":"r1","product_id":"pdt_pro","quantity":2,"proration":"do_not_bill","valid_for":"2h"}`, ""},
		{"bad proration", `{"request_id":"r1","product_id":"pdt_pro","proration":"whenever"}`, "proration \"whenever\""},
		{"bad validity", `{"request_id":"r1","product_id":"pdt_pro","valid_for":"soon"}`, "valid_for \"soon\""},
		{"validity too long", `{"request_id":"r1","product_id":"pdt_pro","valid_for":"720h"}`, "want 1m.."},
		{"negative quantity", `{"request_id":"r1","product_id":"pdt_pro","quantity":-1}`, "quantity must be"},
		{"no request id", `{"product_id":"pdt_pro"}`, "request_id must be"},
		{"no product", `{"request_id":"r1"}`, "product_id must be"},
		{"unknown field", `{"request_id":"r1","product_id":"pdt_pro","price":1}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			checkErr(t, err, tt.err)
		})
	}
}

func TestDecodeAnswer(t *testing.T) {
	tests := []struct {
		name, body, token, err string
	}{
		{"no body", ``, "", ""},
		{"blank body", " \n", "", ""},
		{"token", `{"token":"v1.k1.a.b"}`, "v1.k1.a.b", ""},
		{"empty object", `{}`, "", ""},
		{"token is a number", `{"token":1}`, "", "cannot unmarshal"},
		{"unknown field", `{"tokn":"x"}`, "", "unknown field"},
		{"trailing", `{"token":"x"}x`, "", "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := DecodeAnswer([]byte(tt.body))
			checkErr(t, err, tt.err)
			if err == nil && tok != tt.token {
				t.Fatalf("token %q, want %q", tok, tt.token)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

func FuzzDecodeSignal(f *testing.F) {
	f.Add([]byte(`{"id":"s1","customer_id":"cus_1","name":"plan_limit_near","value":0.9}`))
	f.Add([]byte(`{"id":"s1","customer_id":"cus_1","name":"usage_milestone","metadata":{"a":"b"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSignal(data)
		if err != nil {
			return
		}
		// Whatever decodes is valid: the worker acts on it.
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded signal does not validate: %v", err)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"request_id":"r1","product_id":"pdt_pro","quantity":2,"proration":"do_not_bill","valid_for":"2h"}`))
	f.Add([]byte(`{"request_id":"r1","product_id":"p","valid_for":"1m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		valid, err := r.Validate()
		if err != nil || valid < time.Minute || valid > MaxRequestValidity {
			t.Fatalf("decoded request %+v: validity %s, %v", r, valid, err)
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"token":"v1.k1.a.b"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeAnswer(data) // must not panic
	})
}

func TestCardExpired(t *testing.T) {
	now := time.Date(2026, 4, 16, 0, 0, 0, 0, time.UTC)
	s := func(v string) *string { return &v }
	tests := []struct {
		name   string
		month  *string
		year   *string
		expect bool
	}{
		{"this month", s("4"), s("2026"), false},
		{"last month", s("03"), s("2026"), true},
		{"last year", s("12"), s("2025"), true},
		{"two-digit year, future", s("1"), s("27"), false},
		{"two-digit year, past", s("12"), s("25"), true},
		{"unknown", nil, nil, false},
		{"garbage", s("xx"), s("2020"), false},
		{"month 13", s("13"), s("2020"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cardExpired(&wire.CardSummary{ExpiryMonth: tt.month, ExpiryYear: tt.year}, now); got != tt.expect {
				t.Fatalf("cardExpired = %v, want %v", got, tt.expect)
			}
		})
	}
}

func TestUsableMethod(t *testing.T) {
	now := time.Date(2026, 4, 16, 0, 0, 0, 0, time.UTC)
	s := func(v string) *string { return &v }
	no := false
	older, newer := now.Add(-48*time.Hour), now.Add(-time.Hour)
	methods := []wire.CustomerPaymentMethod{
		{PaymentMethodID: "pm_old", LastUsedAt: &older, Card: &wire.CardSummary{ExpiryMonth: s("1"), ExpiryYear: s("2030")}},
		{PaymentMethodID: "pm_new", LastUsedAt: &newer, Card: &wire.CardSummary{ExpiryMonth: s("1"), ExpiryYear: s("2030")}},
		{PaymentMethodID: "pm_expired", LastUsedAt: &now, Card: &wire.CardSummary{ExpiryMonth: s("1"), ExpiryYear: s("2026")}},
		{PaymentMethodID: "pm_norecurring", LastUsedAt: &now, RecurringEnabled: &no},
	}
	if pm, ok := usableMethod(methods, "", now); !ok || pm.PaymentMethodID != "pm_new" {
		t.Fatalf("picked %q %v, want pm_new (most recent usable)", pm.PaymentMethodID, ok)
	}
	if pm, ok := usableMethod(methods, "pm_old", now); !ok || pm.PaymentMethodID != "pm_old" {
		t.Fatalf("wanted pm_old: %q %v", pm.PaymentMethodID, ok)
	}
	for _, id := range []string{"pm_expired", "pm_norecurring", "pm_someone_elses"} {
		if _, ok := usableMethod(methods, id, now); ok {
			t.Fatalf("%s was found usable", id)
		}
	}
}

// planAmounts reads Dodo's preview: Basic $30 -> Pro $80 halfway through
// the period, prorated: $25 due, $15 credit for the unused Basic.
func TestPlanAmounts(t *testing.T) {
	neg, pos := int64(-3000), int64(8000)
	half, one := 0.5, 1
	p := wire.ChangePlanPreview{ImmediateCharge: wire.ImmediateCharge{
		Summary: wire.LineItemSummary{TotalAmount: 2500, Currency: "USD"},
		LineItems: []wire.LineItem{
			{UnitPrice: &pos, Quantity: &one, ProrationFactor: &half},
			{UnitPrice: &neg, Quantity: &one, ProrationFactor: &half},
		},
	}}
	got := planAmounts(offers.Amounts{Currency: "USD", Price: 8000}, wire.Subscription{RecurringPreTaxAmount: 3000}, p)
	want := offers.Amounts{Currency: "USD", Price: 8000, DueNow: 2500, Credit: 1500, CurrentPrice: 3000, PriceDifference: 5000}
	if got != want {
		t.Fatalf("amounts %+v, want %+v", got, want)
	}
	// A downgrade keeps the credit for later renewals.
	p.ImmediateCharge.Summary = wire.LineItemSummary{TotalAmount: 0, CustomerCredits: 3000}
	if got := planAmounts(offers.Amounts{Price: 2000}, wire.Subscription{RecurringPreTaxAmount: 8000}, p); got.CreditKept != 3000 || got.PriceDifference != -6000 || got.DueNow != 0 {
		t.Fatalf("downgrade amounts %+v", got)
	}
}

func TestOfferIDIsStablePerTriggerAndRule(t *testing.T) {
	a, b := offerID("cus_a", "event:msg_1", "r1", ""), offerID("cus_a", "event:msg_1", "r1", "")
	if a != b || !strings.HasPrefix(a, "ofr_") || len(a) != 28 {
		t.Fatalf("ids %q %q", a, b)
	}
	tests := []struct {
		name                         string
		customer, key, rule, variant string
	}{
		{name: "another rule", customer: "cus_a", key: "event:msg_1", rule: "r2"},
		{name: "another trigger", customer: "cus_a", key: "event:msg_2", rule: "r1"},
		// The regression this guards against: a client-chosen id shared by two
		// customers made one offer, whose accept charged the first.
		{name: "another customer, same request id", customer: "cus_b", key: "event:msg_1", rule: "r1"},
		{name: "another request under the same id", customer: "cus_a", key: "event:msg_1", rule: "r1", variant: "pdt_x"},
		// Parts cannot run into each other.
		{name: "customer and key shifted", customer: "cus_aevent:msg_1", key: "", rule: "r1"},
	}
	for _, tt := range tests {
		if offerID(tt.customer, tt.key, tt.rule, tt.variant) == a {
			t.Errorf("%s: same id as the original", tt.name)
		}
	}
}

func TestMetadataKeyMatchesAccess(t *testing.T) {
	if access.MetadataOfferID != MetadataOfferID {
		t.Fatalf("access reads %q, offers write %q", access.MetadataOfferID, MetadataOfferID)
	}
}

// A payment settles an offer only if it is that offer's charge: the name
// in its metadata alone proves nothing.
func TestSettlementMismatch(t *testing.T) {
	tax := int64(190)
	sub, other := "sub_1", "sub_2"
	oneClick := offers.Offer{ID: "ofr_1", CustomerID: "cus_a", ProductID: "pdt_w", Quantity: 1,
		Amounts: offers.Amounts{Currency: "USD", DueNow: 1900}}
	plan := offers.Offer{ID: "ofr_2", CustomerID: "cus_a", ProductID: "pdt_pro", Quantity: 1, ChangePlan: true,
		SubscriptionID: sub, Amounts: offers.Amounts{Currency: "USD", DueNow: 5000}}
	recorded := oneClick
	recorded.PaymentID = "pay_recorded"
	// A failed one-click charge whose fallback is a checkout link: the
	// link's payment is a new one.
	failedPurchase := recorded
	failedPurchase.State, failedPurchase.Fallback = offers.Failed, offers.Fallback{CheckoutURL: "https://checkout.example/s/1", UpdatePaymentMethod: true}
	failedPlan := plan
	failedPlan.State, failedPlan.PaymentID, failedPlan.Fallback = offers.Failed, "pay_recorded", offers.Fallback{UpdatePaymentMethod: true}
	pay := func(edit func(*events.Payment)) *events.Payment {
		p := &events.Payment{PaymentID: "pay_1", TotalAmount: 1900, Currency: "USD",
			Customer:    wire.CustomerLimitedDetails{CustomerID: "cus_a"},
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_w", Quantity: 1}}}
		if edit != nil {
			edit(p)
		}
		return p
	}
	tests := []struct {
		name  string
		offer offers.Offer
		p     *events.Payment
		want  string
	}{
		{"the offer's charge", oneClick, pay(nil), ""},
		{"currency in lower case", oneClick, pay(func(p *events.Payment) { p.Currency = "usd" }), ""},
		{"tax on top of the price", oneClick, pay(func(p *events.Payment) { p.TotalAmount, p.Tax = 2090, &tax }), ""},
		{"tax inside the price", oneClick, pay(func(p *events.Payment) { p.Tax = &tax }), ""},
		{"another customer", oneClick, pay(func(p *events.Payment) { p.Customer.CustomerID = "cus_b" }), "customer"},
		{"another currency", oneClick, pay(func(p *events.Payment) { p.Currency = "EUR" }), "currency"},
		{"another product", oneClick, pay(func(p *events.Payment) { p.ProductCart[0].ProductID = "pdt_x" }), "product"},
		{"another quantity", oneClick, pay(func(p *events.Payment) { p.ProductCart[0].Quantity = 2 }), "product"},
		{"more in the cart", oneClick, pay(func(p *events.Payment) {
			p.ProductCart = append(p.ProductCart, wire.ProductCartItem{ProductID: "pdt_y", Quantity: 1})
		}), "product"},
		{"another amount", oneClick, pay(func(p *events.Payment) { p.TotalAmount = 100 }), "amount"},
		{"not the payment recorded at accept", recorded, pay(nil), "payment_id"},
		{"the payment recorded at accept", recorded, pay(func(p *events.Payment) { p.PaymentID = "pay_recorded" }), ""},
		{"a failed purchase paid on its fallback page", failedPurchase, pay(nil), ""},
		{"a failed purchase, another product on its page", failedPurchase, pay(func(p *events.Payment) { p.ProductCart[0].ProductID = "pdt_x" }), "product"},
		{"a failed plan change, another payment", failedPlan, pay(func(p *events.Payment) { p.SubscriptionID = &sub }), "payment_id"},
		{"a plan change on its subscription", plan, pay(func(p *events.Payment) { p.SubscriptionID, p.TotalAmount = &sub, 4870 }), ""},
		{"a plan change on another subscription", plan, pay(func(p *events.Payment) { p.SubscriptionID = &other }), "subscription"},
		{"a plan change without a subscription", plan, pay(nil), "subscription"},
		{"a plan change named in subscription_ids", plan, pay(func(p *events.Payment) { p.SubscriptionIDs = []string{other, sub} }), ""},
		{"subscription_ids of others", plan, pay(func(p *events.Payment) { p.SubscriptionIDs = []string{other} }), "subscription"},
		{"the new shape of a single subscription", plan, pay(func(p *events.Payment) { p.SubscriptionID, p.SubscriptionIDs = &sub, []string{sub} }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := settlementMismatch(tt.offer, tt.p); got != tt.want {
				t.Fatalf("settlementMismatch = %q, want %q", got, tt.want)
			}
		})
	}
}
