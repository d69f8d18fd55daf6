package confirm

import (
	"strings"
	"testing"
	"time"
)

// valid returns a valid confirmation of kind k.
func valid(k Kind) Confirmation {
	c := Confirmation{
		ID: "test." + string(k), Kind: k, CustomerID: "cus_1", Email: "ana@example.com", Name: "Ana",
		ProductID: "pdt_pro", ProductName: "Pro", At: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	}
	if k.HasMoney() {
		c.Currency, c.Amount = "USD", 5000
	}
	if k == ChargeFailed {
		c.CheckoutURL = "https://checkout.example.com/session/cks_1"
	}
	return c
}

func TestValidate(t *testing.T) {
	for _, k := range Kinds() {
		if err := valid(k).Validate(); err != nil {
			t.Errorf("valid %s: Validate() = %v, want nil", k, err)
		}
	}
	tests := []struct {
		name string
		edit func(*Confirmation)
		want []string // substrings of the error
	}{
		{name: "no id", edit: func(c *Confirmation) { c.ID = "" }, want: []string{"id is required"}},
		{name: "long id", edit: func(c *Confirmation) { c.ID = strings.Repeat("x", MaxIDLen+1) }, want: []string{"longer than 255"}},
		{name: "line break in id", edit: func(c *Confirmation) { c.ID = "a\r\nBcc: x@example.com" }, want: []string{"control characters"}},
		{name: "unknown kind", edit: func(c *Confirmation) { c.Kind = "refunded" }, want: []string{`kind "refunded" is not one of`}},
		{name: "no customer", edit: func(c *Confirmation) { c.CustomerID = "" }, want: []string{"customer_id is required"}},
		{name: "bad email", edit: func(c *Confirmation) { c.Email = "not an address" }, want: []string{`email "not an address"`}},
		{name: "money without currency", edit: func(c *Confirmation) { c.Currency = "" }, want: []string{"currency is required for offer_purchased"}},
		{name: "two-letter currency", edit: func(c *Confirmation) { c.Currency = "US" }, want: []string{`currency "US" is not a 3-letter ISO 4217 code`}},
		{name: "currency with a symbol", edit: func(c *Confirmation) { c.Currency = "U$D" }, want: []string{"not a 3-letter"}},
		{name: "negative amount", edit: func(c *Confirmation) { c.Amount = -1 }, want: []string{"amount must be >= 0"}},
		{name: "negative credit", edit: func(c *Confirmation) { c.Credit = -1 }, want: []string{"credit must be >= 0"}},
		{name: "javascript link", edit: func(c *Confirmation) { c.CheckoutURL = "javascript:alert(1)" }, want: []string{"not an http(s) URL"}},
		{name: "everything at once", edit: func(c *Confirmation) { c.CustomerID, c.Currency, c.Amount = "", "", -5 },
			want: []string{"customer_id is required", "currency is required", "amount must be >= 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(OfferPurchased)
			tt.edit(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}

	t.Run("access without money", func(t *testing.T) {
		c := valid(AccessGranted)
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		c.Amount = 100
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "currency is required with an amount") {
			t.Fatalf("Validate() = %v, want currency is required with an amount", err)
		}
	})
	t.Run("charge_failed needs the link", func(t *testing.T) {
		c := valid(ChargeFailed)
		c.CheckoutURL = ""
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "checkout_url is required for charge_failed") {
			t.Fatalf("Validate() = %v, want checkout_url is required", err)
		}
	})
	t.Run("lower-case currency", func(t *testing.T) {
		c := valid(OfferPurchased)
		c.Currency = "usd"
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
	})
}

// Business keys built from the longest outside ids stay within MaxIDLen,
// the same for the same input and different for different inputs (before,
// a webhook-id of 225-256 bytes made a confirmation id over 255 bytes, and
// the confirmation could never be sent).
func TestBoundedID(t *testing.T) {
	long := "access." + strings.Repeat("w", 128) + ".granted." + strings.Repeat("p", 128)
	tests := []struct {
		name, id string
	}{
		{"short", "offer.ofr_1.charged"},
		{"at the limit", strings.Repeat("x", MaxIDLen)},
		{"over", long},
		{"over, differing only at the end", long[:len(long)-1] + "q"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := BoundedID(tt.id)
		if len(got) > MaxIDLen {
			t.Errorf("%s: %d bytes, over %d", tt.name, len(got), MaxIDLen)
		}
		if len(tt.id) <= MaxIDLen && got != tt.id {
			t.Errorf("%s: changed a short id to %q", tt.name, got)
		}
		if BoundedID(tt.id) != got {
			t.Errorf("%s: not stable", tt.name)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("%s and %s share %q", prev, tt.name, got)
		}
		seen[got] = tt.name
		c := valid(AccessGranted)
		c.ID = got
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
