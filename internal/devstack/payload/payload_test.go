package payload

import (
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/events"
)

// Every body decodes as the event it claims to be, with the ids and the
// amount it was given: the demo and the benchmarks rely on offerflow
// reading them as Dodo's own.
func TestBodiesDecode(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		body     []byte
		wantType string
		check    func(t *testing.T, payload any)
	}{
		{"payment succeeded", PaymentSucceeded(at, "cus_1", "pay_1", "pdt_1", 4900), "payment.succeeded", func(t *testing.T, payload any) {
			p, ok := payload.(*events.Payment)
			if !ok {
				t.Fatalf("payload %T, want *events.Payment", payload)
			}
			if p.PaymentID != "pay_1" || p.Customer.CustomerID != "cus_1" || p.TotalAmount != 4900 ||
				len(p.ProductCart) != 1 || p.ProductCart[0].ProductID != "pdt_1" {
				t.Fatalf("got payment %s of %s for %d, cart %v; want pay_1 of cus_1 for 4900, cart [pdt_1]",
					p.PaymentID, p.Customer.CustomerID, p.TotalAmount, p.ProductCart)
			}
		}},
		{"subscription plan changed", Subscription("subscription.plan_changed", at, "cus_1", "sub_1", "pdt_2", "active", 3000), "subscription.plan_changed", func(t *testing.T, payload any) {
			s, ok := payload.(*events.Subscription)
			if !ok {
				t.Fatalf("payload %T, want *events.Subscription", payload)
			}
			if s.SubscriptionID != "sub_1" || s.Customer.CustomerID != "cus_1" || s.ProductID != "pdt_2" || s.Status != "active" || s.RecurringPreTaxAmount != 3000 {
				t.Fatalf("got subscription %s of %s to %s, %s at %d; want sub_1 of cus_1 to pdt_2, active at 3000",
					s.SubscriptionID, s.Customer.CustomerID, s.ProductID, s.Status, s.RecurringPreTaxAmount)
			}
		}},
		{"refund succeeded", RefundSucceeded(at, "cus_1", "pay_1", 4900), "refund.succeeded", func(t *testing.T, payload any) {
			r, ok := payload.(*events.Refund)
			if !ok {
				t.Fatalf("payload %T, want *events.Refund", payload)
			}
			if r.PaymentID != "pay_1" || r.Customer.CustomerID != "cus_1" || r.Amount == nil || *r.Amount != 4900 {
				t.Fatalf("got refund of %s for %s, amount %v; want pay_1 of cus_1, 4900", r.PaymentID, r.Customer.CustomerID, r.Amount)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.Decode(tt.body)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, tt.body)
			}
			if ev.Type != tt.wantType || !ev.Timestamp.Equal(at) {
				t.Fatalf("got %s at %s, want %s at %s", ev.Type, ev.Timestamp, tt.wantType, at)
			}
			tt.check(t, ev.Payload)
		})
	}
}
