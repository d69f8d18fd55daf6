package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/offers"
)

// exampleFile is the example of the package doc; keep the two in step.
const exampleFile = `# Optional: at most 3 offers of any rule per customer per 30 days.
limits:
  per_customer: {max: 3, per: 30d}

products:
  - {id: pdt_basic, name: Basic, tier: 1, features: [reports, export]}
  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, export, api, sso]}
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_course_lite, name: Course Lite, tier: 0, features: [course_lite]}

rules:
  - id: basic-to-pro
    trigger: {event: subscription.active}
    when: 'subscription.product_id == "pdt_basic" && "USD" in customer.paid_currencies'
    offer:
      kind: upsell
      product: pdt_pro
      quantity: 1
      change_plan: true
      proration: prorated_immediately
      valid_for: 72h
    priority: 10
    display: {headline: "Unlock the API and SSO", badge: most popular}
    on_decline: course-offer
    caps:
      after_decline: never
      per_customer: {max: 1, per: 30d}

  - id: course-offer
    trigger: {signal: onboarding_completed}
    offer: {kind: cross_sell, product: pdt_course, valid_for: 24h}
    on_decline: course-lite-downsell
    caps: {after_decline: 720h}

  # No trigger: reached only by declining an offer whose on_decline
  # names it.
  - id: course-lite-downsell
    offer: {kind: downsell, product: pdt_course_lite, valid_for: 24h}
    display: {headline: "The essentials, for less"}
`

func TestParseRules(t *testing.T) {
	c, err := Parse("rules.yaml", []byte(exampleFile))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Limits(), (Limits{PerCustomer: Window{Max: 3, Per: 30 * 24 * time.Hour}}); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}
	var ids []string
	for _, r := range c.Rules() {
		ids = append(ids, r.ID)
	}
	// Priority first, then id.
	if want := []string{"basic-to-pro", "course-lite-downsell", "course-offer"}; !slices.Equal(ids, want) {
		t.Fatalf("Rules() order = %v, want %v", ids, want)
	}
	r, ok := c.Rule("basic-to-pro")
	if !ok {
		t.Fatal("Rule(basic-to-pro) missing")
	}
	want := Rule{
		ID:      "basic-to-pro",
		Line:    12,
		Trigger: Trigger{Event: "subscription.active"},
		When:    `subscription.product_id == "pdt_basic" && "USD" in customer.paid_currencies`,
		Offer: OfferSpec{Kind: offers.Upsell, Product: "pdt_pro", Quantity: 1, ChangePlan: true,
			Proration: offers.ProratedImmediately, ValidFor: 72 * time.Hour},
		Priority:  10,
		Display:   Display{Headline: "Unlock the API and SSO", Badge: "most popular"},
		OnDecline: "course-offer",
		Caps:      Caps{AfterDecline: Forever, PerCustomer: Window{Max: 1, Per: 720 * time.Hour}},
	}
	if r != want {
		t.Fatalf("Rule(basic-to-pro) =\n%+v\nwant\n%+v", r, want)
	}
	co, _ := c.Rule("course-offer")
	if co.Caps.AfterDecline != 720*time.Hour || co.Offer.Quantity != 1 || co.Offer.ChangePlan || co.Trigger.Signal != SignalOnboardingCompleted {
		t.Fatalf("Rule(course-offer) = %+v", co)
	}
	dl, _ := c.Rule("course-lite-downsell")
	if dl.Trigger != (Trigger{}) || dl.Caps.AfterDecline != Forever {
		t.Fatalf("Rule(course-lite-downsell) = %+v, want no trigger and never after decline", dl)
	}
	if _, ok := c.Rule("nope"); ok {
		t.Fatal("Rule(nope) found")
	}
	var nilCat *Catalog
	if nilCat.Rules() != nil || nilCat.Limits() != (Limits{}) {
		t.Fatal("a nil catalog must have no rules")
	}
}

// ruleFile is a catalog followed by rules; rules start on line 6.
func ruleFile(rules string) string {
	return `products:
  - {id: pdt_basic, name: Basic, tier: 1, features: [reports]}
  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, api]}
  - {id: pdt_addon, name: Addon, tier: 0, features: [addon]}
rules:
` + rules
}

func TestParseRuleErrors(t *testing.T) {
	const offer = "    offer: {kind: cross_sell, product: pdt_addon, valid_for: 1h}\n"
	tests := []struct {
		name string
		in   string
		want string // substring of the error, including file:line
	}{
		{name: "yaml syntax error", in: ruleFile("  - id: a\n    when: 'unclosed\n"), want: "rules.yaml: "},
		{name: "rules not a list", in: "rules: {a: b}\n", want: "rules.yaml:1: rules must be a list"},
		{name: "rule not a mapping", in: ruleFile("  - just-an-id\n"), want: "rules.yaml:6: rule must be a mapping"},
		{name: "unknown rule key", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    priorty: 3\n" + offer), want: `rules.yaml:8: unknown rule key "priorty"`},
		{name: "unknown offer key", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, valid_for: 1h, price: 3}\n"), want: `rules.yaml:8: rule "a": unknown offer key "price"`},
		{name: "unknown caps key", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    caps:\n      per_day: 1\n"), want: `rules.yaml:10: rule "a": unknown caps key "per_day"`},
		{name: "duplicate key", in: ruleFile("  - id: a\n    id: b\n"), want: `rules.yaml:7: rule key "id" is given twice`},
		{name: "missing id", in: ruleFile("  - trigger: {event: payment.succeeded}\n" + offer), want: "rules.yaml:6: rule id is required"},
		{name: "bad id", in: ruleFile("  - id: Big Rule\n"), want: `rules.yaml:6: rule id "Big Rule" must match`},
		{name: "duplicate rule", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "  - id: a\n    trigger: {event: payment.succeeded}\n" + offer), want: `rules.yaml:9: rule "a" is listed twice`},
		{name: "expr syntax error", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: 'payment.amount >'\n" + offer), want: `rules.yaml:8: rule "a": condition: unexpected token EOF`},
		{name: "expr unknown field", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: 'customer.plan == \"x\"'\n" + offer), want: `rules.yaml:8: rule "a": condition: type rules.CustomerFacts has no field plan (at 1:10)`},
		{name: "expr mismatched types", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: 'payment.amount == \"100\"'\n" + offer), want: `rules.yaml:8: rule "a": condition: invalid operation: == (mismatched types int64 and string)`},
		{name: "expr not boolean", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: payment.amount\n" + offer), want: `rules.yaml:8: rule "a": condition: expected bool, but got int64`},
		{name: "expr now builtin", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: 'now() > now'\n" + offer), want: `rules.yaml:8: rule "a": condition:`},
		{name: "expr keys builtin", in: ruleFile("  - id: a\n    trigger: {signal: usage_milestone}\n    when: 'keys(signal.metadata)[0] == \"x\"'\n" + offer), want: `rules.yaml:8: rule "a": condition: unknown name keys`},
		{name: "expr multi-line", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    when: |\n      payment.amount > 100 &&\n      payment.nope\n" + offer), want: `rules.yaml:8: rule "a": condition: type rules.PaymentFacts has no field nope (at 2:9)`},
		{name: "unknown event type", in: ruleFile("  - id: a\n    trigger: {event: payment.succeded}\n" + offer), want: `rules.yaml:7: rule "a": unknown Dodo event type "payment.succeded"`},
		{name: "unknown signal", in: ruleFile("  - id: a\n    trigger: {signal: bored}\n" + offer), want: `rules.yaml:7: rule "a": unknown signal "bored"`},
		{name: "event and signal", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded, signal: usage_milestone}\n" + offer), want: `rules.yaml:7: rule "a": trigger needs exactly one of event or signal`},
		{name: "empty trigger", in: ruleFile("  - id: a\n    trigger: {}\n" + offer), want: `rules.yaml:7: rule "a": trigger needs exactly one`},
		{name: "missing offer", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n"), want: `rules.yaml:6: rule "a": offer is required`},
		{name: "bad kind", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upgrade, product: pdt_pro, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": offer kind "upgrade" is not upsell, cross_sell or downsell`},
		{name: "unknown product", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_gold, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": offer product "pdt_gold" is not in products`},
		{name: "bad proration", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, change_plan: true, proration: prorated, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": proration "prorated" is not prorated_immediately`},
		{name: "proration without plan change", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, proration: do_not_bill, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": proration is only for plan changes`},
		{name: "plan change without proration", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, change_plan: true, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": change_plan needs proration`},
		{name: "cross_sell plan change", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: cross_sell, product: pdt_pro, change_plan: true, proration: do_not_bill, valid_for: 1h}\n"), want: `rule "a": a cross_sell adds a product and cannot change_plan`},
		{name: "plan change to a non-plan", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_addon, change_plan: true, proration: do_not_bill, valid_for: 1h}\n"), want: `change_plan needs a plan, and product "pdt_addon" has tier 0`},
		{name: "missing valid_for", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro}\n"), want: `rules.yaml:8: rule "a": offer valid_for is required`},
		{name: "zero valid_for", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, valid_for: 0s}\n"), want: `rules.yaml:8: rule "a": valid_for must be greater than zero`},
		{name: "bad valid_for", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, valid_for: 3 days}\n"), want: `rules.yaml:8: rule "a": valid_for: "3 days" is not a duration`},
		{name: "bad quantity", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n    offer: {kind: upsell, product: pdt_pro, quantity: 0, valid_for: 1h}\n"), want: `rules.yaml:8: rule "a": quantity must be between 1`},
		{name: "priority not an int", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    priority: high\n"), want: `rules.yaml:9: rule "a": priority: cannot unmarshal !!str ` + "`high`" + ` into int`},
		{name: "priority a list", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    priority: [1]\n"), want: `rules.yaml:9: rule "a": priority must be a single value`},
		{name: "bad after_decline", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    caps: {after_decline: sometimes}\n"), want: `rules.yaml:9: rule "a": after_decline: "sometimes" is not a duration`},
		{name: "per_customer without per", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    caps: {per_customer: {max: 2}}\n"), want: `rules.yaml:9: rule "a": per_customer needs both max and per`},
		{name: "per_customer zero max", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    caps: {per_customer: {max: 0, per: 1h}}\n"), want: `rule "a": per_customer.max must be at least 1`},
		{name: "headline too long", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    display: {headline: " + strings.Repeat("x", 1001) + "}\n"), want: `rules.yaml:9: rule "a": display headline is longer than 1000`},
		{name: "unknown display key", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    display: {title: Hi}\n"), want: `rules.yaml:9: rule "a": unknown display key "title"`},
		{name: "unknown on_decline", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    on_decline: b\n"), want: `rules.yaml:9: rule "a": on_decline rule "b" does not exist`},
		{name: "on_decline self", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    on_decline: a\n"), want: `rules.yaml:9: rule "a": on_decline loops: a -> a`},
		{name: "on_decline cycle", in: ruleFile("  - id: a\n    trigger: {event: payment.succeeded}\n" + offer + "    on_decline: b\n" +
			"  - id: b\n" + offer + "    on_decline: c\n" +
			"  - id: c\n" + offer + "    on_decline: b\n"), want: `rules.yaml:12: rule "b": on_decline loops: b -> c -> b`},
		{name: "unreachable triggerless rule", in: ruleFile("  - id: a\n" + offer), want: `rules.yaml:6: rule "a" has no trigger and no rule's on_decline leads to it`},
		{name: "limits unknown key", in: "limits: {per_month: 3}\n", want: `rules.yaml:1: unknown limits key "per_month"`},
		{name: "limits bad per", in: "limits:\n  per_customer: {max: 3, per: -1h}\n", want: `rules.yaml:2: per must be greater than zero`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rules.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q\n%s", tt.want, tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("Parse error spans lines: %q", err)
			}
		})
	}
}

// TestParseReportsEveryRule: one bad rule does not hide the next.
func TestParseReportsEveryRule(t *testing.T) {
	in := ruleFile("  - id: a\n    trigger: {event: nope.nope}\n    offer: {kind: upsell, product: pdt_pro, valid_for: 1h}\n" +
		"  - id: b\n    trigger: {event: payment.succeeded}\n    when: 'x'\n    offer: {kind: upsell, product: pdt_pro, valid_for: 1h}\n")
	_, err := Parse("rules.yaml", []byte(in))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	for _, want := range []string{`rules.yaml:7: rule "a": unknown Dodo event type`, `rules.yaml:11: rule "b": condition: unknown name x`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"72h", 72 * time.Hour, true},
		{"30d", 720 * time.Hour, true},
		{"0d", 0, true},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"99999999d", 0, false},
		{"d", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
