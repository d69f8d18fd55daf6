package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

// The app signals a rule can be triggered by; events come from Dodo.
const (
	SignalUsageMilestone      = "usage_milestone"
	SignalPlanLimitNear       = "plan_limit_near"
	SignalOnboardingCompleted = "onboarding_completed"
)

// Forever is Caps.AfterDecline for "never show again after a decline".
const Forever time.Duration = -1

// Trigger starts an evaluation: exactly one of a Dodo event type or an app
// signal is set. A loaded rule with neither is reachable only by decline.
type Trigger struct {
	Event  string
	Signal string
}

// String returns "event:<type>" or "signal:<name>".
func (t Trigger) String() string {
	switch {
	case t.Event != "" && t.Signal == "":
		return "event:" + t.Event
	case t.Signal != "" && t.Event == "":
		return "signal:" + t.Signal
	case t.Event == "" && t.Signal == "":
		return "none"
	}
	return "event:" + t.Event + "+signal:" + t.Signal
}

// OfferSpec is the offer part of a rule.
type OfferSpec struct {
	Kind     offers.Kind
	Product  string
	Quantity int
	// ChangePlan marks a change of the customer's subscription plan, as
	// opposed to a one-time purchase or add-on.
	ChangePlan bool
	// Proration is set exactly when ChangePlan is.
	Proration offers.Proration
	ValidFor  time.Duration
}

// Display is what the customer reads, as the merchant wrote it.
type Display struct {
	Headline string `json:"headline,omitempty"`
	Badge    string `json:"badge,omitempty"`
	Body     string `json:"body,omitempty"`
}

// Window is "at most Max in any Per"; a zero Max means no limit.
type Window struct {
	Max int
	Per time.Duration
}

// Caps limit how often a rule is offered.
type Caps struct {
	// AfterDecline is how long a decline of the rule, or of any offer of
	// the same product, suppresses it; Forever means for good.
	AfterDecline time.Duration
	PerCustomer  Window
}

// Limits apply to all rules together.
type Limits struct {
	// PerCustomer bounds the offers shown to one customer, any rule.
	PerCustomer Window
}

// Rule is one loaded offer rule.
type Rule struct {
	ID string
	// Line is the rule's line in the file, for messages.
	Line      int
	Trigger   Trigger
	When      string
	Offer     OfferSpec
	Priority  int
	Display   Display
	OnDecline string
	Caps      Caps
}

// rule is a Rule with its compiled condition; prog is nil when the rule
// has no condition.
type rule struct {
	Rule
	prog *vm.Program
}

const (
	maxWhenLen    = 4096
	maxDisplayLen = 1000
	maxQuantity   = 10000
	maxDays       = 36500
)

// exprOptions returns the compile options of every condition: a typed
// environment, a boolean result, and no builtin that depends on the clock,
// the zone database or map order, so evaluation stays deterministic.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(Env{}),
		expr.AsBool(),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("timezone"),
		expr.DisableBuiltin("keys"),
		expr.DisableBuiltin("values"),
		expr.DisableBuiltin("toPairs"),
		expr.MaxNodes(2000),
	}
}

// field is one key of a mapping with its value.
type field struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping whose keys are all known and unique,
// and returns its fields by key.
func mapping(name string, n *yaml.Node, what string, known ...string) (map[string]field, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must be a mapping with keys %s", name, n.Line, what, strings.Join(known, ", "))
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(known, k.Value) {
			return nil, fmt.Errorf("%s:%d: unknown %s key %q (known: %s)", name, k.Line, what, k.Value, strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: %s key %q is given twice", name, k.Line, what, k.Value)
		}
		out[k.Value] = field{key: k, val: v}
	}
	return out, nil
}

// decode decodes a scalar field into v, with the file and line on error.
func decode(name string, f field, v any) error {
	if f.val.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s:%d: %s must be a single value", name, f.key.Line, f.key.Value)
	}
	if err := f.val.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
		if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
			msg = msg[i+2:]
		}
		return fmt.Errorf("%s:%d: %s: %s", name, f.val.Line, f.key.Value, msg)
	}
	return nil
}

// parseDuration reads a Go duration or a whole number of days ("30d"),
// which merchants think in and Go does not parse.
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > maxDays {
			return 0, fmt.Errorf("%q is not a duration (like 90m, 72h or 30d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 90m, 72h or 30d)", s)
	}
	return v, nil
}

// positiveDuration decodes a duration field that must be > 0.
func positiveDuration(name string, f field) (time.Duration, error) {
	var s string
	if err := decode(name, f, &s); err != nil {
		return 0, err
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s:%d: %s: %w", name, f.val.Line, f.key.Value, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s:%d: %s must be greater than zero", name, f.val.Line, f.key.Value)
	}
	return d, nil
}

func parseWindow(name string, f field) (Window, error) {
	var w Window
	m, err := mapping(name, f.val, f.key.Value, "max", "per")
	if err != nil {
		return w, err
	}
	mf, ok1 := m["max"]
	pf, ok2 := m["per"]
	if !ok1 || !ok2 {
		return w, fmt.Errorf("%s:%d: %s needs both max and per", name, f.key.Line, f.key.Value)
	}
	if err := decode(name, mf, &w.Max); err != nil {
		return w, err
	}
	if w.Max < 1 {
		return w, fmt.Errorf("%s:%d: %s.max must be at least 1", name, mf.val.Line, f.key.Value)
	}
	if w.Per, err = positiveDuration(name, pf); err != nil {
		return w, err
	}
	return w, nil
}

func parseLimits(name string, n *yaml.Node) (Limits, error) {
	var l Limits
	m, err := mapping(name, n, "limits", "per_customer")
	if err != nil {
		return l, err
	}
	if f, ok := m["per_customer"]; ok {
		if l.PerCustomer, err = parseWindow(name, f); err != nil {
			return l, err
		}
	}
	return l, nil
}

// parseRule reads one rule; references to products and other rules are
// checked by linkRules once everything is read.
func parseRule(name string, n *yaml.Node, products map[string]Product) (*rule, error) {
	m, err := mapping(name, n, "rule", "id", "trigger", "when", "offer", "priority", "display", "on_decline", "caps")
	if err != nil {
		return nil, err
	}
	p := &ruleParser{name: name, r: &rule{Rule: Rule{Line: n.Line, Caps: Caps{AfterDecline: Forever}}}}
	if err := p.id(n, m); err != nil {
		return nil, err
	}
	// From here on every message names the rule.
	steps := []struct {
		key   string
		parse func(field) error
	}{
		{"trigger", p.trigger},
		{"when", p.when},
		{"offer", func(f field) error { return p.wrap(parseOffer(name, f, &p.r.Offer, products)) }},
		{"priority", func(f field) error { return p.wrap(decode(name, f, &p.r.Priority)) }},
		{"display", p.display},
		{"on_decline", p.onDecline},
		{"caps", p.caps},
	}
	for _, st := range steps {
		f, ok := m[st.key]
		if !ok {
			if st.key == "offer" {
				return nil, p.fail(n.Line, "offer is required")
			}
			continue
		}
		if err := st.parse(f); err != nil {
			return nil, err
		}
	}
	return p.r, nil
}

// ruleParser parses one rule's fields into r, and words every error with
// the file, the line and the rule.
type ruleParser struct {
	name string
	r    *rule
}

// fail is an error at line of the rule.
func (p *ruleParser) fail(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: rule %q: %s", p.name, line, p.r.ID, fmt.Sprintf(format, args...))
}

// wrap puts the rule into an error of decode or mapping, which already say
// file:line, after the line.
func (p *ruleParser) wrap(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, p.name+":"); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			return fmt.Errorf("%s:%s: rule %q: %s", p.name, rest[:i], p.r.ID, rest[i+2:])
		}
	}
	return err
}

func (p *ruleParser) id(n *yaml.Node, m map[string]field) error {
	f, ok := m["id"]
	if !ok {
		return fmt.Errorf("%s:%d: rule id is required", p.name, n.Line)
	}
	if err := decode(p.name, f, &p.r.ID); err != nil {
		return err
	}
	if !featureName.MatchString(p.r.ID) {
		return fmt.Errorf("%s:%d: rule id %q must match %s", p.name, f.val.Line, p.r.ID, featureName)
	}
	return nil
}

func (p *ruleParser) trigger(f field) error {
	tm, err := mapping(p.name, f.val, "trigger", "event", "signal")
	if err != nil {
		return p.wrap(err)
	}
	t := &p.r.Trigger
	if ef, ok := tm["event"]; ok {
		if err := decode(p.name, ef, &t.Event); err != nil {
			return p.wrap(err)
		}
		if !events.IsKnown(t.Event) {
			return p.fail(ef.val.Line, "unknown Dodo event type %q", t.Event)
		}
	}
	if sf, ok := tm["signal"]; ok {
		if err := decode(p.name, sf, &t.Signal); err != nil {
			return p.wrap(err)
		}
		switch t.Signal {
		case SignalUsageMilestone, SignalPlanLimitNear, SignalOnboardingCompleted:
		default:
			return p.fail(sf.val.Line, "unknown signal %q (known: %s, %s, %s)", t.Signal,
				SignalUsageMilestone, SignalPlanLimitNear, SignalOnboardingCompleted)
		}
	}
	if (t.Event == "") == (t.Signal == "") {
		return p.fail(f.key.Line, "trigger needs exactly one of event or signal")
	}
	return nil
}

func (p *ruleParser) when(f field) error {
	if err := decode(p.name, f, &p.r.When); err != nil {
		return p.wrap(err)
	}
	if len(p.r.When) > maxWhenLen {
		return p.fail(f.key.Line, "condition is longer than %d characters", maxWhenLen)
	}
	if strings.TrimSpace(p.r.When) == "" {
		return nil
	}
	prog, err := expr.Compile(p.r.When, exprOptions()...)
	if err != nil {
		return p.fail(f.key.Line, "condition: %s", exprMessage(err))
	}
	p.r.prog = prog
	return nil
}

func (p *ruleParser) display(f field) error {
	dm, err := mapping(p.name, f.val, "display", "headline", "badge", "body")
	if err != nil {
		return p.wrap(err)
	}
	for _, d := range []struct {
		key string
		dst *string
	}{{"headline", &p.r.Display.Headline}, {"badge", &p.r.Display.Badge}, {"body", &p.r.Display.Body}} {
		df, ok := dm[d.key]
		if !ok {
			continue
		}
		if err := decode(p.name, df, d.dst); err != nil {
			return p.wrap(err)
		}
		if len(*d.dst) > maxDisplayLen {
			return p.fail(df.val.Line, "display %s is longer than %d characters", d.key, maxDisplayLen)
		}
	}
	return nil
}

func (p *ruleParser) onDecline(f field) error {
	if err := decode(p.name, f, &p.r.OnDecline); err != nil {
		return p.wrap(err)
	}
	if p.r.OnDecline == "" {
		return p.fail(f.key.Line, "on_decline is empty")
	}
	return nil
}

func (p *ruleParser) caps(f field) error {
	cm, err := mapping(p.name, f.val, "caps", "after_decline", "per_customer")
	if err != nil {
		return p.wrap(err)
	}
	if af, ok := cm["after_decline"]; ok {
		if af.val.Kind == yaml.ScalarNode && af.val.Value == "never" {
			p.r.Caps.AfterDecline = Forever
		} else if p.r.Caps.AfterDecline, err = positiveDuration(p.name, af); err != nil {
			return p.wrap(err)
		}
	}
	if pf, ok := cm["per_customer"]; ok {
		if p.r.Caps.PerCustomer, err = parseWindow(p.name, pf); err != nil {
			return p.wrap(err)
		}
	}
	return nil
}

func parseOffer(name string, f field, o *OfferSpec, products map[string]Product) error {
	m, err := mapping(name, f.val, "offer", "kind", "product", "quantity", "change_plan", "proration", "valid_for")
	if err != nil {
		return err
	}
	kf, ok := m["kind"]
	if !ok {
		return fmt.Errorf("%s:%d: offer kind is required (upsell, cross_sell or downsell)", name, f.key.Line)
	}
	if err := decode(name, kf, &o.Kind); err != nil {
		return err
	}
	switch o.Kind {
	case offers.Upsell, offers.CrossSell, offers.Downsell:
	default:
		return fmt.Errorf("%s:%d: offer kind %q is not upsell, cross_sell or downsell", name, kf.val.Line, o.Kind)
	}
	pf, ok := m["product"]
	if !ok {
		return fmt.Errorf("%s:%d: offer product is required", name, f.key.Line)
	}
	if err := decode(name, pf, &o.Product); err != nil {
		return err
	}
	p, ok := products[o.Product]
	if !ok {
		return fmt.Errorf("%s:%d: offer product %q is not in products", name, pf.val.Line, o.Product)
	}
	o.Quantity = 1
	if qf, ok := m["quantity"]; ok {
		if err := decode(name, qf, &o.Quantity); err != nil {
			return err
		}
		if o.Quantity < 1 || o.Quantity > maxQuantity {
			return fmt.Errorf("%s:%d: quantity must be between 1 and %d", name, qf.val.Line, maxQuantity)
		}
	}
	if cf, ok := m["change_plan"]; ok {
		if err := decode(name, cf, &o.ChangePlan); err != nil {
			return err
		}
	}
	prf, hasProration := m["proration"]
	if hasProration {
		if err := decode(name, prf, &o.Proration); err != nil {
			return err
		}
	}
	switch {
	case o.ChangePlan && o.Kind == offers.CrossSell:
		return fmt.Errorf("%s:%d: a cross_sell adds a product and cannot change_plan", name, m["change_plan"].val.Line)
	case o.ChangePlan && p.Tier < 1:
		return fmt.Errorf("%s:%d: change_plan needs a plan, and product %q has tier 0", name, m["change_plan"].val.Line, p.ID)
	case o.ChangePlan && !hasProration:
		return fmt.Errorf("%s:%d: change_plan needs proration (%s, %s, %s or %s)", name, m["change_plan"].val.Line,
			offers.ProratedImmediately, offers.DifferenceImmediately, offers.FullImmediately, offers.DoNotBill)
	case !o.ChangePlan && hasProration:
		return fmt.Errorf("%s:%d: proration is only for plan changes (change_plan: true)", name, prf.val.Line)
	}
	if hasProration {
		switch o.Proration {
		case offers.ProratedImmediately, offers.DifferenceImmediately, offers.FullImmediately, offers.DoNotBill:
		default:
			return fmt.Errorf("%s:%d: proration %q is not %s, %s, %s or %s", name, prf.val.Line, o.Proration,
				offers.ProratedImmediately, offers.DifferenceImmediately, offers.FullImmediately, offers.DoNotBill)
		}
	}
	vf, ok := m["valid_for"]
	if !ok {
		return fmt.Errorf("%s:%d: offer valid_for is required (like 72h)", name, f.key.Line)
	}
	if o.ValidFor, err = positiveDuration(name, vf); err != nil {
		return err
	}
	return nil
}

// exprMessage keeps expr's reason and position on one line; its own
// Error() adds a multi-line snippet that reads badly in a startup log.
func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Line > 0 {
			return fmt.Sprintf("%s (at %d:%d)", fe.Message, fe.Line, fe.Column+1)
		}
		return fe.Message
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// linkRules checks on_decline references and cycles, that every rule
// without a trigger is reachable by decline, and orders the rules.
func (c *Catalog) linkRules(name string, parsed []*rule, onDeclineLine map[string]int) []error {
	var errs []error
	reached := map[string]bool{}
	for _, r := range parsed {
		if r.OnDecline == "" {
			continue
		}
		if _, ok := c.rules[r.OnDecline]; !ok {
			errs = append(errs, fmt.Errorf("%s:%d: rule %q: on_decline rule %q does not exist", name, onDeclineLine[r.ID], r.ID, r.OnDecline))
			continue
		}
		reached[r.OnDecline] = true
	}
	if len(errs) > 0 {
		return errs
	}
	// Each rule has at most one on_decline, so following it from every
	// rule finds every cycle; report each cycle once, at its first rule.
	reported := map[string]bool{}
	for _, r := range parsed {
		path := []string{r.ID}
		seen := map[string]bool{r.ID: true}
		for next := r.OnDecline; next != ""; next = c.rules[next].OnDecline {
			path = append(path, next)
			if next == r.ID {
				if !reported[r.ID] {
					for _, id := range path {
						reported[id] = true
					}
					errs = append(errs, fmt.Errorf("%s:%d: rule %q: on_decline loops: %s", name, onDeclineLine[r.ID], r.ID, strings.Join(path, " -> ")))
				}
				break
			}
			if seen[next] {
				break // a cycle further down; reported from one of its rules
			}
			seen[next] = true
		}
	}
	for _, r := range parsed {
		if r.Trigger == (Trigger{}) && !reached[r.ID] {
			errs = append(errs, fmt.Errorf("%s:%d: rule %q has no trigger and no rule's on_decline leads to it", name, r.Line, r.ID))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	c.ordered = slices.Clone(parsed)
	slices.SortFunc(c.ordered, func(a, b *rule) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	c.byTrigger = map[Trigger][]*rule{}
	for _, r := range c.ordered {
		if r.Trigger != (Trigger{}) {
			c.byTrigger[r.Trigger] = append(c.byTrigger[r.Trigger], r)
		}
	}
	return nil
}

// Rules returns the rules in evaluation order: priority, highest first,
// then id.
func (c *Catalog) Rules() []Rule {
	if c == nil {
		return nil
	}
	out := make([]Rule, 0, len(c.ordered))
	for _, r := range c.ordered {
		out = append(out, r.Rule)
	}
	return out
}

// Rule returns a rule by id.
func (c *Catalog) Rule(id string) (Rule, bool) {
	if c == nil {
		return Rule{}, false
	}
	r, ok := c.rules[id]
	if !ok {
		return Rule{}, false
	}
	return r.Rule, true
}

// Limits returns the file's limits across rules.
func (c *Catalog) Limits() Limits {
	if c == nil {
		return Limits{}
	}
	return c.limits
}
