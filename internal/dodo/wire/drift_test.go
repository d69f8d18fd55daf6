package wire

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// driftFields are the JSON fields Dodo added after spec v1.113.0 that the
// types model (docs/dodo-drift.md; the SDK 2.52.0 type each comes from in
// the comment).
var driftFields = map[reflect.Type][]string{
	reflect.TypeFor[Payment]():              {"is_multi_subscription", "subscription_ids"}, // payments.d.ts Payment
	reflect.TypeFor[PaymentListItem]():      {"is_multi_subscription", "subscription_ids"}, // payments.d.ts PaymentListResponse
	reflect.TypeFor[Subscription]():         {"has_payment_method", "past_due_ends_at"},    // subscriptions.d.ts Subscription; webhook-events.d.ts
	reflect.TypeFor[SubscriptionListItem](): {"has_payment_method"},                        // subscriptions.d.ts SubscriptionListResponse
}

// driftTypes are the types that model an answer the spec has no schema for,
// so that TestSchemasModelled cannot reach them.
var driftTypes = []string{"ChangePlanResult"}

// TestDriftBeyondSpec keeps the drift lists honest: each field really is
// missing from the spec (once a newer spec has it, it moves to the
// checked fields), and each is a pointer or slice tagged omitzero, so that
// an object from before the drift decodes it as nil and encodes without it.
func TestDriftBeyondSpec(t *testing.T) {
	s := loadSpec(t)
	schemaOf := map[reflect.Type]string{
		reflect.TypeFor[Payment]():              "PaymentResponse",
		reflect.TypeFor[PaymentListItem]():      "GetPaymentsListResponseItem",
		reflect.TypeFor[Subscription]():         "SubscriptionResponse",
		reflect.TypeFor[SubscriptionListItem](): "SubscriptionListResponseItem",
	}
	for gt, names := range driftFields {
		sc := s.Components.Schemas[schemaOf[gt]]
		if sc == nil {
			t.Fatalf("%v: schema %s not in the spec", gt, schemaOf[gt])
		}
		fields := jsonFields(gt)
		for _, name := range names {
			if _, ok := sc.Properties[name]; ok {
				t.Errorf("%v.%s: the spec has it now; check it as a schema property instead of drift", gt, name)
			}
			f, ok := fields[name]
			if !ok {
				t.Errorf("%v: no field with json tag %q", gt, name)
				continue
			}
			_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if k := f.Type.Kind(); k != reflect.Pointer && k != reflect.Slice || !slices.Contains(strings.Split(opts, ","), "omitzero") {
				t.Errorf("%v.%s: Go type %v, tag %q: want a pointer or slice with omitzero", gt, name, f.Type, f.Tag.Get("json"))
			}
		}
	}
	if s.Paths["/subscriptions/{subscription_id}/change-plan"]["post"].Responses["200"].Content["application/json"].Schema != nil {
		t.Error("the spec now has a change-plan answer: model ChangePlanResult against it")
	}
	if st := s.Components.Schemas["SubscriptionStatus"]; st == nil {
		t.Error("no SubscriptionStatus schema")
	}
}

// TestDecodeDrift decodes the objects offerflow reads in the shape of spec
// v1.113.0 and in Dodo's later one: a field missing is not an error, and
// reads as "not said".
func TestDecodeDrift(t *testing.T) {
	yes, no := true, false
	t.Run("payment", func(t *testing.T) {
		tests := []struct {
			name      string
			body      string
			wantMulti *bool
			wantSubs  []string
		}{
			{"v1.113.0 one-time", `{"payment_id":"pay_1","subscription_id":null}`, nil, nil},
			{"v1.113.0 subscription charge", `{"payment_id":"pay_1","subscription_id":"sub_1"}`, nil, []string{"sub_1"}},
			{"new one-time", `{"payment_id":"pay_1","subscription_id":null,"is_multi_subscription":false,"subscription_ids":[]}`, &no, nil},
			{"new single subscription", `{"payment_id":"pay_1","subscription_id":"sub_1","is_multi_subscription":false,"subscription_ids":["sub_1"]}`, &no, []string{"sub_1"}},
			{"new multi-subscription", `{"payment_id":"pay_1","subscription_id":null,"is_multi_subscription":true,"subscription_ids":["sub_1","sub_2"]}`, &yes, []string{"sub_1", "sub_2"}},
			{"ids null", `{"payment_id":"pay_1","subscription_id":"sub_1","subscription_ids":null}`, nil, []string{"sub_1"}},
			{"empty and repeated ids", `{"payment_id":"pay_1","subscription_id":"sub_2","subscription_ids":["","sub_2","sub_2"]}`, nil, []string{"sub_2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var p Payment
				if err := json.Unmarshal([]byte(tt.body), &p); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(p.IsMultiSubscription, tt.wantMulti) {
					t.Errorf("IsMultiSubscription: got %v, want %v", p.IsMultiSubscription, tt.wantMulti)
				}
				if got := p.Subscriptions(); !slices.Equal(got, tt.wantSubs) {
					t.Errorf("Subscriptions(): got %q, want %q", got, tt.wantSubs)
				}
				for _, id := range tt.wantSubs {
					if !p.ChargesSubscription(id) {
						t.Errorf("ChargesSubscription(%q): got false, want true", id)
					}
				}
				if p.ChargesSubscription("sub_other") || p.ChargesSubscription("") {
					t.Error("ChargesSubscription of another or no id: got true, want false")
				}
				var item PaymentListItem
				if err := json.Unmarshal([]byte(tt.body), &item); err != nil {
					t.Fatalf("decode list item: %v", err)
				}
				if got := item.Subscriptions(); !slices.Equal(got, tt.wantSubs) {
					t.Errorf("list item Subscriptions(): got %q, want %q", got, tt.wantSubs)
				}
			})
		}
	})
	t.Run("subscription", func(t *testing.T) {
		end := time.Date(2026, 10, 8, 0, 0, 0, 0, time.UTC)
		tests := []struct {
			name       string
			body       string
			wantHas    *bool
			wantCharge bool
			wantEnds   *time.Time
		}{
			{"v1.113.0", `{"subscription_id":"sub_1","status":"on_hold"}`, nil, true, nil},
			{"new with a card", `{"subscription_id":"sub_1","status":"active","has_payment_method":true}`, &yes, true, nil},
			{"new without a card", `{"subscription_id":"sub_1","status":"active","has_payment_method":false}`, &no, false, nil},
			{"past due", `{"subscription_id":"sub_1","status":"past_due","has_payment_method":true,"past_due_ends_at":"2026-10-08T00:00:00Z"}`, &yes, true, &end},
			{"past due without a deadline", `{"subscription_id":"sub_1","status":"past_due","past_due_ends_at":null}`, nil, true, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var s Subscription
				if err := json.Unmarshal([]byte(tt.body), &s); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(s.HasPaymentMethod, tt.wantHas) {
					t.Errorf("HasPaymentMethod: got %v, want %v", s.HasPaymentMethod, tt.wantHas)
				}
				if got := s.ChargeableOffSession(); got != tt.wantCharge {
					t.Errorf("ChargeableOffSession(): got %v, want %v", got, tt.wantCharge)
				}
				if !reflect.DeepEqual(s.PastDueEndsAt, tt.wantEnds) {
					t.Errorf("PastDueEndsAt: got %v, want %v", s.PastDueEndsAt, tt.wantEnds)
				}
				var item SubscriptionListItem
				if err := json.Unmarshal([]byte(tt.body), &item); err != nil {
					t.Fatalf("decode list item: %v", err)
				}
				if !reflect.DeepEqual(item.HasPaymentMethod, tt.wantHas) {
					t.Errorf("list item HasPaymentMethod: got %v, want %v", item.HasPaymentMethod, tt.wantHas)
				}
			})
		}
		if !(*Subscription)(nil).ChargeableOffSession() {
			t.Error("nil ChargeableOffSession(): got false, want true (nothing said)")
		}
	})
	t.Run("change-plan answer", func(t *testing.T) {
		link := "https://test.dodopayments.com/pay/pay_1"
		tests := []struct {
			name string
			body string
			want ChangePlanResult
		}{
			{"all null", `{"payment_id":null,"payment_link":null,"client_secret":null,"expires_on":null}`, ChangePlanResult{}},
			{"empty object", `{}`, ChangePlanResult{}},
			{"payment only", `{"payment_id":"pay_1"}`, ChangePlanResult{PaymentID: ptrTo("pay_1")}},
			{"hosted page", `{"payment_id":"pay_1","payment_link":"` + link + `","client_secret":"cs_1","expires_on":"2026-10-08T00:00:00Z"}`,
				ChangePlanResult{PaymentID: ptrTo("pay_1"), PaymentLink: &link, ClientSecret: ptrTo("cs_1"), ExpiresOn: ptrTo(time.Date(2026, 10, 8, 0, 0, 0, 0, time.UTC))}},
			{"the docs' older body", `{"status":"processing","subscription_id":"sub_1","payment_id":"pay_1"}`, ChangePlanResult{PaymentID: ptrTo("pay_1")}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got ChangePlanResult
				if err := json.Unmarshal([]byte(tt.body), &got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	})
}

// TestEncodeOldShape: an object without the drift fields encodes without
// them, as Dodo sent it before; with them, they are written.
func TestEncodeOldShape(t *testing.T) {
	b, err := json.Marshal(Payment{PaymentID: "pay_1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"is_multi_subscription", "subscription_ids"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("encoded %s without it set: %s", k, b)
		}
	}
	b, _ = json.Marshal(Payment{PaymentID: "pay_1", IsMultiSubscription: ptrTo(false), SubscriptionIDs: []string{}})
	for _, k := range []string{`"is_multi_subscription":false`, `"subscription_ids":[]`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("want %s in %s", k, b)
		}
	}
	b, _ = json.Marshal(Subscription{SubscriptionID: "sub_1"})
	for _, k := range []string{"has_payment_method", "past_due_ends_at"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("encoded %s without it set: %s", k, b)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
