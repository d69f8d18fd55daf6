package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// paymentSucceeded is a realistic payment.succeeded body (about 2 KB): a
// one-click upsell charged through a checkout session with a saved method.
const paymentSucceeded = `{"business_id":"bus_P3SXLcppjXgagmHS","type":"payment.succeeded","timestamp":"2026-08-20T10:15:32.418203Z",
 "data":{"payload_type":"Payment","payment_id":"pay_2KqX8mVbT3nR7cYw1Lz4d","status":"succeeded",
  "business_id":"bus_P3SXLcppjXgagmHS","brand_id":"bus_P3SXLcppjXgagmHS","payment_provider":"dodo",
  "checkout_session_id":"cks_9fJ2kQeW4tLm8XbR0aPzc","subscription_id":null,
  "customer":{"customer_id":"cus_8VbC6JDZzPEqfBPUdpj0K","email":"ana@example.com","name":"Ana Ruiz","phone_number":null,"metadata":{}},
  "product_cart":[{"product_id":"pdt_e9mUw084cWnu0tzQ1b2c","quantity":1}],
  "total_amount":1900,"tax":0,"currency":"USD","settlement_amount":1900,"settlement_currency":"USD","settlement_tax":null,
  "billing":{"country":"US","state":"CA","city":"San Francisco","street":"123 Main St","zipcode":"94102"},
  "payment_method":"card","payment_method_type":null,"payment_method_id":"pm_saved_1",
  "card_last_four":"4242","card_network":"VISA","card_type":"CREDIT","card_issuing_country":"US","card_holder_name":"Ana Ruiz",
  "error_code":null,"error_message":null,"metadata":{"offer_id":"upsell_pro_addon","origin_payment_id":"pay_1AbCdEfGhIjKlMnOpQrSt"},
  "invoice_id":"inv_2IsUnWGtRKFLxk7xAQeyt","invoice_url":"https://live.dodopayments.com/invoices/payments/pay_2KqX8mVbT3nR7cYw1Lz4d",
  "payment_link":null,"discounts":null,"discount_id":null,"custom_field_responses":null,"disputes":[],"refunds":[],
  "refund_status":null,"digital_products_delivered":false,"is_update_payment_method":false,"retry_attempt":0,
  "created_at":"2026-08-20T10:15:28.113904Z","updated_at":"2026-08-20T10:15:31.902117Z"}}`

// event returns an envelope of type typ around data.
func event(typ, data string) string {
	return `{"business_id":"bus_1","type":"` + typ + `","timestamp":"2026-08-20T10:15:32Z","data":` + data + `}`
}

// minimalPayment is a payment's data with its required fields only.
const minimalPayment = `{"payment_id":"pay_1","business_id":"bus_1","brand_id":"bus_1","total_amount":400,
 "currency":"USD","settlement_amount":400,"settlement_currency":"USD","is_update_payment_method":false,
 "created_at":"2026-08-20T10:15:28Z","disputes":[],"refunds":[],"metadata":{},"billing":{"country":"US"},
 "customer":{"customer_id":"cus_1","email":"a@example.com","name":"A"},"digital_products_delivered":false,
 "retry_attempt":0,"payment_provider":"dodo"}`

// withFields returns the JSON object obj with the members in fields added.
func withFields(obj, fields string) string {
	return strings.TrimSuffix(strings.TrimSpace(obj), "}") + "," + fields + "}"
}

func TestDecodePaymentSucceeded(t *testing.T) {
	ev, err := Decode([]byte(paymentSucceeded))
	if err != nil {
		t.Fatalf("Decode: got error %v, want nil", err)
	}
	if ev.Type != TypePaymentSucceeded || ev.BusinessID != "bus_P3SXLcppjXgagmHS" {
		t.Errorf("envelope: got type %q business %q, want %q %q", ev.Type, ev.BusinessID, TypePaymentSucceeded, "bus_P3SXLcppjXgagmHS")
	}
	if want := time.Date(2026, 8, 20, 10, 15, 32, 418203000, time.UTC); !ev.Timestamp.Equal(want) {
		t.Errorf("Timestamp: got %v, want %v", ev.Timestamp, want)
	}
	p, ok := ev.Payload.(*Payment)
	if !ok {
		t.Fatalf("Payload: got %T, want *Payment", ev.Payload)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"payment_id", p.PaymentID, "pay_2KqX8mVbT3nR7cYw1Lz4d"},
		{"status", deref(p.Status), "succeeded"},
		{"total_amount", p.TotalAmount, int64(1900)},
		{"tax", deref(p.Tax), int64(0)},
		{"settlement_tax", p.SettlementTax == nil, true},
		{"subscription_id", p.SubscriptionID == nil, true},
		{"customer_id", p.CustomerID(), "cus_8VbC6JDZzPEqfBPUdpj0K"},
		{"event customer_id", ev.CustomerID(), "cus_8VbC6JDZzPEqfBPUdpj0K"},
		{"product_cart", len(p.ProductCart), 1},
		{"product_id", p.ProductCart[0].ProductID, "pdt_e9mUw084cWnu0tzQ1b2c"},
		{"billing.zipcode", deref(p.Billing.Zipcode), "94102"},
		{"payment_method_id", deref(p.PaymentMethodID), "pm_saved_1"},
		{"metadata.offer_id", p.Metadata["offer_id"].String(), "upsell_pro_addon"},
		{"updated_at", p.UpdatedAt.Equal(time.Date(2026, 8, 20, 10, 15, 31, 902117000, time.UTC)), true},
		{"disputes", p.Disputes != nil && len(p.Disputes) == 0, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, ev Event)
	}{
		{
			name: "null for nullable fields",
			body: event(TypePaymentFailed, withFields(minimalPayment,
				`"status":null,"tax":null,"subscription_id":null,"updated_at":null,"product_cart":null,
				 "discounts":null,"custom_field_responses":null,"card_issuing_country":null,"refund_status":null`)),
			check: func(t *testing.T, ev Event) {
				p := ev.Payload.(*Payment)
				if p.Status != nil || p.Tax != nil || p.SubscriptionID != nil || p.UpdatedAt != nil ||
					p.ProductCart != nil || p.Discounts != nil || p.CardIssuingCountry != nil || p.RefundStatus != nil {
					t.Errorf("nullable fields: got %+v, want nil", p)
				}
			},
		},
		{
			name: "null for a required field",
			body: event(TypeSubscriptionUpdated, `{"subscription_id":"sub_1","status":null,"customer":null,"metadata":null,
				"scheduled_change":null,"cancelled_at":null,"addons":null}`),
			check: func(t *testing.T, ev Event) {
				s := ev.Payload.(*Subscription)
				if s.SubscriptionID != "sub_1" || s.Status != "" || s.CustomerID() != "" || s.Metadata != nil || s.ScheduledChange != nil {
					t.Errorf("got %+v, want zero values", s)
				}
			},
		},
		{
			name: "metadata of every kind",
			body: event(TypeRefundSucceeded, `{"refund_id":"ref_1","payment_id":"pay_1","is_partial":false,
				"customer":{"customer_id":"cus_1","email":"a@example.com","name":"A","metadata":{"tier":"gold"}},
				"metadata":{"s":"x","i":42,"neg":-7,"f":1.5,"big":12345678901234567890,"t":true,"n":null,"o":{"a":[1]},"a":[1,"b"]}}`),
			check: func(t *testing.T, ev Event) {
				r := ev.Payload.(*Refund)
				want := map[string]struct {
					kind wire.MetadataKind
					text string
				}{
					"s":   {wire.MetadataString, "x"},
					"i":   {wire.MetadataInt, "42"},
					"neg": {wire.MetadataInt, "-7"},
					"f":   {wire.MetadataFloat, "1.5"},
					"big": {wire.MetadataFloat, "12345678901234567000"},
					"t":   {wire.MetadataBool, "true"},
					"n":   {wire.MetadataRaw, "null"},
					"o":   {wire.MetadataRaw, `{"a":[1]}`},
					"a":   {wire.MetadataRaw, `[1,"b"]`},
				}
				if len(r.Metadata) != len(want) {
					t.Errorf("metadata: got %d keys, want %d", len(r.Metadata), len(want))
				}
				for k, w := range want {
					v := r.Metadata[k]
					if v.Kind() != w.kind || v.String() != w.text {
						t.Errorf("metadata[%q]: got kind %d %q, want kind %d %q", k, v.Kind(), v.String(), w.kind, w.text)
					}
				}
				if got := r.Customer.Metadata["tier"].String(); got != "gold" {
					t.Errorf("customer metadata tier: got %q, want %q", got, "gold")
				}
			},
		},
		{
			name: "unknown fields everywhere",
			body: `{"business_id":"bus_1","type":"refund.succeeded","timestamp":"2026-08-20T10:15:32Z","version":2,"extra":{"a":[1]},
				"data":{"refund_id":"ref_1","payment_id":"pay_1","future":{"x":1},"customer":{"customer_id":"cus_1","loyalty":"gold"}}}`,
			check: func(t *testing.T, ev Event) {
				if got := ev.CustomerID(); got != "cus_1" {
					t.Errorf("CustomerID(): got %q, want %q", got, "cus_1")
				}
			},
		},
		{
			name: "unknown future event type",
			body: event("foo.bar", `{"payload_type":"Foo","foo_id":"foo_1"}`),
			check: func(t *testing.T, ev Event) {
				u, ok := ev.Payload.(*Unknown)
				if !ok {
					t.Fatalf("Payload: got %T, want *Unknown", ev.Payload)
				}
				if got, want := string(u.Raw), `{"payload_type":"Foo","foo_id":"foo_1"}`; got != want {
					t.Errorf("Raw: got %s, want %s", got, want)
				}
				if ev.CustomerID() != "" {
					t.Errorf("CustomerID(): got %q, want empty", ev.CustomerID())
				}
			},
		},
		{
			name: "payload_type missing",
			body: event(TypePaymentSucceeded, minimalPayment),
			check: func(t *testing.T, ev Event) {
				p := ev.Payload.(*Payment)
				if p.PayloadType != "" || p.PaymentID != "pay_1" || p.TotalAmount != 400 {
					t.Errorf("got payload_type %q payment_id %q total %d, want \"\" pay_1 400", p.PayloadType, p.PaymentID, p.TotalAmount)
				}
			},
		},
		{
			name: "payload_type that disagrees with the type is ignored",
			body: event(TypePaymentSucceeded, withFields(minimalPayment, `"payload_type":"Refund"`)),
			check: func(t *testing.T, ev Event) {
				if _, ok := ev.Payload.(*Payment); !ok {
					t.Errorf("Payload: got %T, want *Payment", ev.Payload)
				}
			},
		},
		{
			name: "business_id missing",
			body: `{"type":"dunning.started","timestamp":"2026-08-20T10:15:32+02:00","data":{"subscription_id":"sub_1","customer_id":"cus_1"}}`,
			check: func(t *testing.T, ev Event) {
				if ev.BusinessID != "" || ev.CustomerID() != "cus_1" {
					t.Errorf("got business %q customer %q, want \"\" cus_1", ev.BusinessID, ev.CustomerID())
				}
				if want := time.Date(2026, 8, 20, 8, 15, 32, 0, time.UTC); !ev.Timestamp.Equal(want) {
					t.Errorf("Timestamp: got %v, want %v", ev.Timestamp, want)
				}
			},
		},
		{
			name: "scheduled plan change",
			body: event(TypeSubscriptionPlanChanged, `{"subscription_id":"sub_1","status":"active","product_id":"pdt_old",
				"scheduled_change":{"id":"sc_1","product_id":"pdt_new","quantity":2,"effective_at":"2026-09-20T10:20:05Z",
				"created_at":"2026-08-20T10:20:05Z","addons":[{"addon_id":"adn_1","name":"Seats","quantity":3}],"product_name":null}}`),
			check: func(t *testing.T, ev Event) {
				sc := ev.Payload.(*Subscription).ScheduledChange
				if sc == nil || sc.ProductID != "pdt_new" || sc.Quantity != 2 || len(sc.Addons) != 1 || sc.Addons[0].Quantity != 3 || sc.ProductName != nil {
					t.Errorf("ScheduledChange: got %+v, want pdt_new x2 with one addon x3", sc)
				}
			},
		},
		{
			name: "escaped type",
			body: `{"type":"payment.succ\u0065eded","timestamp":"2026-08-20T10:15:32Z","data":` + minimalPayment + `}`,
			check: func(t *testing.T, ev Event) {
				if ev.Type != TypePaymentSucceeded {
					t.Errorf("Type: got %q, want %q", ev.Type, TypePaymentSucceeded)
				}
			},
		},
		{
			name: "envelope keys match exactly and the last one wins",
			body: `{"TYPE":"refund.succeeded","type":"foo.bar","type":"payment.succeeded","timestamp":"2026-08-20T10:15:32Z","data":` + minimalPayment + `}`,
			check: func(t *testing.T, ev Event) {
				if ev.Type != TypePaymentSucceeded {
					t.Errorf("Type: got %q, want %q (as PeekType)", ev.Type, TypePaymentSucceeded)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if pt, err := PeekType([]byte(tt.body)); err != nil || pt != ev.Type {
				t.Errorf("PeekType: got %q, %v, want %q, nil (the type Decode read)", pt, err, ev.Type)
			}
			tt.check(t, ev)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // in the error message
	}{
		{name: "empty body", body: ``, want: "not JSON"},
		{name: "not JSON", body: `{"type":`, want: "not JSON"},
		{name: "trailing garbage", body: event(TypePaymentSucceeded, minimalPayment) + `x`, want: "not JSON"},
		{name: "top level array", body: `[` + event(TypePaymentSucceeded, minimalPayment) + `]`, want: "not a JSON object"},
		{name: "top level string", body: `"payment.succeeded"`, want: "not a JSON object"},
		{name: "type missing", body: `{"timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is missing"},
		{name: "type null", body: `{"type":null,"timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is missing"},
		{name: "type empty", body: `{"type":"","timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is empty"},
		{name: "type a number", body: `{"type":1,"timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is not a string"},
		{name: "type an object", body: `{"type":{"name":"payment.succeeded"},"timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is not a string"},
		{name: "type in another case only", body: `{"Type":"payment.succeeded","timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "type is missing"},
		{name: "business_id a number", body: `{"business_id":7,"type":"foo.bar","timestamp":"2026-08-20T10:15:32Z","data":{}}`, want: "foo.bar: business_id is not a string"},
		{name: "timestamp missing", body: `{"type":"payment.succeeded","data":{}}`, want: "payment.succeeded: timestamp is missing"},
		{name: "timestamp null", body: `{"type":"payment.succeeded","timestamp":null,"data":{}}`, want: "timestamp is missing"},
		{name: "timestamp a number", body: `{"type":"payment.succeeded","timestamp":1754285445,"data":{}}`, want: "timestamp is not a string"},
		{name: "timestamp without zone", body: `{"type":"payment.succeeded","timestamp":"2026-08-20T10:15:32","data":{}}`, want: "timestamp is not RFC 3339"},
		{name: "timestamp with a space", body: `{"type":"payment.succeeded","timestamp":"2026-08-20 10:15:32Z","data":{}}`, want: "timestamp is not RFC 3339"},
		{name: "timestamp empty", body: `{"type":"payment.succeeded","timestamp":"","data":{}}`, want: "timestamp is not RFC 3339"},
		{name: "data missing", body: `{"type":"payment.succeeded","timestamp":"2026-08-20T10:15:32Z"}`, want: "payment.succeeded: data is missing"},
		{name: "data null", body: `{"type":"payment.succeeded","timestamp":"2026-08-20T10:15:32Z","data":null}`, want: "data is missing"},
		{name: "data a string", body: event(TypePaymentSucceeded, `"pay_1"`), want: "data is not an object"},
		{name: "data an array", body: event(TypePaymentSucceeded, `[`+minimalPayment+`]`), want: "data is not an object"},
		{name: "data not an object for an unknown type", body: event("foo.bar", `1`), want: "foo.bar: data is not an object"},
		{name: "amount a string", body: event(TypePaymentSucceeded, withFields(minimalPayment, `"total_amount":"400"`)), want: "decode payment.succeeded data: json: cannot unmarshal string into Go struct field Payment.total_amount of type int64"},
		{name: "amount a fraction", body: event(TypePaymentSucceeded, withFields(minimalPayment, `"total_amount":4.5`)), want: "Payment.total_amount"},
		{name: "customer a string", body: event(TypeRefundSucceeded, `{"refund_id":"ref_1","customer":"cus_1"}`), want: "decode refund.succeeded data: json: cannot unmarshal string into Go struct field Refund.customer of type wire.CustomerLimitedDetails"},
		{name: "created_at not RFC 3339", body: event(TypeDisputeOpened, `{"dispute_id":"dp_1","created_at":"yesterday"}`), want: "decode dispute.opened data"},
		{name: "dispute amount a number", body: event(TypeDisputeOpened, `{"dispute_id":"dp_1","amount":400}`), want: "Dispute.amount"},
		{name: "nested field wrong", body: event(TypeSubscriptionActive, `{"scheduled_change":{"quantity":"2"}}`), want: "scheduled_change.quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: got %+v, %v, want an error wrapping ErrMalformed", ev, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	in := Envelope{
		BusinessID: "bus_1",
		Type:       TypeRefundSucceeded,
		Timestamp:  time.Date(2026, 8, 20, 10, 15, 32, 5, time.UTC),
		Data:       json.RawMessage(`{"refund_id":"ref_1","payment_id":"pay_1","is_partial":true,"customer":{"customer_id":"cus_1"}}`),
	}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	ev, err := Decode(body)
	if err != nil {
		t.Fatalf("Decode(%s): got error %v, want nil", body, err)
	}
	r, ok := ev.Payload.(*Refund)
	if !ok {
		t.Fatalf("Payload: got %T, want *Refund", ev.Payload)
	}
	if ev.BusinessID != in.BusinessID || ev.Type != in.Type || !ev.Timestamp.Equal(in.Timestamp) ||
		r.RefundID != "ref_1" || !r.IsPartial || r.CustomerID() != "cus_1" {
		t.Errorf("got %+v with %+v, want the envelope %+v", ev, r, in)
	}
}

func TestEventCustomerID(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		payload any
		want    string
	}{
		{name: "payment", payload: &Payment{Customer: wire.CustomerLimitedDetails{CustomerID: "cus_p"}}, want: "cus_p"},
		{name: "subscription", payload: &Subscription{Customer: wire.CustomerLimitedDetails{CustomerID: "cus_s"}}, want: "cus_s"},
		{name: "refund", payload: &Refund{Customer: wire.CustomerLimitedDetails{CustomerID: "cus_r"}}, want: "cus_r"},
		{name: "dispute", payload: &Dispute{Customer: wire.CustomerLimitedDetails{CustomerID: "cus_d"}}, want: "cus_d"},
		{name: "license key", payload: &LicenseKey{CustomerID: "cus_l"}, want: "cus_l"},
		{name: "credit ledger entry", payload: &CreditLedgerEntry{CustomerID: "cus_c"}, want: "cus_c"},
		{name: "credit balance low", payload: &CreditBalanceLow{CustomerID: "cus_b"}, want: "cus_b"},
		{name: "abandoned checkout", payload: &AbandonedCheckout{CustomerID: "cus_a"}, want: "cus_a"},
		{name: "dunning attempt", payload: &DunningAttempt{CustomerID: "cus_u"}, want: "cus_u"},
		{name: "entitlement grant", payload: &EntitlementGrant{CustomerID: "cus_e", PaymentID: str("pay_1")}, want: "cus_e"},
		{name: "payout has no customer", payload: &Payout{PayoutID: "pyt_1"}, want: ""},
		{name: "unknown", payload: &Unknown{Raw: json.RawMessage(`{"customer_id":"cus_x"}`)}, want: ""},
		{name: "no payload", payload: nil, want: ""},
		{name: "nil payment", payload: (*Payment)(nil), want: ""},
		{name: "nil subscription", payload: (*Subscription)(nil), want: ""},
		{name: "nil refund", payload: (*Refund)(nil), want: ""},
		{name: "nil dispute", payload: (*Dispute)(nil), want: ""},
		{name: "nil license key", payload: (*LicenseKey)(nil), want: ""},
		{name: "nil entitlement grant", payload: (*EntitlementGrant)(nil), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Event{Payload: tt.payload}).CustomerID(); got != tt.want {
				t.Errorf("CustomerID(): got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKnownTypes(t *testing.T) {
	types := KnownTypes()
	if len(types) != 48 {
		t.Errorf("KnownTypes(): got %d types, want 48 (the spec's 47 and subscription.past_due)", len(types))
	}
	types[0] = "mutated"
	if KnownTypes()[0] == "mutated" {
		t.Error("KnownTypes(): got a shared slice, want a new one per call")
	}
	tests := []struct {
		name string
		typ  string
		want bool
	}{
		{name: "payment", typ: TypePaymentSucceeded, want: true},
		{name: "credit balance low", typ: TypeCreditBalanceLow, want: true},
		{name: "entitlement grant", typ: TypeEntitlementGrantRevoked, want: true},
		{name: "past due, after the spec", typ: TypeSubscriptionPastDue, want: true},
		{name: "future type", typ: "foo.bar", want: false},
		{name: "empty", typ: "", want: false},
		{name: "case differs", typ: "Payment.Succeeded", want: false},
		{name: "prefix only", typ: "payment", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsKnown(tt.typ); got != tt.want {
				t.Errorf("IsKnown(%q): got %v, want %v", tt.typ, got, tt.want)
			}
		})
	}
}

// deref returns *p, or the zero value if p is nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
