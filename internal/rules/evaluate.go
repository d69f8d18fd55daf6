package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/offerflow/offerflow/internal/offers"
)

// Input is everything an evaluation depends on besides the time.
type Input struct {
	Trigger      Trigger
	Event        EventFacts
	Customer     CustomerFacts
	Subscription SubscriptionFacts
	Payment      PaymentFacts
	Signal       SignalFacts
	History      History
}

// History is what the customer has been offered before; the caller keeps
// it (a per-customer ledger) and passes what is relevant to the longest
// cap window.
type History struct {
	// Shown are the offers shown to the customer.
	Shown []OfferRecord
	// Declined are the offers the customer declined.
	Declined []OfferRecord
	// Open are offers shown and neither accepted nor declined; those
	// that have not expired keep their product from being offered twice.
	Open []OpenOffer
}

// OfferRecord is one offer shown or declined.
type OfferRecord struct {
	RuleID    string
	ProductID string
	At        time.Time
}

// OpenOffer is an offer waiting for the customer's answer.
type OpenOffer struct {
	RuleID    string
	ProductID string
	ExpiresAt time.Time
}

// Reason says why a rule that matched the trigger was not offered.
type Reason string

// The reasons a rule is passed over.
const (
	ReasonOwned          Reason = "owned"           // the customer owns the product
	ReasonOpen           Reason = "open_offer"      // an open offer for the product
	ReasonDeclined       Reason = "declined"        // declined within after_decline
	ReasonRuleCap        Reason = "rule_cap"        // caps.per_customer reached
	ReasonNoPlan         Reason = "no_plan"         // a plan change, and no plan
	ReasonNotUpgrade     Reason = "not_an_upgrade"  // upsell to a tier <= the plan's
	ReasonNotDowngrade   Reason = "not_a_downgrade" // downsell to a tier >= the plan's
	ReasonConditionFalse Reason = "condition_false"
	ReasonConditionError Reason = "condition_error" // see Decision.Errors
)

// Skip is a rule passed over, with why.
type Skip struct {
	RuleID string
	Reason Reason
}

// RuleError is a condition that failed at run time; the rule did not
// match.
type RuleError struct {
	RuleID string
	Err    error
}

// Error implements error.
func (e RuleError) Error() string { return fmt.Sprintf("rule %q: condition: %v", e.RuleID, e.Err) }

// Unwrap returns the condition's error.
func (e RuleError) Unwrap() error { return e.Err }

// Offer is the chosen offer, with everything a frontend shows. The price
// is not here: it comes from Dodo (a plan-change preview or the product's
// price) for the customer's currency.
type Offer struct {
	RuleID      string
	Kind        offers.Kind
	ProductID   string
	ProductName string
	Quantity    int
	// ChangePlan: the offer replaces FromProduct, the customer's plan, and
	// Dodo's change-plan call takes Proration.
	ChangePlan  bool
	FromProduct string
	Proration   offers.Proration
	ExpiresAt   time.Time
	Display     Display
	// Gains are the offer product's features the customer does not have
	// from any product they own, in catalog order.
	Gains []string
	// Loses, for a plan change, are the current plan's features the new
	// plan lacks and no other owned product provides.
	Loses []string
	// OnDecline is the rule to try if the customer declines.
	OnDecline string
}

// Decision is the result of an evaluation.
type Decision struct {
	// Offer is nil when no rule applies.
	Offer *Offer
	// Limited is true when the file's limits allow no offer now.
	Limited bool
	// Skipped are the rules considered before the chosen one (all of
	// them if none was chosen), in order.
	Skipped []Skip
	// Errors are conditions that failed at run time.
	Errors []RuleError
}

// Evaluate picks at most one offer for in.Trigger at time now. It is pure:
// the same catalog, input and time give the same decision. The error is
// only for an input that cannot be evaluated; a failing condition is in
// Decision.Errors.
func (c *Catalog) Evaluate(in Input, now time.Time) (Decision, error) {
	t := in.Trigger
	if (t.Event == "") == (t.Signal == "") {
		return Decision{}, fmt.Errorf("evaluate: trigger needs exactly one of event or signal, got %s", t)
	}
	if c == nil {
		return Decision{}, nil
	}
	e := evaluation{c: c, in: &in, now: now}
	return e.run(c.byTrigger[t]), nil
}

// DownsellFor picks the offer to make after the customer declined rule
// ruleID: the first rule along its on_decline chain that passes the same
// caps and condition as in Evaluate. Triggers are not checked, the decline
// is the trigger. The caller should include the decline in in.History, so
// the declined product is suppressed. An unknown ruleID is an error.
func (c *Catalog) DownsellFor(ruleID string, in Input, now time.Time) (Decision, error) {
	r, ok := c.rulesByID(ruleID)
	if !ok {
		return Decision{}, fmt.Errorf("downsell for %q: no such rule", ruleID)
	}
	var chain []*rule
	// Load rejects cycles, so the chain ends.
	for next := r.OnDecline; next != ""; next = c.rules[next].OnDecline {
		chain = append(chain, c.rules[next])
	}
	e := evaluation{c: c, in: &in, now: now}
	return e.run(chain), nil
}

func (c *Catalog) rulesByID(id string) (*rule, bool) {
	if c == nil {
		return nil, false
	}
	r, ok := c.rules[id]
	return r, ok
}

// evaluation is one Evaluate or DownsellFor call.
type evaluation struct {
	c   *Catalog
	in  *Input
	now time.Time
}

func (e *evaluation) run(candidates []*rule) Decision {
	var d Decision
	if len(candidates) == 0 {
		return d
	}
	in := e.in
	if w := e.c.limits.PerCustomer; w.Max > 0 && countShown(in.History.Shown, "", w.Per, e.now) >= w.Max {
		d.Limited = true
		return d
	}
	env := Env{
		Event:        in.Event,
		Customer:     in.Customer,
		Subscription: in.Subscription,
		Payment:      in.Payment,
		Signal:       in.Signal,
		Now:          e.now,
	}
	env.Event.Type = in.Trigger.Event
	env.Signal.Name = in.Trigger.Signal
	if p, ok := e.c.products[in.Customer.PlanProduct]; ok {
		env.Customer.PlanTier = p.Tier
	}
	// One VM for the whole evaluation: Run resets it, and a VM per rule
	// would be most of the allocations.
	var machine vm.VM
	var envAny any = &env
	for _, r := range candidates {
		if reason := e.capped(r, &env); reason != "" {
			d.Skipped = append(d.Skipped, Skip{RuleID: r.ID, Reason: reason})
			continue
		}
		if r.prog != nil {
			ok, err := runCondition(&machine, r.prog, envAny)
			if err != nil {
				d.Errors = append(d.Errors, RuleError{RuleID: r.ID, Err: err})
				d.Skipped = append(d.Skipped, Skip{RuleID: r.ID, Reason: ReasonConditionError})
				continue
			}
			if !ok {
				d.Skipped = append(d.Skipped, Skip{RuleID: r.ID, Reason: ReasonConditionFalse})
				continue
			}
		}
		d.Offer = e.offer(r, &env)
		return d
	}
	return d
}

// runCondition runs a compiled condition; expr's VM turns panics into
// errors, and the result type was checked at compile time.
func runCondition(m *vm.VM, prog *vm.Program, env any) (bool, error) {
	out, err := m.Run(prog, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, errors.New("condition did not return a boolean")
	}
	return b, nil
}

// capped returns why r may not be offered now, or "".
func (e *evaluation) capped(r *rule, env *Env) Reason {
	h := &e.in.History
	product := r.Offer.Product
	if slices.Contains(env.Customer.ActiveProducts, product) || env.Customer.PlanProduct == product {
		return ReasonOwned
	}
	for _, o := range h.Open {
		if o.ProductID == product && o.ExpiresAt.After(e.now) {
			return ReasonOpen
		}
	}
	for _, d := range h.Declined {
		if d.RuleID != r.ID && d.ProductID != product {
			continue
		}
		// A decline dated after now (clock skew between writers) still
		// counts: the customer just said no.
		if r.Caps.AfterDecline == Forever || e.now.Sub(d.At) < r.Caps.AfterDecline {
			return ReasonDeclined
		}
	}
	if w := r.Caps.PerCustomer; w.Max > 0 && countShown(h.Shown, r.ID, w.Per, e.now) >= w.Max {
		return ReasonRuleCap
	}
	if r.Offer.ChangePlan {
		if env.Customer.PlanProduct == "" {
			return ReasonNoPlan
		}
		tier := e.c.products[product].Tier
		switch {
		case r.Offer.Kind == offers.Upsell && tier <= env.Customer.PlanTier:
			return ReasonNotUpgrade
		case r.Offer.Kind == offers.Downsell && tier >= env.Customer.PlanTier:
			return ReasonNotDowngrade
		}
	}
	return ""
}

// countShown counts the offers shown within per before now, of rule
// ruleID or, when it is empty, of any rule.
func countShown(shown []OfferRecord, ruleID string, per time.Duration, now time.Time) int {
	n := 0
	for _, s := range shown {
		if (ruleID == "" || s.RuleID == ruleID) && now.Sub(s.At) < per {
			n++
		}
	}
	return n
}

func (e *evaluation) offer(r *rule, env *Env) *Offer {
	p := e.c.products[r.Offer.Product]
	o := &Offer{
		RuleID:      r.ID,
		Kind:        r.Offer.Kind,
		ProductID:   p.ID,
		ProductName: p.Name,
		Quantity:    r.Offer.Quantity,
		ChangePlan:  r.Offer.ChangePlan,
		Proration:   r.Offer.Proration,
		ExpiresAt:   e.now.Add(r.Offer.ValidFor),
		Display:     r.Display,
		OnDecline:   r.OnDecline,
	}
	if r.Offer.ChangePlan {
		o.FromProduct = env.Customer.PlanProduct
	}
	o.Gains, o.Loses = e.c.Compare(p.ID, env.Customer.ActiveProducts, env.Customer.PlanProduct, r.Offer.ChangePlan)
	return o
}

// HasRules reports whether any rule has trigger t, so a caller can skip
// gathering facts (and calling Dodo) for an event no rule looks at.
func (c *Catalog) HasRules(t Trigger) bool {
	return c != nil && len(c.byTrigger[t]) > 0
}

// ReadsPaidCurrencies reports whether the condition of a rule that t
// triggers reads customer.paid_currencies, so that a caller that knows a
// currency the customer paid in from the trigger itself can skip reading
// their payment history when none does. It looks at the condition's text:
// a condition can reach the field by its name only.
func (c *Catalog) ReadsPaidCurrencies(t Trigger) bool {
	if c == nil {
		return false
	}
	for _, r := range c.byTrigger[t] {
		if strings.Contains(r.When, "paid_currencies") {
			return true
		}
	}
	return false
}

// HasOfferRules reports whether the file has any offer rule.
func (c *Catalog) HasOfferRules() bool {
	return c != nil && len(c.rules) > 0
}

// Compare returns what a customer who owns active (and is on plan) gains
// from productID: its features that no product they keep provides; and,
// when productID replaces the plan (changePlan), what they lose: the plan's
// features that productID lacks and no other owned product provides. Both
// in catalog order. A catalog that does not list a product knows no
// features of it.
func (c *Catalog) Compare(productID string, active []string, plan string, changePlan bool) (gains, loses []string) {
	if c == nil {
		return nil, nil
	}
	kept := map[string]bool{}
	for _, id := range active {
		if changePlan && id == plan {
			continue
		}
		for _, f := range c.products[id].Features {
			kept[f] = true
		}
	}
	var from []string
	if changePlan {
		from = c.products[plan].Features
	} else {
		for _, f := range c.products[plan].Features {
			kept[f] = true
		}
	}
	to := c.products[productID].Features
	for _, f := range to {
		if !kept[f] && !slices.Contains(from, f) {
			gains = append(gains, f)
		}
	}
	for _, f := range from {
		if !kept[f] && !slices.Contains(to, f) {
			loses = append(loses, f)
		}
	}
	return gains, loses
}
