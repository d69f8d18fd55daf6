package offers

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecode feeds Decode outside input (downstream services may echo an
// offer back). Decode must not panic; what it accepts must validate, must
// re-encode to a fixed point, and must survive every transition without a
// panic or an invalid result.
func FuzzDecode(f *testing.F) {
	o, err := New(Offer{
		ID: "off_1", CustomerID: "cus_1", RuleID: "r", Kind: Upsell, ProductID: "p", Quantity: 1,
		Amounts: Amounts{Currency: "USD", Price: 100, DueNow: 100}, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Trigger: Trigger{Signal: "s"},
	}, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(o)
	f.Add(b)
	a, _ := Accept(o, o.CreatedAt)
	c, _ := Convert(a, "pay_1", o.CreatedAt)
	b, _ = json.Marshal(c)
	f.Add(b)
	f.Add([]byte(`{"id":"x","state":"open","history":[{"state":"open","at":"2029-01-01T00:00:00+01:00"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"quantity":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Decode(data)
		if err != nil {
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid offer: %v", err)
		}
		b1, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		o2, err := Decode(b1)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", b1, err)
		}
		b2, _ := json.Marshal(o2)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("not a fixed point:\n%s\n%s", b1, b2)
		}
		for _, now := range []time.Time{o.CreatedAt, o.ExpiresAt} {
			steps := []func(Offer) (Offer, error){
				func(o Offer) (Offer, error) { return Accept(o, now) },
				func(o Offer) (Offer, error) { return Decline(o, now) },
				func(o Offer) (Offer, error) { return Expire(o, now) },
				func(o Offer) (Offer, error) { return Convert(o, "pay_x", now) },
				func(o Offer) (Offer, error) { return Fail(o, "pay_x", "r", Fallback{}, now) },
			}
			for _, step := range steps {
				if n, err := step(o); err == nil {
					if err := n.Validate(); err != nil {
						t.Fatalf("transition from %s made an invalid offer: %v", o.State, err)
					}
				}
			}
		}
	})
}
