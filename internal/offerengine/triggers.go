package offerengine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/rules"
)

// Interested reports whether OnEvent has anything to do with ev: it
// settles an offer's charge, or some rule is triggered by its type.
func (e *Engine) Interested(ev events.Event) bool {
	if _, ok := offerOfPayment(ev); ok {
		return true
	}
	return e.catalog.HasRules(rules.Trigger{Event: ev.Type})
}

// offerOfPayment returns the offer id a payment event's metadata carries.
func offerOfPayment(ev events.Event) (string, bool) {
	p, ok := ev.Payload.(*events.Payment)
	if !ok || p == nil {
		return "", false
	}
	switch ev.Type {
	case "payment.succeeded", "payment.failed", "payment.cancelled":
	default:
		return "", false
	}
	v, ok := p.Metadata[MetadataOfferID]
	if !ok || v.String() == "" {
		return "", false
	}
	return v.String(), true
}

// paymentMatchesOffer reports whether a payment webhook that names offer id
// in its metadata is that offer's charge. Metadata is whatever the creator
// of a payment wrote, so the name alone proves nothing: the payment must be
// the offer customer's, in its currency, of its product and quantity at its
// price (a one-click purchase; total with or without tax, as Dodo prices
// tax-inclusive or not) or on its subscription (a plan change, whose amount
// is Dodo's proration at the moment of the change), and the payment
// offerflow recorded at accept, where it recorded one. Anything else leaves
// the offer as it is, logged at warn and counted by reason. An unknown
// offer is left to settle (which logs it).
func (e *Engine) paymentMatchesOffer(ctx context.Context, id string, p *events.Payment) (bool, error) {
	o, _, err := e.store.Get(ctx, id)
	if errors.Is(err, natsbus.ErrOfferNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return e.matches(o, p), nil
}

// matches reports whether p is o's charge (settlementMismatch), and logs and
// counts why when it is not.
func (e *Engine) matches(o offers.Offer, p *events.Payment) bool {
	reason := settlementMismatch(o, p)
	if reason == "" {
		return true
	}
	e.metrics.settlementMismatch(reason)
	e.log.Warn("payment names an offer it does not match; offer left as it is",
		zap.String("offer_id", o.ID), zap.String("payment_id", p.PaymentID), zap.String("mismatch", reason),
		zap.String("offer_customer_id", o.CustomerID), zap.String("payment_customer_id", p.CustomerID()))
	return false
}

// settlementMismatch is why payment p is not offer o's charge, or "".
func settlementMismatch(o offers.Offer, p *events.Payment) string {
	switch {
	case p.CustomerID() != o.CustomerID:
		return "customer"
	case !strings.EqualFold(p.Currency, o.Amounts.Currency):
		return "currency"
	case o.PaymentID != "" && p.PaymentID != o.PaymentID && !o.FallbackPayment(p.PaymentID):
		return "payment_id"
	}
	if o.ChangePlan {
		// subscription_id, or one of subscription_ids (Dodo's later API).
		if !p.ChargesSubscription(o.SubscriptionID) {
			return "subscription"
		}
		return ""
	}
	if len(p.ProductCart) != 1 || p.ProductCart[0].ProductID != o.ProductID || p.ProductCart[0].Quantity != o.Quantity {
		return "product"
	}
	net := p.TotalAmount
	if p.Tax != nil {
		net -= *p.Tax
	}
	if p.TotalAmount != o.Amounts.DueNow && net != o.Amounts.DueNow {
		return "amount"
	}
	return ""
}

// OnEvent settles the offer a payment webhook names (converted or failed),
// if it is that offer's charge. It reads offerflow's own store only, never
// Dodo, so the worker's access path never waits for Dodo's rate limit.
// Safe to call again for the same webhook.
func (e *Engine) OnEvent(ctx context.Context, webhookID string, ev events.Event) error {
	if id, ok := offerOfPayment(ev); ok {
		p := ev.Payload.(*events.Payment)
		status := "failed"
		switch ev.Type {
		case "payment.succeeded":
			status = "succeeded"
		case "payment.cancelled":
			status = "cancelled"
		}
		reason := ""
		if p.ErrorMessage != nil {
			reason = *p.ErrorMessage
		} else if p.ErrorCode != nil {
			reason = *p.ErrorCode
		}
		ok, err := e.paymentMatchesOffer(ctx, id, p)
		if err != nil {
			return err
		}
		if ok {
			if err := e.settle(ctx, id, p.PaymentID, status, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// Triggers reports whether some rule is triggered by ev's type, for a
// customer: MakeOffers has something to do.
func (e *Engine) Triggers(ev events.Event) bool {
	return ev.CustomerID() != "" && e.catalog.HasRules(rules.Trigger{Event: ev.Type})
}

// MakeOffers runs the rules a Dodo webhook triggers: at most one offer,
// made, stored and published. doc is the customer's access after the
// event. It reads the customer's facts from Dodo once per trigger, not per
// rule: their payments (unless the trigger is a payment and no rule reads
// the currencies they paid in; see customerFacts), their payment methods
// once a rule chose an offer, and the product from the engine's cache.
// Safe to call again for the same webhook: the offer id derives from it,
// and a second call finds the offer made.
func (e *Engine) MakeOffers(ctx context.Context, webhookID string, ev events.Event, doc access.Doc) error {
	if !e.Triggers(ev) {
		return nil
	}
	customerID := ev.CustomerID()
	f := facts{}
	f.in.Trigger = rules.Trigger{Event: ev.Type}
	f.in.Event = rules.EventFacts{Timestamp: ev.Timestamp}
	switch p := ev.Payload.(type) {
	case *events.Payment:
		pf := rules.PaymentFacts{ID: p.PaymentID, Amount: p.TotalAmount, Currency: p.Currency}
		if p.Status != nil {
			pf.Status = *p.Status
		}
		for _, it := range p.ProductCart {
			pf.ProductIDs = append(pf.ProductIDs, it.ProductID)
		}
		f.in.Payment = pf
		if p.Billing.Country != "" && p.Billing.Zipcode != nil {
			f.billingCountry, f.billingZipcode = p.Billing.Country, *p.Billing.Zipcode
		}
		if ev.Type == "payment.succeeded" {
			f.triggerCurrency = p.Currency
		}
	case *events.Subscription:
		f.in.Subscription = rules.SubscriptionFacts{ID: p.SubscriptionID, Status: p.Status, ProductID: p.ProductID,
			Currency: p.Currency, Quantity: p.Quantity}
		if p.Billing.Country != "" && p.Billing.Zipcode != nil {
			f.billingCountry, f.billingZipcode = p.Billing.Country, *p.Billing.Zipcode
		}
	}
	if err := e.customerFacts(ctx, customerID, doc, &f); err != nil {
		return e.noOfferIfRefused(err, customerID, webhookID)
	}
	if p, ok := ev.Payload.(*events.Payment); ok && ev.Type == "payment.succeeded" && p.Currency != "" && !slices.Contains(f.in.Customer.PaidCurrencies, p.Currency) {
		// The list may not show the payment yet.
		f.in.Customer.PaidCurrencies = append(f.in.Customer.PaidCurrencies, p.Currency)
	}
	trig := offers.Trigger{Event: ev.Type, WebhookID: webhookID}
	_, err := e.make(ctx, trig, f, e.catalog.Evaluate, false)
	return e.noOfferIfRefused(err, customerID, webhookID)
}

// noOfferIfRefused turns a permanent error of making a webhook's offer
// (Dodo refused something for good, a 4xx, while reading the customer's
// facts or building the offer) into no offer: the webhook's other effects
// (access, confirmations) must not end in a dead letter for it. Other
// errors are returned, to retry.
func (e *Engine) noOfferIfRefused(err error, customerID, webhookID string) error {
	if err == nil || !fault.IsPermanent(err) {
		return err
	}
	e.log.Warn("no offer: Dodo refused", zap.String("customer_id", customerID), zap.String("webhook_id", webhookID), zap.Error(err))
	e.metrics.ineligible("", "dodo_error")
	return nil
}

// Signal is an event of the merchant's app that may trigger rules: a usage
// milestone reached, a plan limit near, onboarding completed. It is the
// JSON body of POST /v1/customers/{id}/signals and of messages on
// offerflow.signals.<customer_id>.
type Signal struct {
	// ID is the app's id for this signal, unique per customer and signal:
	// sending the same id again makes no second offer.
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	// Name is usage_milestone, plan_limit_near or onboarding_completed
	// (the rules file's signal triggers).
	Name string `json:"name"`
	// Value is the signal's measure (the milestone, or the share of the
	// plan limit used: 0.9 for 90%).
	Value    float64           `json:"value"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// At is when the app saw it; empty means when offerflow received it.
	At time.Time `json:"at,omitzero"`
}

var signalID = regexp.MustCompile(`^[A-Za-z0-9_.:\-]{1,128}$`)

// SignalMsgID is the Nats-Msg-Id of a customer's signal: scoped by the
// customer, since the app chooses the id, and another customer's signal
// with the same id must not be dropped as a duplicate.
func SignalMsgID(customerID, id string) string {
	return "signal." + customerID + "." + id
}

// Validate reports what is wrong with a signal from outside.
func (s Signal) Validate() error {
	var errs []error
	if !signalID.MatchString(s.ID) {
		errs = append(errs, errors.New("id must be 1..128 characters of [A-Za-z0-9_.:-]"))
	}
	if !validCustomerID(s.CustomerID) {
		errs = append(errs, errors.New("customer_id must be 1..128 printable ASCII characters, no spaces"))
	}
	switch s.Name {
	case rules.SignalUsageMilestone, rules.SignalPlanLimitNear, rules.SignalOnboardingCompleted:
	default:
		errs = append(errs, fmt.Errorf("name %q: want %s, %s or %s", s.Name,
			rules.SignalUsageMilestone, rules.SignalPlanLimitNear, rules.SignalOnboardingCompleted))
	}
	if len(s.Metadata) > 50 {
		errs = append(errs, errors.New("metadata holds at most 50 keys"))
	}
	return errors.Join(errs...)
}

// validCustomerID applies the one rule for outside ids (events.CheckID).
func validCustomerID(s string) bool { return events.CheckID("id", s) == nil }

// OnSignal runs the rules a signal triggers. Safe to call again for the
// same signal id.
func (e *Engine) OnSignal(ctx context.Context, s Signal) (*offers.Offer, error) {
	if err := s.Validate(); err != nil {
		return nil, fault.Permanent(fmt.Errorf("signal: %w", err))
	}
	if !e.catalog.HasRules(rules.Trigger{Signal: s.Name}) {
		return nil, nil
	}
	doc, _, err := e.access.Get(ctx, s.CustomerID)
	if err != nil {
		return nil, err
	}
	f := facts{}
	f.in.Trigger = rules.Trigger{Signal: s.Name}
	f.in.Signal = rules.SignalFacts{Value: s.Value, Metadata: s.Metadata}
	if err := e.customerFacts(ctx, s.CustomerID, doc, &f); err != nil {
		return nil, err
	}
	return e.make(ctx, offers.Trigger{Signal: s.Name, SignalID: s.ID}, f, e.catalog.Evaluate, false)
}

// Request is the merchant backend's ask for a priced offer of one product
// (POST /v1/customers/{id}/offers): the customer clicked "upgrade" or
// "downgrade", or looks at an add-on, and the app wants to show the real
// amount before they confirm.
type Request struct {
	// ID makes the request idempotent: the same id returns the same offer.
	ID string `json:"request_id"`
	// ProductID is the product wanted.
	ProductID string `json:"product_id"`
	// Quantity defaults to 1.
	Quantity int `json:"quantity,omitempty"`
	// Proration is the plan change's mode when ProductID is a plan (the
	// customer has a subscription and the product is recurring): one of
	// Dodo's four; default prorated_immediately.
	Proration offers.Proration `json:"proration,omitempty"`
	// ValidFor is how long the offer stays open, e.g. "30m"; default 30m,
	// at most 7 days.
	ValidFor string `json:"valid_for,omitempty"`
}

// Request limits.
const (
	DefaultRequestValidity = 30 * time.Minute
	MaxRequestValidity     = 7 * 24 * time.Hour
)

// Validate reports what is wrong with a request from outside, and returns
// its validity.
func (r Request) Validate() (time.Duration, error) {
	var errs []error
	if !signalID.MatchString(r.ID) {
		errs = append(errs, errors.New("request_id must be 1..128 characters of [A-Za-z0-9_.:-]"))
	}
	if !validCustomerID(r.ProductID) {
		errs = append(errs, errors.New("product_id must be 1..128 printable ASCII characters, no spaces"))
	}
	if r.Quantity < 0 || r.Quantity > 1000 {
		errs = append(errs, errors.New("quantity must be 1..1000"))
	}
	switch r.Proration {
	case "", offers.ProratedImmediately, offers.DifferenceImmediately, offers.FullImmediately, offers.DoNotBill:
	default:
		errs = append(errs, fmt.Errorf("proration %q: want prorated_immediately, difference_immediately, full_immediately or do_not_bill", r.Proration))
	}
	valid := DefaultRequestValidity
	if r.ValidFor != "" {
		d, err := time.ParseDuration(r.ValidFor)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("valid_for %q: want a duration such as 30m", r.ValidFor))
		case d < time.Minute || d > MaxRequestValidity:
			errs = append(errs, fmt.Errorf("valid_for %s: want 1m..%s", d, MaxRequestValidity))
		default:
			valid = d
		}
	}
	return valid, errors.Join(errs...)
}

// ErrBadRequest marks an on-demand request the engine refuses as malformed.
var ErrBadRequest = errors.New("bad request")

// ErrUnknownCustomer marks an offer for a customer Dodo does not know: the
// client's mistake (404), not something a retry fixes.
var ErrUnknownCustomer = errors.New("customer unknown at Dodo")

// ErrIdempotencyConflict marks an on-demand request whose request_id the
// customer used before for a different request (another product, quantity,
// proration or validity). As with Stripe's idempotency keys, the same id
// with the same request returns the same offer, and with another request
// is refused: answering with the earlier offer would charge for what the
// client did not ask for now.
var ErrIdempotencyConflict = errors.New("request_id already used for a different request")

// requestVariant is what a request asks for, in one canonical form; part
// of its offer's id, so that a reused request_id is told apart.
func requestVariant(r Request, valid time.Duration) string {
	proration := r.Proration
	if proration == "" {
		proration = offers.ProratedImmediately
	}
	return fmt.Sprintf("product=%s quantity=%d proration=%s valid_for=%s", r.ProductID, max(r.Quantity, 1), proration, valid)
}

// OfferFor makes a priced offer of one product for a customer on the
// merchant backend's request: the same eligibility, pricing, token and
// accept path as a rule's offer. A recurring product for a customer with a
// plan is a plan change (an upsell to a higher tier, a downsell to a lower
// one, by the catalog; by price when the catalog does not list both); any
// other product is a cross-sell. Caps and declines do not apply: the
// customer asked. An open offer of the same product is returned instead of
// a second one. The error is an *Ineligible when Dodo's data rules the
// offer out.
func (e *Engine) OfferFor(ctx context.Context, customerID string, r Request) (*offers.Offer, error) {
	valid, err := r.Validate()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if !validCustomerID(customerID) {
		return nil, fmt.Errorf("%w: customer_id must be 1..128 printable ASCII characters, no spaces", ErrBadRequest)
	}
	variant := requestVariant(r, valid)
	if err := e.checkRequestID(ctx, customerID, r, variant); err != nil {
		return nil, err
	}
	doc, _, err := e.access.Get(ctx, customerID)
	if err != nil {
		return nil, err
	}
	f := facts{variant: variant}
	f.in.Trigger = rules.Trigger{Signal: "request"} // not evaluated: see decide below
	if err := e.customerFacts(ctx, customerID, doc, &f); err != nil {
		return nil, err
	}
	product, err := e.product(ctx, r.ProductID)
	if err != nil {
		if apiStatus(err) == http.StatusNotFound {
			return nil, &Ineligible{Reason: ReasonUnknownProduct, Detail: r.ProductID}
		}
		return nil, err
	}
	ro := rules.Offer{ProductID: r.ProductID, Quantity: max(r.Quantity, 1), Kind: offers.CrossSell}
	if p, ok := e.catalog.Product(r.ProductID); ok {
		ro.ProductName = p.Name
	}
	cust := f.in.Customer
	if product.IsRecurring && cust.PlanProduct != "" {
		ro.ChangePlan, ro.FromProduct = true, cust.PlanProduct
		ro.Proration = r.Proration
		if ro.Proration == "" {
			ro.Proration = offers.ProratedImmediately
		}
		ro.Kind = offers.Upsell
		if e.lowerTier(ctx, r.ProductID, cust.PlanProduct, product) {
			ro.Kind = offers.Downsell
		}
	}
	gains, loses := e.catalog.Compare(r.ProductID, cust.ActiveProducts, cust.PlanProduct, ro.ChangePlan)
	ro.Gains, ro.Loses = gains, loses
	decide := func(in rules.Input, now time.Time) (rules.Decision, error) {
		if slices.Contains(in.Customer.ActiveProducts, r.ProductID) && !ro.ChangePlan {
			return rules.Decision{}, nil
		}
		for _, o := range in.History.Open {
			if o.ProductID == r.ProductID && now.Before(o.ExpiresAt) {
				return rules.Decision{}, nil
			}
		}
		pick := ro
		pick.ExpiresAt = now.Add(valid)
		return rules.Decision{Offer: &pick}, nil
	}
	// An open offer for the product is the answer.
	open, err := e.OpenOffers(ctx, customerID)
	if err != nil {
		return nil, err
	}
	for i := range open {
		if open[i].ProductID == r.ProductID {
			return &open[i], nil
		}
	}
	o, err := e.make(ctx, offers.Trigger{Request: r.ID}, f, decide, true)
	if err != nil {
		return nil, err
	}
	if o == nil {
		if slices.Contains(cust.ActiveProducts, r.ProductID) {
			return nil, &Ineligible{Reason: ReasonOwned, Detail: r.ProductID}
		}
		return nil, &Ineligible{Reason: ReasonOpenOffer, Detail: r.ProductID}
	}
	return o, nil
}

// checkRequestID refuses a request whose request_id made an offer for a
// different request of the same customer (its id, derived from what was
// asked, differs). A replay of the same request passes, and make returns
// the offer it made before.
func (e *Engine) checkRequestID(ctx context.Context, customerID string, r Request, variant string) error {
	key := offers.Trigger{Request: r.ID}.Key()
	ix, _, err := e.store.Index(ctx, customerID)
	if err != nil {
		return err
	}
	prior := ix.ByTrigger(key)
	if len(prior) == 0 || prior[0].OfferID == offerID(customerID, key, "", variant) {
		return nil
	}
	return fmt.Errorf("%w: request_id %q made offer %s of product %s; send a new request_id for a different request",
		ErrIdempotencyConflict, r.ID, prior[0].OfferID, prior[0].ProductID)
}

// lowerTier reports whether product is below the customer's plan: by the
// catalog's tiers when it lists both, else by price per period.
func (e *Engine) lowerTier(ctx context.Context, productID, planID string, product wire.Product) bool {
	to, ok1 := e.catalog.Product(productID)
	from, ok2 := e.catalog.Product(planID)
	if ok1 && ok2 {
		return to.Tier < from.Tier
	}
	plan, err := e.product(ctx, planID)
	if err != nil {
		return false
	}
	a, ok1 := product.Price.Amount()
	b, ok2 := plan.Price.Amount()
	return ok1 && ok2 && a < b
}
