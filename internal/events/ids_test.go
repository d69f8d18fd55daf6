package events

import (
	"strings"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{"dodo id", "cus_2Ky8mZ0aQ1", ""},
		{"longest", strings.Repeat("a", MaxIDLen), ""},
		{"punctuation", "a.b:c-d_e/f+g=h", ""},
		{"empty", "", "is empty"},
		{"one too long", strings.Repeat("a", MaxIDLen+1), "129 bytes, over the 128"},
		{"a few KB", strings.Repeat("x", 4000), "over the 128"},
		{"space", "cus 1", "offset 3"},
		{"line break", "cus_1\r\nNats-Msg-Id: x", "offset 5"},
		{"NUL", "cus_\x001", "offset 4"},
		{"non-ASCII", "cus_é", "offset 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckID("customer_id", tt.id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "customer_id") {
				t.Fatalf("CheckID(%q) = %v, want an error naming customer_id with %q", tt.id, err, tt.want)
			}
		})
	}
}

func TestEventCheckIDs(t *testing.T) {
	long := strings.Repeat("p", MaxIDLen+1)
	sub := "sub_1"
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"good payment", Event{Payload: &Payment{PaymentID: "pay_1", Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}, SubscriptionID: &sub,
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_1"}}}}, ""},
		{"long customer", Event{Payload: &Payment{PaymentID: "pay_1", Customer: wire.CustomerLimitedDetails{CustomerID: long}}}, "data.customer.customer_id"},
		{"long product in the cart", Event{Payload: &Payment{PaymentID: "pay_1", Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_1"}, {ProductID: long}}}}, "data.product_cart[1].product_id"},
		{"subscription product with a space", Event{Payload: &Subscription{SubscriptionID: "sub_1", Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
			ProductID: "pdt 1"}}, "data.product_id"},
		{"refund of a long payment", Event{Payload: &Refund{RefundID: "ref_1", PaymentID: long}}, "data.payment_id"},
		{"absent ids are the handlers' business", Event{Payload: &Payment{}}, ""},
		{"unknown payload", Event{Payload: &Unknown{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ev.CheckIDs()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckIDs() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckIDs() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// FuzzCheckID: an accepted id is bounded and safe in a subject token, a
// KV key (after natsbus.Token) and a header: no space, control or non-ASCII
// byte.
func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"cus_1", "", "a b", strings.Repeat("z", 200), "x\r\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if CheckID("id", id) != nil {
			return
		}
		if id == "" || len(id) > MaxIDLen || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("CheckID accepted %q", id)
		}
	})
}
