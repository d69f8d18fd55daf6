package rules

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/offers"
)

const evalFile = `limits:
  per_customer: {max: 5, per: 30d}
products:
  - {id: pdt_basic, name: Basic, tier: 1, features: [reports, export]}
  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, export, api, sso]}
  - {id: pdt_team, name: Team, tier: 3, features: [reports, export, api, sso, seats]}
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_lite, name: Course Lite, tier: 0, features: [course_lite]}
  - {id: pdt_addon, name: Addon, tier: 0, features: [addon]}
rules:
  # subscription.active: two plan upgrades of different priority.
  - id: basic-to-pro
    trigger: {event: subscription.active}
    when: subscription.product_id == "pdt_basic"
    offer: {kind: upsell, product: pdt_pro, change_plan: true, proration: prorated_immediately, valid_for: 72h}
    priority: 10
    display: {headline: Unlock the API and SSO, badge: most popular}
    on_decline: course-x
  - id: to-team
    trigger: {event: subscription.active}
    offer: {kind: upsell, product: pdt_team, change_plan: true, proration: difference_immediately, valid_for: 72h}
    priority: 1
  # subscription.cancelled: keep them on a cheaper plan.
  - id: pro-to-basic
    trigger: {event: subscription.cancelled}
    offer: {kind: downsell, product: pdt_basic, change_plan: true, proration: do_not_bill, valid_for: 24h}
  # payment.succeeded: two cross-sells of equal priority.
  - id: course-x
    trigger: {event: payment.succeeded}
    when: payment.amount >= 1000
    offer: {kind: cross_sell, product: pdt_course, valid_for: 1h}
    priority: 5
    on_decline: lite-down
    caps: {after_decline: 720h}
  - id: addon-x
    trigger: {event: payment.succeeded}
    when: '"USD" in customer.paid_currencies'
    offer: {kind: cross_sell, product: pdt_addon, quantity: 2, valid_for: 1h}
    priority: 5
    caps: {per_customer: {max: 2, per: 7d}}
  - id: lite-down
    offer: {kind: downsell, product: pdt_lite, valid_for: 24h}
  # Signals.
  - id: limit-pro
    trigger: {signal: plan_limit_near}
    when: signal.value >= 0.9
    offer: {kind: upsell, product: pdt_pro, change_plan: true, proration: prorated_immediately, valid_for: 72h}
  - id: boom
    trigger: {signal: usage_milestone}
    when: subscription.quantity % customer.plan_tier == 0
    offer: {kind: cross_sell, product: pdt_addon, valid_for: 1h}
    priority: 10
  - id: milestone-course
    trigger: {signal: usage_milestone}
    offer: {kind: cross_sell, product: pdt_course, valid_for: 1h}
`

var evalNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return evalNow.Add(-d) }

const day = 24 * time.Hour

func mustParse(t testing.TB, data string) *Catalog {
	t.Helper()
	c, err := Parse("rules.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// basicInput is a customer on Basic who pays in USD.
func basicInput(trigger Trigger) Input {
	return Input{
		Trigger: trigger,
		Customer: CustomerFacts{
			ID:             "cus_1",
			PaidCurrencies: []string{"USD"},
			ActiveProducts: []string{"pdt_basic"},
			PlanProduct:    "pdt_basic",
		},
		Subscription: SubscriptionFacts{ID: "sub_1", Status: "active", ProductID: "pdt_basic", Currency: "USD", Quantity: 1},
	}
}

func TestEvaluate(t *testing.T) {
	c := mustParse(t, evalFile)
	event := func(typ string) Trigger { return Trigger{Event: typ} }
	signal := func(name string) Trigger { return Trigger{Signal: name} }
	paid := func(amount int64, currency string) func(*Input) {
		return func(in *Input) {
			in.Payment = PaymentFacts{ID: "pay_1", Status: "succeeded", Amount: amount, Currency: currency}
			in.Customer.PaidCurrencies = []string{currency}
		}
	}
	tests := []struct {
		name        string
		trigger     Trigger
		edit        func(*Input)
		want        string // rule id of the offer, "" for none
		wantSkipped []Skip
		wantErrors  int
		wantLimited bool
	}{
		{name: "priority", trigger: event("subscription.active"), want: "basic-to-pro"},
		{name: "condition false falls through", trigger: event("subscription.active"),
			edit: func(in *Input) { in.Subscription.ProductID = "pdt_other" },
			want: "to-team", wantSkipped: []Skip{{"basic-to-pro", ReasonConditionFalse}}},
		{name: "tie broken by id", trigger: event("payment.succeeded"), edit: paid(5000, "USD"), want: "addon-x"},
		{name: "no condition true", trigger: event("payment.succeeded"), edit: paid(500, "EUR"),
			wantSkipped: []Skip{{"addon-x", ReasonConditionFalse}, {"course-x", ReasonConditionFalse}}},
		{name: "trigger mismatch", trigger: event("refund.succeeded")},
		{name: "signal trigger", trigger: signal("plan_limit_near"), edit: func(in *Input) { in.Signal.Value = 0.95 }, want: "limit-pro"},
		{name: "signal condition false", trigger: signal("plan_limit_near"), edit: func(in *Input) { in.Signal.Value = 0.5 },
			wantSkipped: []Skip{{"limit-pro", ReasonConditionFalse}}},
		{name: "signal is not an event", trigger: event("subscription.active"), edit: func(in *Input) { in.Trigger = signal("onboarding_completed") }},
		{name: "declined never again", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Declined = []OfferRecord{{RuleID: "addon-x", ProductID: "pdt_addon", At: ago(400 * day)}}
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonDeclined}}},
		{name: "decline of the same product by another rule", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Declined = []OfferRecord{{RuleID: "retired-rule", ProductID: "pdt_addon", At: ago(day)}}
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonDeclined}}},
		{name: "declined within window", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "EUR")(in)
				in.History.Declined = []OfferRecord{{RuleID: "course-x", ProductID: "pdt_course", At: ago(10 * day)}}
			},
			wantSkipped: []Skip{{"addon-x", ReasonConditionFalse}, {"course-x", ReasonDeclined}}},
		{name: "declined window passed", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "EUR")(in)
				in.History.Declined = []OfferRecord{{RuleID: "course-x", ProductID: "pdt_course", At: ago(31 * day)}}
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonConditionFalse}}},
		{name: "per-rule cap reached", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Shown = []OfferRecord{{RuleID: "addon-x", At: ago(day)}, {RuleID: "addon-x", At: ago(6 * day)}}
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonRuleCap}}},
		{name: "per-rule cap window passed", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Shown = []OfferRecord{{RuleID: "addon-x", At: ago(day)}, {RuleID: "addon-x", At: ago(8 * day)}}
			},
			want: "addon-x"},
		{name: "per-customer limit reached", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				for i := range 5 {
					in.History.Shown = append(in.History.Shown, OfferRecord{RuleID: fmt.Sprint("r", i), At: ago(time.Duration(i) * day)})
				}
			},
			wantLimited: true},
		{name: "per-customer limit window passed", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				for i := range 5 {
					in.History.Shown = append(in.History.Shown, OfferRecord{RuleID: fmt.Sprint("r", i), At: ago(time.Duration(i+30) * day)})
				}
			},
			want: "addon-x"},
		{name: "open offer for the product", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Open = []OpenOffer{{RuleID: "x", ProductID: "pdt_addon", ExpiresAt: evalNow.Add(time.Minute)}}
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonOpen}}},
		{name: "expired open offer", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.History.Open = []OpenOffer{{RuleID: "x", ProductID: "pdt_addon", ExpiresAt: evalNow}}
			},
			want: "addon-x"},
		{name: "owned product", trigger: event("payment.succeeded"),
			edit: func(in *Input) {
				paid(5000, "USD")(in)
				in.Customer.ActiveProducts = append(in.Customer.ActiveProducts, "pdt_addon")
			},
			want: "course-x", wantSkipped: []Skip{{"addon-x", ReasonOwned}}},
		{name: "plan change without a plan", trigger: event("subscription.active"),
			edit:        func(in *Input) { in.Customer.PlanProduct, in.Customer.ActiveProducts = "", nil },
			wantSkipped: []Skip{{"basic-to-pro", ReasonNoPlan}, {"to-team", ReasonNoPlan}}},
		{name: "upsell that is not an upgrade", trigger: event("subscription.active"),
			edit:        func(in *Input) { in.Customer.PlanProduct = "pdt_team" },
			wantSkipped: []Skip{{"basic-to-pro", ReasonNotUpgrade}, {"to-team", ReasonOwned}}},
		{name: "downsell to the plan they have", trigger: event("subscription.cancelled"),
			wantSkipped: []Skip{{"pro-to-basic", ReasonOwned}}},
		{name: "downsell that is not a downgrade", trigger: event("subscription.cancelled"),
			edit:        func(in *Input) { in.Customer.PlanProduct, in.Customer.ActiveProducts = "pdt_legacy", nil }, // not in the catalog: tier 0
			wantSkipped: []Skip{{"pro-to-basic", ReasonNotDowngrade}}},
		{name: "downsell from pro", trigger: event("subscription.cancelled"),
			edit: func(in *Input) { in.Customer.PlanProduct, in.Customer.ActiveProducts = "pdt_pro", []string{"pdt_pro"} },
			want: "pro-to-basic"},
		{name: "runtime error does not match", trigger: signal("usage_milestone"),
			edit: func(in *Input) { in.Customer.PlanProduct, in.Customer.ActiveProducts = "", nil },
			want: "milestone-course", wantSkipped: []Skip{{"boom", ReasonConditionError}}, wantErrors: 1},
		{name: "tier from the catalog", trigger: signal("usage_milestone"),
			edit: func(in *Input) { in.Customer.PlanTier = 0 }, // the catalog says 1
			want: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := basicInput(tt.trigger)
			if tt.edit != nil {
				tt.edit(&in)
			}
			d, err := c.Evaluate(in, evalNow)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			got := ""
			if d.Offer != nil {
				got = d.Offer.RuleID
			}
			if got != tt.want {
				t.Errorf("offer = %q, want %q (skipped %v, errors %v)", got, tt.want, d.Skipped, d.Errors)
			}
			if !reflect.DeepEqual(d.Skipped, tt.wantSkipped) {
				t.Errorf("skipped = %v, want %v", d.Skipped, tt.wantSkipped)
			}
			if len(d.Errors) != tt.wantErrors {
				t.Errorf("errors = %v, want %d", d.Errors, tt.wantErrors)
			}
			if d.Limited != tt.wantLimited {
				t.Errorf("limited = %v, want %v", d.Limited, tt.wantLimited)
			}
			again, _ := c.Evaluate(in, evalNow)
			if !reflect.DeepEqual(d, again) {
				t.Errorf("second evaluation differs:\n%+v\n%+v", d, again)
			}
		})
	}
}

func TestEvaluateOffer(t *testing.T) {
	c := mustParse(t, evalFile)
	tests := []struct {
		name string
		in   Input
		want Offer
	}{
		{
			name: "upgrade gains the new plan's features",
			in:   basicInput(Trigger{Event: "subscription.active"}),
			want: Offer{RuleID: "basic-to-pro", Kind: offers.Upsell, ProductID: "pdt_pro", ProductName: "Pro", Quantity: 1,
				ChangePlan: true, FromProduct: "pdt_basic", Proration: offers.ProratedImmediately, ExpiresAt: evalNow.Add(72 * time.Hour),
				Display: Display{Headline: "Unlock the API and SSO", Badge: "most popular"}, Gains: []string{"api", "sso"}, OnDecline: "course-x"},
		},
		{
			name: "downgrade loses what no other product gives",
			in: func() Input {
				in := basicInput(Trigger{Event: "subscription.cancelled"})
				in.Customer.PlanProduct = "pdt_pro"
				in.Customer.ActiveProducts = []string{"pdt_pro", "pdt_addon"}
				return in
			}(),
			want: Offer{RuleID: "pro-to-basic", Kind: offers.Downsell, ProductID: "pdt_basic", ProductName: "Basic", Quantity: 1,
				ChangePlan: true, FromProduct: "pdt_pro", Proration: offers.DoNotBill, ExpiresAt: evalNow.Add(24 * time.Hour),
				Loses: []string{"api", "sso"}},
		},
		{
			name: "cross-sell gains the product's features",
			in: func() Input {
				in := basicInput(Trigger{Event: "payment.succeeded"})
				in.Payment.Amount = 5000
				in.Customer.ActiveProducts = []string{"pdt_basic", "pdt_lite"}
				return in
			}(),
			want: Offer{RuleID: "addon-x", Kind: offers.CrossSell, ProductID: "pdt_addon", ProductName: "Addon", Quantity: 2,
				ExpiresAt: evalNow.Add(time.Hour), Gains: []string{"addon"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := c.Evaluate(tt.in, evalNow)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if d.Offer == nil {
				t.Fatalf("no offer (skipped %v, errors %v)", d.Skipped, d.Errors)
			}
			if !reflect.DeepEqual(*d.Offer, tt.want) {
				t.Fatalf("offer =\n%+v\nwant\n%+v", *d.Offer, tt.want)
			}
		})
	}
}

func TestDownsellFor(t *testing.T) {
	c := mustParse(t, evalFile)
	declined := func(ids ...string) []OfferRecord {
		var out []OfferRecord
		for _, id := range ids {
			r, _ := c.Rule(id)
			out = append(out, OfferRecord{RuleID: id, ProductID: r.Offer.Product, At: evalNow})
		}
		return out
	}
	tests := []struct {
		name        string
		rule        string
		declined    []OfferRecord
		want        string
		wantSkipped []Skip
	}{
		{name: "downsell after decline", rule: "course-x", declined: declined("course-x"), want: "lite-down"},
		{name: "chain skips a declined step", rule: "basic-to-pro", declined: declined("basic-to-pro", "course-x"),
			want: "lite-down", wantSkipped: []Skip{{"course-x", ReasonDeclined}}},
		{name: "chain condition false", rule: "basic-to-pro", declined: declined("basic-to-pro"),
			want: "lite-down", wantSkipped: []Skip{{"course-x", ReasonConditionFalse}}},
		{name: "downsell declined too", rule: "course-x", declined: declined("course-x", "lite-down"),
			wantSkipped: []Skip{{"lite-down", ReasonDeclined}}},
		{name: "no on_decline", rule: "lite-down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := basicInput(Trigger{Event: "subscription.active"})
			in.History.Declined = tt.declined
			d, err := c.DownsellFor(tt.rule, in, evalNow)
			if err != nil {
				t.Fatalf("DownsellFor: %v", err)
			}
			got := ""
			if d.Offer != nil {
				got = d.Offer.RuleID
			}
			if got != tt.want {
				t.Errorf("offer = %q, want %q (skipped %v)", got, tt.want, d.Skipped)
			}
			if !reflect.DeepEqual(d.Skipped, tt.wantSkipped) {
				t.Errorf("skipped = %v, want %v", d.Skipped, tt.wantSkipped)
			}
		})
	}
	if _, err := c.DownsellFor("nope", Input{}, evalNow); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("DownsellFor(nope) error = %v, want one naming the rule", err)
	}
	// Never again: once declined, the upgrade is not offered on the next
	// trigger either.
	in := basicInput(Trigger{Event: "subscription.active"})
	in.History.Declined = declined("basic-to-pro")
	d, _ := c.Evaluate(in, evalNow.Add(365*day))
	if d.Offer == nil || d.Offer.RuleID != "to-team" {
		t.Errorf("after decline, offer = %+v, want to-team", d.Offer)
	}
}

func TestEvaluateInput(t *testing.T) {
	c := mustParse(t, evalFile)
	for _, tr := range []Trigger{{}, {Event: "payment.succeeded", Signal: "usage_milestone"}} {
		if _, err := c.Evaluate(Input{Trigger: tr}, evalNow); err == nil {
			t.Errorf("Evaluate(trigger %v) succeeded, want an error", tr)
		}
	}
	var nilCat *Catalog
	d, err := nilCat.Evaluate(Input{Trigger: Trigger{Event: "payment.succeeded"}}, evalNow)
	if err != nil || d.Offer != nil {
		t.Errorf("nil catalog: %+v, %v; want no offer", d, err)
	}
	if _, err := nilCat.DownsellFor("x", Input{}, evalNow); err == nil {
		t.Error("nil catalog DownsellFor succeeded")
	}
}

// benchFile has n rules on payment.succeeded, all with a condition, and
// only the lowest-priority one matching: the worst case, every condition
// runs.
func benchFile(n int) string {
	var b strings.Builder
	b.WriteString("products:\n  - {id: pdt_basic, name: Basic, tier: 1, features: [reports]}\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: pdt_%d, name: P%d, tier: 0, features: [f%d, reports]}\n", i, i, i)
	}
	b.WriteString("rules:\n")
	for i := range n {
		cond := fmt.Sprintf(`payment.amount > %d && "USD" in customer.paid_currencies && subscription.product_id != "pdt_%d"`, 1_000_000+i, i)
		if i == 0 {
			cond = `"USD" in customer.paid_currencies`
		}
		fmt.Fprintf(&b, "  - id: r%03d\n    trigger: {event: payment.succeeded}\n    when: '%s'\n    offer: {kind: cross_sell, product: pdt_%d, valid_for: 1h}\n    priority: %d\n    caps: {after_decline: 720h, per_customer: {max: 3, per: 30d}}\n", i, cond, i, n-i)
	}
	return b.String()
}

func BenchmarkEvaluate(b *testing.B) {
	c := mustParse(b, benchFile(50))
	in := basicInput(Trigger{Event: "payment.succeeded"})
	in.Payment = PaymentFacts{ID: "pay_1", Amount: 5000, Currency: "USD", ProductIDs: []string{"pdt_basic"}}
	for i := range 10 {
		in.History.Shown = append(in.History.Shown, OfferRecord{RuleID: fmt.Sprint("r", i), ProductID: fmt.Sprint("pdt_", i), At: ago(time.Duration(i) * day)})
	}
	in.History.Declined = []OfferRecord{{RuleID: "r010", ProductID: "pdt_10", At: ago(40 * day)}}
	b.ReportAllocs()
	for b.Loop() {
		d, err := c.Evaluate(in, evalNow)
		if err != nil || d.Offer == nil || d.Offer.RuleID != "r000" {
			b.Fatalf("Evaluate = %+v, %v", d.Offer, err)
		}
	}
}

func TestReadsPaidCurrencies(t *testing.T) {
	c, err := Parse("rules.yaml", []byte(`products:
  - {id: pdt_a, name: A, tier: 0, features: [a]}
  - {id: pdt_b, name: B, tier: 0, features: [b]}
rules:
  - id: plain
    trigger: {event: payment.succeeded}
    when: '"pdt_a" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_b, valid_for: 1h}
  - id: reads
    trigger: {event: subscription.active}
    when: '"EUR" in customer.paid_currencies'
    offer: {kind: cross_sell, product: pdt_b, valid_for: 1h}
  - id: no-condition
    trigger: {signal: usage_milestone}
    offer: {kind: cross_sell, product: pdt_a, valid_for: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		t    Trigger
		want bool
	}{
		{"condition without it", Trigger{Event: "payment.succeeded"}, false},
		{"condition reads it", Trigger{Event: "subscription.active"}, true},
		{"no condition", Trigger{Signal: "usage_milestone"}, false},
		{"no rule", Trigger{Event: "refund.succeeded"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.ReadsPaidCurrencies(tt.t); got != tt.want {
				t.Errorf("ReadsPaidCurrencies(%+v) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
	var none *Catalog
	if none.ReadsPaidCurrencies(Trigger{Event: "payment.succeeded"}) {
		t.Error("a nil catalog reads nothing")
	}
}
