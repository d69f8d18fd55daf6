package standin

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// changePlanRequest is the spec's UpdateSubscriptionPlanReq, the body of
// both the preview and the change.
type changePlanRequest struct {
	ProductID            string          `json:"product_id"`
	Quantity             *int            `json:"quantity"`
	ProrationBillingMode string          `json:"proration_billing_mode"`
	Addons               json.RawMessage `json:"addons"`
	EffectiveAt          *string         `json:"effective_at"`
	OnPaymentFailure     *string         `json:"on_payment_failure"`
	DiscountCode         *string         `json:"discount_code"`
	DiscountCodes        []string        `json:"discount_codes"`
	Metadata             json.RawMessage `json:"metadata"`
	AdaptiveCurrencyFees json.RawMessage `json:"adaptive_currency_fees_inclusive"`
}

// plan is a checked plan change and what it costs.
type plan struct {
	sub         *subRec
	from, to    *Product
	quantity    int
	mode        string
	scheduled   bool // effective_at next_billing_date
	onFailure   string
	metadata    json.RawMessage // for the payment
	now         time.Time
	prorate     proration
	creditUsed  int64 // from the subscription's credit balance
	amount      int64 // charged now, after credits
	periodStart time.Time
	periodEnd   time.Time
}

// planFor decodes and checks a change-plan request for the subscription in
// the path, and prices it. It takes s.mu and returns with it held, unless it
// fails.
func (s *Server) planFor(r *http.Request) (*plan, error) {
	var req changePlanRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Quantity == nil || *req.Quantity < 1 || *req.Quantity > maxAmount {
		return nil, invalidf("quantity: must be 1 to %d", maxAmount)
	}
	if !slices.Contains([]string{ProratedImmediately, DifferenceImmediately, FullImmediately, DoNotBill}, req.ProrationBillingMode) {
		return nil, invalidf("proration_billing_mode %q: want prorated_immediately, full_immediately, difference_immediately or do_not_bill", req.ProrationBillingMode)
	}
	scheduled := false
	if req.EffectiveAt != nil {
		switch *req.EffectiveAt {
		case "immediately":
		case "next_billing_date":
			scheduled = true
		default:
			return nil, invalidf("effective_at %q: want immediately or next_billing_date", *req.EffectiveAt)
		}
	}
	onFailure := s.cfg.OnPaymentFailure
	if req.OnPaymentFailure != nil {
		if *req.OnPaymentFailure != PreventChange && *req.OnPaymentFailure != ApplyChange {
			return nil, invalidf("on_payment_failure %q: want prevent_change or apply_change", *req.OnPaymentFailure)
		}
		onFailure = *req.OnPaymentFailure
	}
	if len(req.Addons) > 0 && string(req.Addons) != "null" && string(req.Addons) != "[]" {
		return nil, invalidf("addons: the stand-in's products have no addons")
	}
	if len(req.DiscountCodes) > 0 || (req.DiscountCode != nil && *req.DiscountCode != "") {
		return nil, invalidf("discount codes: the stand-in knows none")
	}
	var metadata json.RawMessage
	if len(req.Metadata) > 0 && string(req.Metadata) != "null" {
		m, err := parseMetadata(req.Metadata)
		if err != nil {
			return nil, err
		}
		metadata = m
	}

	s.mu.Lock()
	pl, err := s.price(r.PathValue("subscription_id"), req, scheduled, onFailure, metadata)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return pl, nil
}

// price checks the change against the subscription and prices it. The
// caller holds s.mu.
func (s *Server) price(subID string, req changePlanRequest, scheduled bool, onFailure string, metadata json.RawMessage) (*plan, error) {
	sub, ok := s.subs[subID]
	if !ok {
		return nil, notFoundf("subscription %s not found", subID)
	}
	to, ok := s.products[req.ProductID]
	if !ok {
		return nil, notFoundf("product %s not found", req.ProductID)
	}
	from := s.products[sub.ProductID]
	switch {
	case !to.Recurring:
		return nil, invalidf("product %s is not a subscription product", to.ID)
	case to.Currency != from.Currency:
		// Judgement: Dodo does not document a currency change; the
		// subscription's currency is kept, as Stripe and Paddle do.
		return nil, invalidf("product %s is priced in %s, the subscription in %s", to.ID, to.Currency, from.Currency)
	case sub.Status != StatusActive:
		return nil, errorf(http.StatusUnprocessableEntity, "INACTIVE_SUBSCRIPTION_PLAN_CHANGE_NOT_SUPPORTED",
			"subscription %s is %s; only an active subscription can change plan", sub.ID, sub.Status)
	case sub.CancelAtNextBillingDate:
		return nil, errorf(http.StatusUnprocessableEntity, "PLAN_CHANGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION",
			"subscription %s is cancelled at its next billing date", sub.ID)
	case scheduled && req.ProrationBillingMode != FullImmediately:
		return nil, errorf(http.StatusUnprocessableEntity, "INVALID_PRORATION_MODE_WITH_NEXT_BILLING_DATE",
			"effective_at next_billing_date needs proration_billing_mode full_immediately, not %s", req.ProrationBillingMode)
	}
	if metadata == nil {
		metadata = sub.metadata // "If not passed, the metadata of the subscription will be taken"
	}
	pl := &plan{
		sub: sub, from: from, to: to, quantity: *req.Quantity, mode: req.ProrationBillingMode,
		scheduled: scheduled, onFailure: onFailure, metadata: metadata, now: s.now(),
		periodStart: sub.PeriodStart, periodEnd: sub.PeriodEnd,
	}
	if scheduled {
		// Nothing now; the renewal at next_billing_date bills the new plan.
		return pl, nil
	}
	pl.prorate = prorate(pl.mode, from.Price*int64(sub.Quantity), to.Price*int64(pl.quantity), sub.PeriodStart, sub.PeriodEnd, pl.now)
	if pl.prorate.ResetCycle {
		pl.periodStart, pl.periodEnd = pl.now, addInterval(pl.now, to.Interval, to.IntervalCount)
	}
	pl.creditUsed = min(sub.Credit, pl.prorate.Charge)
	pl.amount = pl.prorate.Charge - pl.creditUsed
	if pl.amount > maxAmount {
		return nil, invalidf("charge %d exceeds the largest amount, %d", pl.amount, maxAmount)
	}
	return pl, nil
}

// effectiveAt is when the change takes effect.
func (pl *plan) effectiveAt() time.Time {
	if pl.scheduled {
		return pl.sub.PeriodEnd
	}
	return pl.now
}

// previewChangePlan is POST /subscriptions/{id}/change-plan/preview: what
// the change would charge now, and the subscription after it. It changes
// nothing.
//
// customer_credits is, as the spec describes it, negative for credits
// taken from the subscription's balance to pay the charge and positive for
// a downgrade's credit. Judgement: the line items are the new plan's price
// and, where the mode credits the old plan, the old plan's price as a
// negative unit_price, each with its proration_factor, so that they add up
// to the charge before credits.
func (s *Server) previewChangePlan(r *http.Request) (any, error) {
	pl, err := s.planFor(r)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sub := *pl.sub
	newPlan := s.subscription(&sub, pl.from, sub.Quantity)
	if pl.scheduled {
		newPlan.ScheduledChange = &wire.ScheduledPlanChange{
			ID: "", ProductID: pl.to.ID, ProductName: optional(pl.to.Name), ProductDescription: optional(pl.to.Description),
			Quantity: pl.quantity, Addons: []wire.ScheduledAddon{}, EffectiveAt: pl.effectiveAt(), CreatedAt: pl.now,
		}
	} else {
		sub.PeriodStart, sub.PeriodEnd = pl.periodStart, pl.periodEnd
		newPlan = s.subscription(&sub, pl.to, pl.quantity)
	}
	cur := pl.to.Currency
	out := wire.ChangePlanPreview{
		NewPlan: newPlan,
		ImmediateCharge: wire.ImmediateCharge{
			EffectiveAt: pl.effectiveAt(),
			Summary: wire.LineItemSummary{
				TotalAmount: pl.amount, Currency: cur, SettlementAmount: pl.amount, SettlementCurrency: cur,
				CustomerCredits: pl.prorate.Credit - pl.creditUsed,
			},
			LineItems: []wire.LineItem{},
		},
	}
	line := func(p *Product, qty int, unit int64, factor float64) wire.LineItem {
		return wire.LineItem{
			Type: "subscription", ID: pl.sub.ID, ProductID: &p.ID, Name: optional(p.Name), Description: optional(p.Description),
			Quantity: &qty, UnitPrice: &unit, Currency: cur, ProrationFactor: &factor,
		}
	}
	if !pl.scheduled && pl.mode != DoNotBill {
		out.ImmediateCharge.LineItems = append(out.ImmediateCharge.LineItems, line(pl.to, pl.quantity, pl.to.Price, pl.prorate.NewFactor))
		if pl.prorate.OldFactor > 0 {
			out.ImmediateCharge.LineItems = append(out.ImmediateCharge.LineItems, line(pl.from, pl.sub.Quantity, -pl.from.Price, pl.prorate.OldFactor))
		}
	}
	return out, nil
}

// changePlan is POST /subscriptions/{id}/change-plan. The spec (v1.113.0)
// has no body for its 200; Dodo answers one since (docs/dodo-drift.md),
// and so does the stand-in: the payment_id of the charge the change made,
// null without one; payment_link, client_secret and expires_on are always
// null, as the stand-in has no collect_via_payment_link.
//
//   - effective_at next_billing_date: the change goes into scheduled_change
//     and nothing is charged; subscription.updated is sent (judgement: Dodo
//     does not say which webhook a scheduled change sends). RenewDue applies
//     it and sends subscription.plan_changed.
//   - immediately, with an amount due after credits: the subscription's
//     saved card is charged (a payment with subscription_id set).
//     Succeeded: the plan switches; payment.succeeded,
//     subscription.plan_changed and subscription.active are sent (the
//     docs' plan-change guide lists active for a successful change).
//     Failed with prevent_change: the plan stays, the change is pending
//     (409 PENDING_PLAN_CHANGE_EXISTS to the next request until
//     ResolvePendingChange), and only payment.failed is sent. Failed with
//     apply_change: the plan switches and the subscription goes on_hold;
//     payment.failed, subscription.plan_changed and subscription.on_hold
//     are sent.
//   - immediately, nothing due: the plan switches; a downgrade's credit
//     goes to the subscription's balance; subscription.plan_changed and
//     subscription.active are sent.
func (s *Server) changePlan(r *http.Request) (any, error) {
	pl, err := s.planFor(r)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	sub := pl.sub
	switch {
	case sub.PendingChange != nil:
		return nil, errorf(http.StatusConflict, "PENDING_PLAN_CHANGE_EXISTS",
			"subscription %s has a plan change pending its payment", sub.ID)
	case sub.ScheduledChange != nil:
		// Judgement: a scheduled change has to be cancelled (DELETE
		// .../change-plan/scheduled) before another change; 409 as for a
		// pending change.
		return nil, errorf(http.StatusConflict, "SCHEDULED_PLAN_CHANGE_EXISTS",
			"subscription %s has a plan change scheduled for %s", sub.ID, sub.ScheduledChange.EffectiveAt.Format(time.RFC3339))
	}
	change := &PlanChange{ID: s.newID("spc"), ProductID: pl.to.ID, Quantity: pl.quantity, EffectiveAt: pl.effectiveAt(), CreatedAt: pl.now}
	if pl.scheduled {
		sub.ScheduledChange = change
		s.out.enqueue([]event{s.subscriptionEvent("subscription.updated", sub)})
		return wire.ChangePlanResult{}, nil
	}
	if pl.amount == 0 {
		pl.apply()
		s.out.enqueue([]event{s.subscriptionEvent("subscription.plan_changed", sub), s.subscriptionEvent("subscription.active", sub)})
		return wire.ChangePlanResult{}, nil
	}
	card, _ := s.findCard(sub.PaymentMethodID)
	if card == nil {
		return nil, errorf(http.StatusUnprocessableEntity, "NO_ELIGIBLE_PAYMENT_METHODS",
			"subscription %s has no saved payment method to charge %d %s", sub.ID, pl.amount, pl.to.Currency)
	}
	p := s.charge(charge{
		customerID: sub.CustomerID, subscriptionID: sub.ID, card: card, amount: pl.amount, currency: pl.to.Currency,
		billing: s.subBilling(sub), metadata: pl.metadata,
	})
	switch {
	case p.Status == PaymentSucceeded:
		pl.apply()
		s.out.enqueue([]event{s.paymentEvent(p), s.subscriptionEvent("subscription.plan_changed", sub), s.subscriptionEvent("subscription.active", sub)})
	case pl.onFailure == PreventChange:
		sub.PendingChange = change
		s.out.enqueue([]event{s.paymentEvent(p)})
	default:
		pl.creditUsed = 0 // nothing was paid, so no credit was spent on it
		pl.apply()
		sub.Status = StatusOnHold
		s.out.enqueue([]event{s.paymentEvent(p), s.subscriptionEvent("subscription.plan_changed", sub), s.subscriptionEvent("subscription.on_hold", sub)})
	}
	return wire.ChangePlanResult{PaymentID: &p.ID}, nil
}

// apply switches the subscription to the new plan and settles its credit.
func (pl *plan) apply() {
	sub := pl.sub
	sub.ProductID, sub.Quantity = pl.to.ID, pl.quantity
	sub.PeriodStart, sub.PeriodEnd = pl.periodStart, pl.periodEnd
	sub.Credit += pl.prorate.Credit - pl.creditUsed
}

// cancelScheduledChange is DELETE /subscriptions/{id}/change-plan/scheduled:
// 204, 404 when nothing is scheduled, and 422 for an unknown subscription,
// as the spec has it. It sends subscription.updated.
func (s *Server) cancelScheduledChange(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[r.PathValue("subscription_id")]
	if !ok {
		return nil, invalidf("subscription %s not found", r.PathValue("subscription_id"))
	}
	if sub.ScheduledChange == nil {
		return nil, notFoundf("subscription %s has no scheduled plan change", sub.ID)
	}
	sub.ScheduledChange = nil
	s.out.enqueue([]event{s.subscriptionEvent("subscription.updated", sub)})
	return noContent{http.StatusNoContent}, nil
}

// RenewDue bills, as Dodo's scheduler would, every active subscription
// whose next_billing_date is not after Now(), one period at a time, and
// returns how many periods it renewed. For each renewal it:
//
//   - ends the subscription (status cancelled, subscription.cancelled) if
//     it was to be cancelled at its next billing date;
//   - applies a scheduled plan change (subscription.plan_changed);
//   - takes the period's price, less the subscription's credit balance,
//     from the saved card; with nothing due after credits no payment is
//     created (judgement: Dodo does not say whether a $0 renewal makes a
//     payment);
//   - on success starts the next period (payment.succeeded if charged,
//     subscription.renewed); on failure, or without a card, puts the
//     subscription on hold (payment.failed, subscription.on_hold), or
//     past_due with Config.PastDueGrace (subscription.past_due);
//   - puts on hold every past_due subscription whose grace period has
//     ended (subscription.on_hold).
//
// Each renewal's webhooks are one batch, as for an API call.
func (s *Server) RenewDue() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ids := make([]string, 0, len(s.subs))
	for id := range s.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	renewed := 0
	for _, id := range ids {
		sub := s.subs[id]
		s.endGrace(sub, now)
		for sub.Status == StatusActive && !sub.PeriodEnd.After(now) {
			if s.renew(sub) {
				renewed++
			}
		}
	}
	return renewed
}

// renew bills one renewal of sub and reports whether a new period started.
// The caller holds s.mu.
func (s *Server) renew(sub *subRec) bool {
	if sub.CancelAtNextBillingDate {
		sub.Status, sub.cancelledAt = StatusCancelled, ptr(s.now())
		s.out.enqueue([]event{s.subscriptionEvent("subscription.cancelled", sub)})
		return false
	}
	var batch, changed []event
	if c := sub.ScheduledChange; c != nil && !c.EffectiveAt.After(sub.PeriodEnd) {
		sub.ProductID, sub.Quantity, sub.ScheduledChange = c.ProductID, c.Quantity, nil
		changed = append(changed, s.subscriptionEvent("subscription.plan_changed", sub))
	}
	p := s.products[sub.ProductID]
	due := p.Price * int64(sub.Quantity)
	used := min(sub.Credit, due)
	if due -= used; due > 0 {
		card, _ := s.findCard(sub.PaymentMethodID)
		if card == nil {
			s.out.enqueue(append(changed, s.renewalFailed(sub)))
			return false
		}
		pay := s.charge(charge{
			customerID: sub.CustomerID, subscriptionID: sub.ID, card: card, amount: due, currency: p.Currency,
			billing: s.subBilling(sub), metadata: sub.metadata,
		})
		if pay.Status != PaymentSucceeded {
			// The payment event is built before the status change shows in
			// the subscription events, as Dodo's would be.
			batch = append(batch, s.paymentEvent(pay))
			batch = append(batch, changed...)
			s.out.enqueue(append(batch, s.renewalFailed(sub)))
			return false
		}
		batch = append(batch, s.paymentEvent(pay))
	}
	sub.Credit -= used
	sub.PeriodStart, sub.PeriodEnd = sub.PeriodEnd, addInterval(sub.PeriodEnd, p.Interval, p.IntervalCount)
	batch = append(batch, changed...)
	s.out.enqueue(append(batch, s.subscriptionEvent("subscription.renewed", sub)))
	return true
}
