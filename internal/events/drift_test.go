package events

import (
	"slices"
	"strings"
	"testing"
)

// minimalSubscription is a subscription's data in the shape of spec
// v1.113.0, without the fields Dodo added later.
const minimalSubscription = `{"subscription_id":"sub_1","product_id":"pdt_pro","quantity":1,"status":"on_hold",
 "customer":{"customer_id":"cus_1","email":"a@example.com","name":"A"},"metadata":{},
 "next_billing_date":"2026-09-20T10:15:28Z","previous_billing_date":"2026-08-20T10:15:28Z"}`

// TestDecodeDrift decodes the events Dodo sends since spec v1.113.0 next to
// the same events in the spec's shape: subscription.past_due is typed, and
// the added fields are read when present and nil when absent.
func TestDecodeDrift(t *testing.T) {
	pastDue := strings.Replace(minimalSubscription, `"on_hold"`, `"past_due"`, 1)
	tests := []struct {
		name      string
		body      string
		wantType  string
		wantSubs  []string // of a payment
		wantHasPM string   // of a subscription: "nil", "true" or "false"
		wantEnds  bool     // past_due_ends_at set
	}{
		{"on_hold, v1.113.0", event(TypeSubscriptionOnHold, minimalSubscription), TypeSubscriptionOnHold, nil, "nil", false},
		{"past_due, old fields only", event(TypeSubscriptionPastDue, pastDue), TypeSubscriptionPastDue, nil, "nil", false},
		{"past_due, new fields", event(TypeSubscriptionPastDue, withFields(pastDue, `"has_payment_method":true,"past_due_ends_at":"2026-10-08T00:00:00Z"`)),
			TypeSubscriptionPastDue, nil, "true", true},
		{"active without a payment method", event(TypeSubscriptionActive, withFields(minimalSubscription, `"has_payment_method":false`)),
			TypeSubscriptionActive, nil, "false", false},
		{"payment, v1.113.0", event(TypePaymentSucceeded, withFields(minimalPayment, `"subscription_id":"sub_1"`)), TypePaymentSucceeded, []string{"sub_1"}, "", false},
		{"payment, multi-subscription", event(TypePaymentSucceeded, withFields(minimalPayment, `"subscription_id":null,"is_multi_subscription":true,"subscription_ids":["sub_1","sub_2"]`)),
			TypePaymentSucceeded, []string{"sub_1", "sub_2"}, "", false},
		{"payment, one-time, new fields", event(TypePaymentSucceeded, withFields(minimalPayment, `"subscription_id":null,"is_multi_subscription":false,"subscription_ids":[]`)),
			TypePaymentSucceeded, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Type != tt.wantType {
				t.Errorf("Type: got %q, want %q", ev.Type, tt.wantType)
			}
			if err := ev.CheckIDs(); err != nil {
				t.Errorf("CheckIDs: %v", err)
			}
			switch p := ev.Payload.(type) {
			case *Payment:
				if got := p.Subscriptions(); !slices.Equal(got, tt.wantSubs) {
					t.Errorf("Subscriptions(): got %q, want %q", got, tt.wantSubs)
				}
			case *Subscription:
				got := "nil"
				if p.HasPaymentMethod != nil {
					got = map[bool]string{true: "true", false: "false"}[*p.HasPaymentMethod]
				}
				if got != tt.wantHasPM {
					t.Errorf("HasPaymentMethod: got %s, want %s", got, tt.wantHasPM)
				}
				if (p.PastDueEndsAt != nil) != tt.wantEnds {
					t.Errorf("PastDueEndsAt: got %v, want set: %v", p.PastDueEndsAt, tt.wantEnds)
				}
				if ev.CustomerID() != "cus_1" {
					t.Errorf("CustomerID(): got %q, want cus_1", ev.CustomerID())
				}
			default:
				t.Fatalf("Payload: got %T, want a payment or subscription", ev.Payload)
			}
			if got, want := Subject(tt.wantType), "dodo.events."+tt.wantType; got != want {
				t.Errorf("Subject: got %q, want %q", got, want)
			}
		})
	}
	// A subscription id in subscription_ids is checked like subscription_id.
	bad := event(TypePaymentSucceeded, withFields(minimalPayment, `"subscription_ids":["sub 1"]`))
	ev, err := Decode([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.CheckIDs(); err == nil || !strings.Contains(err.Error(), "subscription_ids[0]") {
		t.Errorf("CheckIDs of a bad subscription_ids entry: got %v, want an error naming data.subscription_ids[0]", err)
	}
}
