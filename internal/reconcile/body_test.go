package reconcile

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// The API's answers, in the spec's PaymentResponse and SubscriptionResponse
// shapes (values from the spec's examples), with a field offerflow does not
// model.
const (
	apiPayment = `{"payment_id":"pay_2KqX8mVbT3nR7cYw1Lz4d","status":"succeeded","business_id":"bus_P3SXLcppjXgagmHS","brand_id":"bus_P3SXLcppjXgagmHS","payment_provider":"dodo",
  "checkout_session_id":"cks_9fJ2kQeW4tLm8XbR0aPzc","subscription_id":null,
  "customer":{"customer_id":"cus_8VbC6JDZzPEqfBPUdpj0K","email":"ana@example.com","name":"Ana Ruiz","phone_number":null,"metadata":{}},
  "product_cart":[{"product_id":"pdt_e9mUw084cWnu0tzQ1b2c","quantity":1}],
  "total_amount":1900,"tax":0,"currency":"USD","settlement_amount":1900,"settlement_currency":"USD","settlement_tax":null,
  "billing":{"country":"US","state":"CA","city":"San Francisco","street":"123 Main St","zipcode":"94102"},
  "payment_method":"card","payment_method_type":null,"payment_method_id":"pm_1",
  "card_last_four":"4242","card_network":"VISA","card_type":"CREDIT","card_issuing_country":"US","card_holder_name":"Ana Ruiz",
  "error_code":null,"error_message":null,"metadata":{"offerflow_offer_id":"off_1","n":12345678901234567890},
  "invoice_id":"inv_2IsUnWGtRKFLxk7xAQeyt","invoice_url":"https://live.dodopayments.com/invoices/payments/pay_2KqX8mVbT3nR7cYw1Lz4d",
  "payment_link":null,"discounts":null,"discount_id":null,"custom_field_responses":null,"disputes":[],"refunds":[],
  "refund_status":null,"digital_products_delivered":false,"is_update_payment_method":false,"retry_attempt":0,
  "created_at":"2026-08-20T10:15:28.113904Z","updated_at":"2026-08-20T10:15:31.902117Z","a_new_field":{"x":[1,2]}}`
	apiSubscription = `{"subscription_id":"sub_7EeHq2ewQuadropD2ra","status":"cancelled",
  "product_id":"pdt_RUST4raxbl0Rfe4VQi1z","quantity":1,"addons":[],"brand_id":"bus_P3SXLcppjXgagmHS",
  "customer":{"customer_id":"cus_8VbC6JDZzPEqfBPUdpj0K","email":"ana@example.com","name":"Ana Ruiz","phone_number":null,"metadata":{}},
  "currency":"USD","recurring_pre_tax_amount":3000,"tax_inclusive":false,
  "payment_frequency_count":1,"payment_frequency_interval":"Month","subscription_period_count":10,"subscription_period_interval":"Year",
  "previous_billing_date":"2026-08-20T10:20:05.506021Z","next_billing_date":"2026-09-20T10:20:05.506021Z",
  "created_at":"2026-08-20T10:19:40.125145Z","trial_period_days":0,"trial_amount":null,"on_demand":false,
  "cancel_at_next_billing_date":false,"cancelled_at":"2026-08-25T08:00:00Z","cancellation_feedback":"too_expensive","cancellation_comment":null,
  "expires_at":null,"paused_at":null,"scheduled_change":null,"payment_method_id":"pm_1",
  "billing":{"country":"US","state":"CA","city":"San Francisco","street":"123 Main St","zipcode":"94102"},
  "metadata":{"plan":"basic"},"discounts":null,"discount_id":null,"discount_cycles_remaining":null,
  "tax_id":null,"customer_business_name":null,"custom_field_responses":null,
  "meters":[],"credit_entitlement_cart":[],"meter_credit_entitlement_cart":[]}`
)

// TestBodyIsTheWebhookDodoSends builds bodies from the API's objects and
// requires events.Decode to give exactly the typed event a webhook with
// that object as its data gives.
func TestBodyIsTheWebhookDodoSends(t *testing.T) {
	when := time.Date(2026, 8, 25, 8, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name, typ, payloadType, object string
		want                           any
	}{
		{"payment", events.TypePaymentSucceeded, PayloadPayment, apiPayment, &events.Payment{}},
		{"subscription", events.TypeSubscriptionCancelled, PayloadSubscription, apiSubscription, &events.Subscription{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Body("bus_P3SXLcppjXgagmHS", tt.typ, when, tt.payloadType, json.RawMessage(tt.object))
			if err != nil {
				t.Fatal(err)
			}
			ev, err := events.Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, body)
			}
			if ev.Type != tt.typ || ev.BusinessID != "bus_P3SXLcppjXgagmHS" || !ev.Timestamp.Equal(when) {
				t.Fatalf("envelope: got %s %s %s, want %s bus_P3SXLcppjXgagmHS %s", ev.Type, ev.BusinessID, ev.Timestamp, tt.typ, when)
			}
			// What the real webhook, with the object as its data, decodes to.
			if err := json.Unmarshal([]byte(tt.object), tt.want); err != nil {
				t.Fatal(err)
			}
			switch w := tt.want.(type) {
			case *events.Payment:
				w.PayloadType = PayloadPayment
			case *events.Subscription:
				w.PayloadType = PayloadSubscription
			}
			if !reflect.DeepEqual(ev.Payload, tt.want) {
				t.Fatalf("payload:\n got %+v\nwant %+v", ev.Payload, tt.want)
			}
			// Every field of the object is in data, byte for byte.
			var env struct {
				Timestamp string                     `json:"timestamp"`
				Data      map[string]json.RawMessage `json:"data"`
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(tt.object), &obj)
			for k, v := range obj {
				if string(env.Data[k]) != string(v) {
					t.Errorf("data.%s: got %s, want %s", k, env.Data[k], v)
				}
			}
			if string(env.Data["payload_type"]) != `"`+tt.payloadType+`"` {
				t.Errorf("data.payload_type: got %s, want %q", env.Data["payload_type"], tt.payloadType)
			}
			if env.Timestamp != "2026-08-25T06:00:00.123456789Z" {
				t.Errorf("timestamp: got %s, want it in UTC", env.Timestamp)
			}
			if !strings.HasPrefix(string(body), `{"business_id":`) {
				t.Errorf("body starts %.20s, want Dodo's field order", body)
			}
		})
	}
}

func TestBodyRefuses(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		at     time.Time
		object string
	}{
		{"an array", events.TypePaymentSucceeded, t0, `[1]`},
		{"null", events.TypePaymentSucceeded, t0, `null`},
		{"not JSON", events.TypePaymentSucceeded, t0, `{`},
		{"a type no subject can carry", "payment.*", t0, `{}`},
		{"a time RFC 3339 cannot write", events.TypePaymentSucceeded, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), `{}`},
	}
	for _, tt := range tests {
		if b, err := Body("bus_1", tt.typ, tt.at, PayloadPayment, json.RawMessage(tt.object)); err == nil {
			t.Errorf("%s: got %s, want an error", tt.name, b)
		}
	}
}

func TestCheckBody(t *testing.T) {
	when := time.Date(2026, 8, 25, 8, 0, 0, 0, time.UTC)
	body, err := Body("bus_1", events.TypeSubscriptionCancelled, when, PayloadSubscription, json.RawMessage(apiSubscription))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkBody(body, events.TypeSubscriptionCancelled, when, "sub_7EeHq2ewQuadropD2ra", "cancelled"); err != nil {
		t.Fatalf("checkBody: %v", err)
	}
	for _, tt := range []struct {
		name, typ, id, status string
		at                    time.Time
	}{
		{"another type", events.TypeSubscriptionExpired, "sub_7EeHq2ewQuadropD2ra", "cancelled", when},
		{"another time", events.TypeSubscriptionCancelled, "sub_7EeHq2ewQuadropD2ra", "cancelled", when.Add(time.Nanosecond)},
		{"another object", events.TypeSubscriptionCancelled, "sub_2", "cancelled", when},
		{"another status", events.TypeSubscriptionCancelled, "sub_7EeHq2ewQuadropD2ra", "active", when},
	} {
		if _, err := checkBody(body, tt.typ, tt.at, tt.id, tt.status); err == nil {
			t.Errorf("%s: checkBody accepted it", tt.name)
		}
	}
	bad, _ := Body("bus_1", events.TypePaymentFailed, when, PayloadPayment, json.RawMessage(`{"payment_id":"pay_1","status":7}`))
	if _, err := checkBody(bad, events.TypePaymentFailed, when, "pay_1", "7"); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("a payment whose status is a number: got %v, want ErrMalformed", err)
	}
}

func TestWebhookID(t *testing.T) {
	id := WebhookID(events.TypeSubscriptionActive, "sub_1", "active", "pdt_basic", t0)
	if id != WebhookID(events.TypeSubscriptionActive, "sub_1", "active", "pdt_basic", t0.In(time.FixedZone("X", 3600))) {
		t.Errorf("the same event in another zone got another id")
	}
	if !strings.HasPrefix(id, WebhookIDPrefix) || len(id) != len(WebhookIDPrefix)+24 {
		t.Errorf("id %q: want %s and 24 hex digits", id, WebhookIDPrefix)
	}
	// The ledger and the access document use it as is.
	if natsbus.Token(id) != id || natsbus.LedgerKey("webhook."+id) != "webhook."+id {
		t.Errorf("id %q is not a plain KV token", id)
	}
	others := []string{
		WebhookID(events.TypeSubscriptionCancelled, "sub_1", "active", "pdt_basic", t0),
		WebhookID(events.TypeSubscriptionActive, "sub_2", "active", "pdt_basic", t0),
		WebhookID(events.TypeSubscriptionActive, "sub_1", "on_hold", "pdt_basic", t0),
		WebhookID(events.TypeSubscriptionActive, "sub_1", "active", "pdt_pro", t0),
		WebhookID(events.TypeSubscriptionActive, "sub_1", "active", "pdt_basic", t0.Add(time.Microsecond)),
		// The fields are length-prefixed: moving a boundary changes the id.
		WebhookID(events.TypeSubscriptionActive, "sub_1a", "ctive", "pdt_basic", t0),
	}
	for i, o := range others {
		if o == id {
			t.Errorf("variant %d has the same id", i)
		}
	}
}

func TestMessage(t *testing.T) {
	sent := time.Unix(1_790_000_000, 0)
	m := message(events.TypePaymentSucceeded, "reconcile_abc", sent, []byte(`{}`))
	if m.Subject != "dodo.events.payment.succeeded" {
		t.Errorf("subject: got %s", m.Subject)
	}
	if m.ID != "reconcile_abc" {
		t.Errorf("id: got %q, want the webhook-id", m.ID)
	}
	want := map[string]string{
		natsbus.HeaderWebhookID:        "reconcile_abc",
		natsbus.HeaderWebhookTimestamp: "1790000000",
		HeaderReconciled:               "true",
	}
	for k, v := range want {
		if got := m.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("header %s: got %q, want %q", k, got, v)
		}
	}
	if len(m.Header) != len(want) || m.Header[natsbus.HeaderWebhookSignature] != nil {
		t.Errorf("headers: got %v, want exactly %v (no signature: Dodo signed nothing)", m.Header, want)
	}
}

// FuzzBody checks, for any object and time, that Body either refuses or
// builds a body that decodes as the event it names: the type and time it
// was given, and data that decodes into the typed payload exactly when the
// object, with payload_type set as in Dodo's webhooks, does (so no webhook
// the worker would take is lost, and no body reconcile builds is one the
// worker could not read).
func FuzzBody(f *testing.F) {
	// Small seeds: the fuzzer's minimiser is cubic in the input's length.
	f.Add([]byte(`{"payment_id":"pay_1","status":"succeeded","customer":{"customer_id":"cus_1"},"metadata":{"n":1.5e3},"product_cart":[{"product_id":"p","quantity":1}],"created_at":"2026-08-20T10:15:28Z"}`), uint8(0), int64(1_790_000_000_123456789))
	f.Add([]byte(`{"subscription_id":"sub_1","status":"on_hold","product_id":"p","cancelled_at":null,"addons":[],"next_billing_date":"2026-09-20T10:20:05.5Z"}`), uint8(1), int64(0))
	f.Add([]byte(`{}`), uint8(2), int64(-1))
	f.Add([]byte(`{"status":5}`), uint8(0), int64(1))
	f.Add([]byte(`{"payload_type":7,"Payload_Type":"x"}`), uint8(1), int64(1))
	f.Add([]byte(`{"payment_id":"p","PAYMENT_ID":"q"}`), uint8(0), int64(1))
	f.Fuzz(func(t *testing.T, object []byte, kind uint8, nanos int64) {
		types := []struct {
			typ, payloadType string
			payload          func() any
		}{
			{events.TypePaymentSucceeded, PayloadPayment, func() any { return &events.Payment{} }},
			{events.TypeSubscriptionOnHold, PayloadSubscription, func() any { return &events.Subscription{} }},
			{events.TypePaymentCancelled, PayloadPayment, func() any { return &events.Payment{} }},
		}
		k := types[int(kind)%len(types)]
		when := time.Unix(0, nanos)
		body, err := Body("bus_1", k.typ, when, k.payloadType, object)
		if err != nil {
			return
		}
		ev, err := events.Decode(body)
		var data map[string]json.RawMessage
		if json.Unmarshal(object, &data) != nil {
			t.Fatalf("Body took %q, which is not an object", object)
		}
		data["payload_type"] = json.RawMessage(`"` + k.payloadType + `"`)
		webhookData, _ := json.Marshal(data)
		direct := json.Unmarshal(webhookData, k.payload())
		switch {
		case err == nil && (ev.Type != k.typ || !ev.Timestamp.Equal(when) || ev.BusinessID != "bus_1"):
			t.Fatalf("decoded %s %s %s, want %s %s bus_1", ev.Type, ev.Timestamp, ev.BusinessID, k.typ, when)
		case err != nil && direct == nil:
			t.Fatalf("Decode refused a body whose object decodes: %v\nobject %s\nbody %s", err, object, body)
		case err == nil && direct != nil:
			t.Fatalf("Decode took a body whose object does not decode (%v)\nobject %s", direct, object)
		}
	})
}
