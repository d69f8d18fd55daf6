package offerengine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/tracing"
)

// Ineligible says why an offer a rule (or the merchant's backend) chose
// cannot be made. It is not an error of the engine: the trigger is handled,
// with no offer.
type Ineligible struct {
	Reason string
	Detail string
}

// Error implements error, for the on-demand API's answer.
func (e *Ineligible) Error() string {
	if e.Detail == "" {
		return "not eligible: " + e.Reason
	}
	return "not eligible: " + e.Reason + ": " + e.Detail
}

// Reasons an offer is not eligible.
const (
	ReasonCurrencyMismatch = "currency_mismatch"      // the product's currency is not one the customer paid in
	ReasonNoSubscription   = "no_active_subscription" // a plan change without an active subscription
	ReasonPendingChange    = "pending_plan_change"    // the subscription has a scheduled or pending change
	ReasonSamePlan         = "same_plan"              // the customer is on that plan already
	ReasonUnknownProduct   = "unknown_product"        // Dodo does not know the product
	ReasonNoPrice          = "no_price"               // the product has no fixed price
	ReasonOpenOffer        = "open_offer"             // another open offer for the product
	ReasonOwned            = "owned"                  // the customer owns the product
)

// facts are what a trigger knows about the customer, for the rules and
// for pricing.
type facts struct {
	in rules.Input
	// planSubscription is the subscription of Customer.PlanProduct.
	planSubscription string
	// billingCountry and billingZipcode are the customer's billing
	// address, if the trigger or a past payment tells.
	billingCountry, billingZipcode string
	// variant is what an on-demand request asked for (requestVariant),
	// part of its offer's id; empty for every other trigger.
	variant string
	// triggerCurrency is the currency of the payment that triggered the
	// rules, if one did: a currency the customer has paid in.
	triggerCurrency string
	// paidPartial says in.Customer.PaidCurrencies holds only
	// triggerCurrency: the customer's payments were not read, since no
	// rule of the trigger reads them (see customerFacts).
	paidPartial bool
}

// customerFacts builds what the rules know of a customer from their access
// document and, when configured, their past payments at Dodo.
func (e *Engine) customerFacts(ctx context.Context, customerID string, doc access.Doc, f *facts) error {
	c := &f.in.Customer
	c.ID = customerID
	view := doc.View(nil)
	for _, p := range view.Products {
		if p.Status == access.Active {
			c.ActiveProducts = append(c.ActiveProducts, p.ProductID)
		}
	}
	// The plan is the active subscription's product; with several, the
	// one of highest tier in the catalog (then the newest event).
	bestTier := -1
	var bestAt time.Time
	for _, s := range doc.Sources {
		if s.Kind != access.KindSubscription || s.State != access.Active || len(s.Products) == 0 {
			continue
		}
		tier := 0
		if p, ok := e.catalog.Product(s.Products[0]); ok {
			tier = p.Tier
		}
		if tier > bestTier || (tier == bestTier && s.EventAt.After(bestAt)) {
			bestTier, bestAt = tier, s.EventAt
			c.PlanProduct, f.planSubscription = s.Products[0], s.ID
		}
	}
	if !e.cfg.FetchPaidCurrencies {
		return nil
	}
	if f.triggerCurrency != "" && f.billingZipcode != "" && !e.catalog.ReadsPaidCurrencies(f.in.Trigger) {
		// A payment triggered the rules: its currency is one the
		// customer paid in and its billing address is known, and no
		// rule's condition looks at the others. The payments are read
		// only if the offer is priced in another currency (build).
		// Half an offer's Dodo calls, so twice the offers within
		// Dodo's rate limit.
		c.PaidCurrencies = []string{f.triggerCurrency}
		f.paidPartial = true
		return nil
	}
	pays, err := e.paidPayments(ctx, customerID)
	if err != nil {
		return err
	}
	for _, p := range pays {
		if p.Currency != "" && !slices.Contains(c.PaidCurrencies, p.Currency) {
			c.PaidCurrencies = append(c.PaidCurrencies, p.Currency)
		}
	}
	if f.billingZipcode == "" && len(pays) > 0 {
		// The list omits the billing address; the newest payment has it.
		p, err := e.dodo.GetPayment(ctx, pays[0].PaymentID)
		if err != nil {
			return fmt.Errorf("payment %s of %s: %w", pays[0].PaymentID, customerID, err)
		}
		if p.Billing.Zipcode != nil {
			f.billingCountry, f.billingZipcode = p.Billing.Country, *p.Billing.Zipcode
		}
	}
	return nil
}

// paidPayments lists the customer's succeeded payments, newest first (one
// page: enough to learn the currencies they pay in).
func (e *Engine) paidPayments(ctx context.Context, customerID string) ([]wire.Payment, error) {
	pays, err := e.dodo.ListPayments(ctx, dodo.ListPaymentsParams{CustomerID: customerID, Status: "succeeded", PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list payments of %s: %w", customerID, err)
	}
	return pays, nil
}

// history turns the index into what the rules' caps read.
func history(ix offers.Index) rules.History {
	var h rules.History
	for _, en := range ix.Entries {
		h.Shown = append(h.Shown, rules.OfferRecord{RuleID: en.RuleID, ProductID: en.ProductID, At: en.CreatedAt})
		switch en.State {
		case offers.Declined:
			h.Declined = append(h.Declined, rules.OfferRecord{RuleID: en.RuleID, ProductID: en.ProductID, At: en.ChangedAt})
		case offers.Open:
			h.Open = append(h.Open, rules.OpenOffer{RuleID: en.RuleID, ProductID: en.ProductID, ExpiresAt: en.ExpiresAt})
		}
	}
	return h
}

// decider chooses an offer for the facts and history at a time.
type decider func(in rules.Input, now time.Time) (rules.Decision, error)

// errSuperseded: between choosing an offer and noting it, another offer
// for the same customer changed what the rules choose.
var errSuperseded = errors.New("superseded by a concurrent offer")

// make runs one trigger: at most one offer, stored, indexed and published.
// It returns the offer made (or made before for the same trigger), nil when
// none applies, or an error to retry. An *Ineligible error is returned only
// when returnIneligible is set (the on-demand API wants the reason).
func (e *Engine) make(ctx context.Context, trig offers.Trigger, f facts, decide decider, returnIneligible bool) (*offers.Offer, error) {
	customerID := f.in.Customer.ID
	ix, _, err := e.store.Index(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if prior := ix.ByTrigger(trig.Key()); len(prior) > 0 {
		return e.madeBefore(ctx, customerID, prior[0].OfferID)
	}
	now := e.now()
	f.in.History = history(ix)
	d, err := decide(f.in, now)
	if err != nil {
		return nil, fault.Permanent(err)
	}
	for _, s := range d.Skipped {
		e.metrics.skip(s.RuleID, string(s.Reason))
	}
	for _, re := range d.Errors {
		e.log.Warn("rule condition failed", zap.String("rule", re.RuleID), zap.Error(re.Err))
	}
	if d.Offer == nil {
		return nil, nil
	}
	id := offerID(customerID, trig.Key(), d.Offer.RuleID, f.variant)
	o, err := e.build(ctx, id, trig, d.Offer, f, now)
	var inel *Ineligible
	if errors.As(err, &inel) {
		e.metrics.ineligible(d.Offer.RuleID, inel.Reason)
		e.log.Info("offer not eligible", zap.String("rule", d.Offer.RuleID), zap.String("customer_id", customerID),
			zap.String("reason", inel.Reason), zap.String("detail", inel.Detail))
		if returnIneligible {
			return nil, err
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o.TraceParent = tracing.TraceParent(ctx)
	fresh := true
	switch err := e.store.Create(ctx, o); {
	case errors.Is(err, natsbus.ErrOfferExists):
		// Made by an earlier attempt that died before noting it.
		if o, _, err = e.store.Get(ctx, id); err != nil {
			return nil, err
		}
		fresh = false
	case err != nil:
		return nil, err
	}
	if noted, err := e.noteNew(ctx, o, f, d.Offer, decide, now); err != nil || !noted {
		return nil, err
	}
	if err := e.count(ctx, o, offers.Open); err != nil {
		e.log.Warn("count offer", zap.String("offer_id", o.ID), zap.Error(err))
	}
	e.metrics.count(o, offers.Open)
	if fresh {
		// This call created it: nothing of it was published, and no one
		// outside knows its id before it is, so no one can have moved it
		// on. Publish the creation without reading the store's mark
		// first (one read less per offer).
		if err := e.publish(ctx, o); err != nil {
			return nil, err
		}
		return &o, e.store.MarkPublished(ctx, o.ID, o.State)
	}
	if err := e.publishState(ctx, o); err != nil {
		return nil, err
	}
	return &o, nil
}

// madeBefore answers a trigger handled before (a redelivery, a retried
// request): its offer was made already; make sure it was published.
func (e *Engine) madeBefore(ctx context.Context, customerID, id string) (*offers.Offer, error) {
	o, _, err := e.store.Get(ctx, id)
	if errors.Is(err, natsbus.ErrOfferNotFound) {
		// Made so long ago that its retention ran out: the trigger
		// was handled, and makes nothing now.
		e.log.Info("trigger handled before; its offer is no longer stored", zap.String("offer_id", id), zap.String("customer_id", customerID))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := e.publishState(ctx, o); err != nil {
		return nil, err
	}
	return &o, nil
}

// noteNew notes a new offer in its customer's index, unless the rules,
// re-run on the index as it is now, no longer choose it: another trigger of
// the same customer made an offer in the meantime (for the same product, or
// one that uses up a cap). The index write is the point where concurrent
// triggers of one customer are ordered. A superseded offer was never
// published nor indexed, so nobody can see it: it is removed, and noteNew
// reports false.
func (e *Engine) noteNew(ctx context.Context, o offers.Offer, f facts, chosen *rules.Offer, decide decider, now time.Time) (bool, error) {
	_, err := e.store.UpdateIndex(ctx, o.CustomerID, func(cur offers.Index) (offers.Index, bool, error) {
		if slices.ContainsFunc(cur.Entries, func(en offers.IndexEntry) bool { return en.OfferID == o.ID }) {
			next, changed := cur.Note(o, now)
			return next, changed, nil
		}
		in := f.in
		in.History = history(cur)
		again, err := decide(in, now)
		if err != nil {
			return cur, false, err
		}
		if again.Offer == nil || again.Offer.RuleID != chosen.RuleID || again.Offer.ProductID != chosen.ProductID {
			return cur, false, errSuperseded
		}
		next, _ := cur.Note(o, now)
		return next, true, nil
	})
	if !errors.Is(err, errSuperseded) {
		return err == nil, err
	}
	e.log.Info("offer superseded", zap.String("offer_id", o.ID), zap.String("customer_id", o.CustomerID))
	if derr := e.store.Delete(ctx, o.ID); derr != nil {
		e.log.Warn("delete superseded offer", zap.String("offer_id", o.ID), zap.Error(derr))
	}
	return false, nil
}

// publishState publishes o's current state, and its creation first if that
// was never published, once each: the offer store remembers the last state
// published, so a transition repeated without a change (a second decline,
// a redelivered trigger) publishes nothing, however long after. A crash
// between a publish and its mark republishes under the same message id,
// which JetStream de-duplicates within its window.
func (e *Engine) publishState(ctx context.Context, o offers.Offer) error {
	last, err := e.store.Published(ctx, o.ID)
	if err != nil {
		return err
	}
	if last == o.State || last != "" && stateRank(o.State) <= stateRank(last) {
		// Published already, or a later state is (a slow accept call
		// after the payment's webhook converted the offer).
		return nil
	}
	if o.State != offers.Open && last == "" {
		first := o
		first.State, first.History = offers.Open, o.History[:1]
		if err := e.publish(ctx, first); err != nil {
			return err
		}
	}
	if err := e.publish(ctx, o); err != nil {
		return err
	}
	return e.store.MarkPublished(ctx, o.ID, o.State)
}

// stateRank orders an offer's states as they follow each other: open,
// accepted, failed (a failed charge can still be paid on the fallback
// page), then an end (charged, declined, expired).
func stateRank(s offers.State) int {
	switch s {
	case offers.Open:
		return 0
	case offers.Accepted:
		return 1
	case offers.Failed:
		return 2
	}
	return 3
}

// build checks an offer's eligibility against Dodo and prices it.
func (e *Engine) build(ctx context.Context, id string, trig offers.Trigger, r *rules.Offer, f facts, now time.Time) (offers.Offer, error) {
	c := f.in.Customer
	o := offers.Offer{
		ID: id, CustomerID: c.ID, RuleID: r.RuleID, Kind: r.Kind, ProductID: r.ProductID,
		ProductName: r.ProductName, Quantity: max(r.Quantity, 1), ExpiresAt: r.ExpiresAt,
		Display: offers.Display{Headline: r.Display.Headline, Badge: r.Display.Badge},
		Gains:   r.Gains, Loses: r.Loses, Trigger: trig, OnDecline: r.OnDecline,
		BillingCountry: f.billingCountry, BillingZipcode: f.billingZipcode,
	}
	product, err := e.product(ctx, r.ProductID)
	if err != nil {
		if apiStatus(err) == http.StatusNotFound {
			return o, &Ineligible{Reason: ReasonUnknownProduct, Detail: r.ProductID}
		}
		return o, fmt.Errorf("product %s: %w", r.ProductID, err)
	}
	if o.ProductName == "" && product.Name != nil {
		o.ProductName = *product.Name
	}
	price, ok := product.Price.Amount()
	if !ok {
		return o, &Ineligible{Reason: ReasonNoPrice, Detail: r.ProductID}
	}
	o.Amounts = offers.Amounts{Currency: product.Price.Currency, Price: price * int64(o.Quantity)}
	methods, err := e.dodo.ListPaymentMethods(ctx, c.ID)
	if apiStatus(err) == http.StatusNotFound {
		return o, fmt.Errorf("payment methods of %s: %w: %w", c.ID, ErrUnknownCustomer, err)
	}
	if err != nil {
		return o, fmt.Errorf("payment methods of %s: %w", c.ID, err)
	}
	if r.ChangePlan {
		return e.buildPlanChange(ctx, o, r, f, methods, now)
	}
	if f.paidPartial && !slices.Contains(c.PaidCurrencies, o.Amounts.Currency) {
		// Only the trigger's currency is known (customerFacts): learn
		// the others before calling it a mismatch.
		pays, err := e.paidPayments(ctx, c.ID)
		if err != nil {
			return o, err
		}
		for _, p := range pays {
			if p.Currency != "" && !slices.Contains(c.PaidCurrencies, p.Currency) {
				c.PaidCurrencies = append(c.PaidCurrencies, p.Currency)
			}
		}
	}
	if len(c.PaidCurrencies) > 0 && !slices.Contains(c.PaidCurrencies, o.Amounts.Currency) {
		return o, &Ineligible{Reason: ReasonCurrencyMismatch,
			Detail: fmt.Sprintf("%s is priced in %s; the customer has paid in %v", r.ProductID, o.Amounts.Currency, c.PaidCurrencies)}
	}
	o.Amounts.DueNow = o.Amounts.Price
	// A confirmed checkout needs the billing country and zipcode; without
	// them the checkout page asks the customer.
	if pm, ok := usableMethod(methods, "", now); ok && o.BillingCountry != "" && o.BillingZipcode != "" {
		o.OneClick, o.PaymentMethodID, o.Card = true, pm.PaymentMethodID, card(pm)
		return offers.New(o, now)
	}
	// No saved method can be charged off-session: the offer links to a
	// standard checkout instead, and the payment made there carries the
	// offer id, so it converts the offer like a one-click charge.
	url, err := e.fallbackCheckout(ctx, o)
	if err != nil {
		return o, err
	}
	_, usable := usableMethod(methods, "", now)
	o.Fallback = offers.Fallback{CheckoutURL: url, UpdatePaymentMethod: len(methods) > 0 && !usable}
	return offers.New(o, now)
}

func (e *Engine) buildPlanChange(ctx context.Context, o offers.Offer, r *rules.Offer, f facts, methods []wire.CustomerPaymentMethod, now time.Time) (offers.Offer, error) {
	if f.planSubscription == "" {
		return o, &Ineligible{Reason: ReasonNoSubscription}
	}
	sub, err := e.dodo.GetSubscription(ctx, f.planSubscription)
	switch {
	case apiStatus(err) == http.StatusNotFound || apiStatus(err) == http.StatusUnprocessableEntity:
		// Dodo does not know it (the spec answers 422 for an unknown id).
		return o, &Ineligible{Reason: ReasonNoSubscription, Detail: err.Error()}
	case err != nil:
		return o, fmt.Errorf("subscription %s: %w", f.planSubscription, err)
	}
	switch {
	case sub.Status != wire.SubscriptionActive:
		return o, &Ineligible{Reason: ReasonNoSubscription, Detail: sub.SubscriptionID + " is " + sub.Status}
	case sub.ScheduledChange != nil:
		return o, &Ineligible{Reason: ReasonPendingChange, Detail: "a change to " + sub.ScheduledChange.ProductID + " is scheduled"}
	case sub.ProductID == r.ProductID && sub.Quantity == o.Quantity:
		return o, &Ineligible{Reason: ReasonSamePlan, Detail: sub.ProductID}
	case sub.Currency != o.Amounts.Currency:
		return o, &Ineligible{Reason: ReasonCurrencyMismatch,
			Detail: fmt.Sprintf("%s is priced in %s; the subscription is billed in %s", r.ProductID, o.Amounts.Currency, sub.Currency)}
	}
	o.ChangePlan, o.FromProductID, o.SubscriptionID, o.Proration = true, sub.ProductID, sub.SubscriptionID, r.Proration
	preview, err := e.dodo.PreviewChangePlan(ctx, sub.SubscriptionID, e.changeRequest(o))
	if err != nil {
		if apiStatus(err) == http.StatusConflict {
			return o, &Ineligible{Reason: ReasonPendingChange, Detail: err.Error()}
		}
		return o, fmt.Errorf("preview plan change of %s: %w", sub.SubscriptionID, err)
	}
	o.Amounts = planAmounts(o.Amounts, sub, preview)
	o.OneClick = true
	if o.Amounts.DueNow > 0 {
		// Dodo charges the subscription's own payment method.
		subPM := ""
		if sub.PaymentMethodID != nil {
			subPM = *sub.PaymentMethodID
		}
		pm, ok := usableMethod(methods, subPM, now)
		if !ok || !sub.ChargeableOffSession() {
			// Accepting would fail at Dodo (no usable card, or Dodo
			// says none is on file): offer the change only after the
			// customer updates the card.
			o.OneClick = false
			o.Fallback = offers.Fallback{UpdatePaymentMethod: true}
		} else {
			o.Card, o.PaymentMethodID = card(pm), pm.PaymentMethodID
		}
	}
	return offers.New(o, now)
}

// planAmounts fills a plan change's amounts from Dodo's preview: what is
// due now, the credit for the unused part of the current plan (the
// negative proration lines), the credit Dodo keeps for later renewals, and
// the difference in price per period.
func planAmounts(a offers.Amounts, sub wire.Subscription, p wire.ChangePlanPreview) offers.Amounts {
	a.DueNow = max(p.ImmediateCharge.Summary.TotalAmount, 0)
	for _, li := range p.ImmediateCharge.LineItems {
		if li.UnitPrice == nil || *li.UnitPrice >= 0 {
			continue
		}
		q, f := 1, 1.0
		if li.Quantity != nil {
			q = *li.Quantity
		}
		if li.ProrationFactor != nil {
			f = *li.ProrationFactor
		}
		a.Credit += int64(float64(-*li.UnitPrice*int64(q))*f + 0.5)
	}
	a.CreditKept = max(p.ImmediateCharge.Summary.CustomerCredits, 0)
	a.CurrentPrice = sub.RecurringPreTaxAmount
	a.PriceDifference = a.Price - a.CurrentPrice
	return a
}

// changeRequest is the change-plan call (and its preview) for o: effective
// now, and prevent_change so a failed payment leaves the old plan in place.
func (e *Engine) changeRequest(o offers.Offer) dodo.ChangePlanRequest {
	return dodo.ChangePlanRequest{
		ProductID: o.ProductID, Quantity: o.Quantity, ProrationBillingMode: o.Proration,
		EffectiveAt: dodo.EffectiveImmediately, OnPaymentFailure: dodo.PreventChange,
		Metadata: wire.Metadata{MetadataOfferID: wire.StringValue(o.ID), dodo.IdempotencyMetadataKey: wire.StringValue(o.ID)},
	}
}

// fallbackCheckout creates a standard checkout for o's product, for a
// customer without a usable saved method or whose one-click charge failed.
func (e *Engine) fallbackCheckout(ctx context.Context, o offers.Offer) (string, error) {
	s, err := e.dodo.CreateCheckout(ctx, dodo.FallbackCheckout(dodo.Fallback{
		CustomerID: o.CustomerID, ProductID: o.ProductID, Quantity: o.Quantity, Country: o.BillingCountry, Zipcode: o.BillingZipcode,
		ReturnURL: e.cfg.ReturnURL, ShowSavedPaymentMethods: true,
		Metadata: wire.Metadata{MetadataOfferID: wire.StringValue(o.ID)},
	}))
	if err != nil {
		return "", fmt.Errorf("fallback checkout for offer %s: %w", o.ID, err)
	}
	if s.CheckoutURL == nil || *s.CheckoutURL == "" {
		return "", fmt.Errorf("fallback checkout for offer %s: Dodo returned no checkout_url", o.ID)
	}
	return *s.CheckoutURL, nil
}

// usableMethod picks the payment method a one-click charge may use: want
// if given (it must be in the list: the list is the customer's own), else
// the most recently used. It must not be an expired card, and Dodo must not
// have said it cannot be charged off-session (recurring_enabled false).
func usableMethod(methods []wire.CustomerPaymentMethod, want string, now time.Time) (wire.CustomerPaymentMethod, bool) {
	var best wire.CustomerPaymentMethod
	found := false
	for _, pm := range methods {
		if want != "" && pm.PaymentMethodID != want {
			continue
		}
		if pm.RecurringEnabled != nil && !*pm.RecurringEnabled {
			continue
		}
		if cardExpired(pm.Card, now) {
			continue
		}
		if !found || lastUsed(pm).After(lastUsed(best)) {
			best, found = pm, true
		}
	}
	return best, found
}

func lastUsed(pm wire.CustomerPaymentMethod) time.Time {
	if pm.LastUsedAt == nil {
		return time.Time{}
	}
	return *pm.LastUsedAt
}

// cardExpired reports whether a card's expiry (month and year, strings in
// Dodo's API: "4" or "04", "2027" or "27") is before now's month. A card
// without a readable expiry is not called expired: Dodo will say.
func cardExpired(c *wire.CardSummary, now time.Time) bool {
	if c == nil || c.ExpiryMonth == nil || c.ExpiryYear == nil {
		return false
	}
	m, err1 := strconv.Atoi(*c.ExpiryMonth)
	y, err2 := strconv.Atoi(*c.ExpiryYear)
	if err1 != nil || err2 != nil || m < 1 || m > 12 || y < 0 {
		return false
	}
	if y < 100 {
		y += 2000
	}
	now = now.UTC()
	return y < now.Year() || (y == now.Year() && m < int(now.Month()))
}

func card(pm wire.CustomerPaymentMethod) offers.Card {
	var c offers.Card
	if pm.Card == nil {
		return c
	}
	if pm.Card.CardNetwork != nil {
		c.Brand = *pm.Card.CardNetwork
	}
	if pm.Card.Last4Digits != nil && len(*pm.Card.Last4Digits) == 4 {
		c.Last4 = *pm.Card.Last4Digits
	}
	return c
}

// apiStatus is the HTTP status of a Dodo API error, or 0.
func apiStatus(err error) int {
	var ae *dodo.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}
