package rules

import (
	"strings"
	"testing"
)

// FuzzLoad: the whole file, rules included. Parse never panics, every
// error names the file, and what it accepts is consistent and evaluates
// without panicking.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(exampleFile))
	f.Add([]byte(evalFile))
	f.Add([]byte(ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: 'payment.amount >'\n    offer: {kind: cross_sell, product: pdt_addon, valid_for: 1h}\n")))
	f.Add([]byte(ruleFile("  - id: a\n    trigger: {signal: usage_milestone}\n    when: 'signal.metadata.n == \"1\" || 1 / 0 > 1'\n    offer: {kind: cross_sell, product: pdt_addon, valid_for: 1h}\n    on_decline: a\n")))
	f.Add([]byte("rules:\n  - id: a\n    offer: {kind: upsell}\n"))
	f.Add([]byte("limits: {per_customer: {max: 1, per: 1d}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, r := range c.Rules() {
			if _, ok := c.Product(r.Offer.Product); !ok {
				t.Fatalf("rule %q offers unknown product %q", r.ID, r.Offer.Product)
			}
			if r.Offer.ValidFor <= 0 || r.Offer.Quantity < 1 {
				t.Fatalf("rule %q: valid_for %v, quantity %d", r.ID, r.Offer.ValidFor, r.Offer.Quantity)
			}
			if r.OnDecline != "" {
				if _, ok := c.Rule(r.OnDecline); !ok {
					t.Fatalf("rule %q: on_decline %q missing", r.ID, r.OnDecline)
				}
			}
			if _, err := c.DownsellFor(r.ID, basicInput(Trigger{Event: "payment.succeeded"}), evalNow); err != nil {
				t.Fatalf("DownsellFor(%q): %v", r.ID, err)
			}
			if r.Trigger != (Trigger{}) {
				if _, err := c.Evaluate(basicInput(r.Trigger), evalNow); err != nil {
					t.Fatalf("Evaluate(%v): %v", r.Trigger, err)
				}
			}
		}
	})
}
