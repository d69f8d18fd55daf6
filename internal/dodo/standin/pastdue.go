package standin

import (
	"fmt"
	"net/http"
	"time"
)

// past_due, the status Dodo added after spec v1.113.0 (docs/dodo-drift.md,
// from its TypeScript SDK 2.52.0): a renewal failed, and for the
// business's grace period (past_due_ends_at) Dodo retries the payment and
// the customer may pay or change the card; then the subscription goes
// on_hold or cancelled. The SDK gives the shapes, not the rules, so the
// stand-in chooses (judgement, listed in docs/dodo.md):
//
//   - a failed renewal goes past_due only with Config.PastDueGrace; the
//     events are payment.failed and subscription.past_due;
//   - when the grace period ends (at the next RenewDue), the subscription
//     goes on_hold (subscription.on_hold), never cancelled;
//   - PastDue puts an active subscription past_due directly, without a
//     payment (POST /_standin/subscriptions/{id}/past_due);
//   - Recover is Dodo's retry of the renewal (or the customer paying it):
//     the subscription's card, or a card given, is charged for the
//     renewal; success starts the next period and sends payment.succeeded
//     (retry_attempt 1 and up), subscription.active and
//     subscription.renewed; failure sends payment.failed and leaves the
//     status. It recovers an on_hold subscription the same way.

// DefaultPastDueGrace is the grace period of POST
// /_standin/subscriptions/{id}/past_due without grace_seconds. Dodo's
// default is not documented.
const DefaultPastDueGrace = 7 * 24 * time.Hour

// renewalFailed moves sub, whose renewal charge failed or had no card, to
// past_due (with Config.PastDueGrace) or on_hold, and returns the
// subscription's webhook. The caller holds s.mu.
func (s *Server) renewalFailed(sub *subRec) event {
	if s.cfg.PastDueGrace > 0 {
		s.pastDue(sub, s.cfg.PastDueGrace)
		return s.subscriptionEvent("subscription.past_due", sub)
	}
	sub.Status = StatusOnHold
	return s.subscriptionEvent("subscription.on_hold", sub)
}

// pastDue sets sub past_due for grace from now. The caller holds s.mu.
func (s *Server) pastDue(sub *subRec, grace time.Duration) {
	sub.Status, sub.pastDueEndsAt = StatusPastDue, ptr(s.now().Add(grace))
}

// endGrace puts sub on hold if it is past_due and its grace period has
// ended by now. The caller holds s.mu.
func (s *Server) endGrace(sub *subRec, now time.Time) {
	if sub.Status != StatusPastDue || sub.pastDueEndsAt == nil || sub.pastDueEndsAt.After(now) {
		return
	}
	sub.Status, sub.pastDueEndsAt = StatusOnHold, nil
	s.out.enqueue([]event{s.subscriptionEvent("subscription.on_hold", sub)})
}

// PastDue puts an active subscription past_due for grace, as a failed
// renewal with a grace period would, and sends subscription.past_due. No
// payment is made.
func (s *Server) PastDue(subscriptionID string, grace time.Duration) error {
	if grace <= 0 {
		return fmt.Errorf("past due %s: grace %v: want more than zero", subscriptionID, grace)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[subscriptionID]
	switch {
	case !ok:
		return fmt.Errorf("past due: subscription %s not found", subscriptionID)
	case sub.Status != StatusActive:
		return fmt.Errorf("past due %s: status %s, want active", subscriptionID, sub.Status)
	}
	s.pastDue(sub, grace)
	s.out.enqueue([]event{s.subscriptionEvent("subscription.past_due", sub)})
	return nil
}

// hasCard reports whether sub has a saved card to charge: its
// has_payment_method. The caller holds s.mu.
func (s *Server) hasCard(sub *subRec) bool {
	card, _ := s.findCard(sub.PaymentMethodID)
	return card != nil
}

// pastDueRequest is the body of POST /_standin/subscriptions/{id}/past_due.
type pastDueRequest struct {
	GraceSeconds *int64 `json:"grace_seconds"`
}

// putPastDue is POST /_standin/subscriptions/{subscription_id}/past_due:
// PastDue over HTTP, grace_seconds defaulting to DefaultPastDueGrace.
// Answers the subscription.
func (s *Server) putPastDue(r *http.Request) (any, error) {
	var req pastDueRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	grace := DefaultPastDueGrace
	if req.GraceSeconds != nil {
		if *req.GraceSeconds < 1 || *req.GraceSeconds > int64(maxAdvance/time.Second) {
			return nil, invalidf("grace_seconds %d: want 1 to %d (five years)", *req.GraceSeconds, int64(maxAdvance/time.Second))
		}
		grace = time.Duration(*req.GraceSeconds) * time.Second
	}
	id := r.PathValue("subscription_id")
	s.mu.Lock()
	sub, ok := s.subs[id]
	active := ok && sub.Status == StatusActive
	s.mu.Unlock()
	switch {
	case !ok:
		return nil, notFoundf("subscription %s not found", id)
	case !active:
		return nil, errorf(http.StatusConflict, "SUBSCRIPTION_NOT_ACTIVE", "subscription %s is not active", id)
	}
	if err := s.PastDue(id, grace); err != nil {
		return nil, errorf(http.StatusConflict, "SUBSCRIPTION_NOT_ACTIVE", "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscription(sub, s.products[sub.ProductID], sub.Quantity), nil
}

// recoverSubscription is POST /_standin/subscriptions/{subscription_id}/recover:
// Recover over HTTP, on the subscription's card or on the card given
// (payment_method_id or card, as for POST /_standin/checkouts/{id}/complete).
// Answers the payment.
func (s *Server) recoverSubscription(r *http.Request) (any, error) {
	var req payRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.recoverWith(r.PathValue("subscription_id"), req)
	if err != nil {
		return nil, err
	}
	return s.payment(p), nil
}

// Recover retries the failed renewal of a past_due (or on_hold)
// subscription, as Dodo's retry, or the customer paying it, would: on
// paymentMethodID, a saved card of the customer's that becomes the
// subscription's, or on the subscription's own card when it is "". It
// returns the payment, succeeded (the subscription is active again) or
// failed (it stays as it was).
func (s *Server) Recover(subscriptionID, paymentMethodID string) (Payment, error) {
	var req payRequest
	if paymentMethodID != "" {
		req.PaymentMethodID = &paymentMethodID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.recoverWith(subscriptionID, req)
	if err != nil {
		return Payment{}, fmt.Errorf("recover %s: %w", subscriptionID, err)
	}
	return p.snapshot(), nil
}

// recoverWith is Recover with req's card. The caller holds s.mu.
func (s *Server) recoverWith(id string, req payRequest) (*payRec, error) {
	sub, ok := s.subs[id]
	if !ok {
		return nil, notFoundf("subscription %s not found", id)
	}
	if sub.Status != StatusPastDue && sub.Status != StatusOnHold {
		return nil, errorf(http.StatusConflict, "SUBSCRIPTION_NOT_PAST_DUE", "subscription %s is %s; only a past_due or on_hold one is recovered", sub.ID, sub.Status)
	}
	card, _ := s.findCard(sub.PaymentMethodID)
	if req.PaymentMethodID != nil || req.Card != nil {
		c, err := s.payingCard(s.customers[sub.CustomerID], req)
		if err != nil {
			return nil, err
		}
		card = c
	}
	if card == nil {
		return nil, errorf(http.StatusUnprocessableEntity, "NO_ELIGIBLE_PAYMENT_METHODS", "subscription %s has no card; give payment_method_id or card", sub.ID)
	}
	sub.PaymentMethodID = card.ID
	return s.recover(sub, card), nil
}

// recover charges sub's renewal to card, as a retry, and on success makes
// it active and starts its next period. The caller holds s.mu.
func (s *Server) recover(sub *subRec, card *Card) *payRec {
	p := s.products[sub.ProductID]
	due := p.Price * int64(sub.Quantity)
	used := min(sub.Credit, due)
	sub.retries++
	pay := s.charge(charge{
		customerID: sub.CustomerID, subscriptionID: sub.ID, card: card, amount: due - used, currency: p.Currency,
		billing: s.subBilling(sub), metadata: sub.metadata,
	})
	pay.retryAttempt = sub.retries
	if pay.Status != PaymentSucceeded {
		s.out.enqueue([]event{s.paymentEvent(pay)})
		return pay
	}
	sub.Credit -= used
	sub.Status, sub.pastDueEndsAt, sub.retries = StatusActive, nil, 0
	sub.PeriodStart, sub.PeriodEnd = sub.PeriodEnd, addInterval(sub.PeriodEnd, p.Interval, p.IntervalCount)
	s.out.enqueue([]event{s.paymentEvent(pay), s.subscriptionEvent("subscription.active", sub), s.subscriptionEvent("subscription.renewed", sub)})
	return pay
}
