package offerengine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/offertoken"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/tracing"
)

// Auth is who asks to accept or decline: the merchant's backend with the
// server token (Server), or the customer's browser with the offer's token.
type Auth struct {
	Server bool
	Token  string
}

// Errors of Accept and Decline, for the API's status codes; test with
// errors.Is. Refused transitions come as *offers.TransitionError
// (offers.ErrNotOpen, offers.ErrExpired, ...).
var (
	// ErrUnauthorized: neither the server token nor a valid offer token
	// (malformed, forged, signed with an unknown key).
	ErrUnauthorized = errors.New("no valid token")
	// ErrForbidden: a genuine offer token that does not allow this (it is
	// for another offer or customer).
	ErrForbidden = errors.New("token does not allow this")
	// ErrTokenExpired: the offer token has expired.
	ErrTokenExpired = errors.New("offer token expired")
	// ErrTokenUsed: the offer token accepted before.
	ErrTokenUsed = errors.New("offer token already used")
)

// Outcome is what an accept did, for the answer.
type Outcome string

// Accept outcomes.
const (
	// Charged: Dodo took the payment (or applied the plan change).
	OutcomeCharged Outcome = "charged"
	// Pending: the charge is under way (Dodo has not said how it ended,
	// or the customer must act); offers.converted or offers.failed
	// follows.
	OutcomePending Outcome = "pending"
	// Failed: the charge failed; Fallback says what the customer can do.
	// It is not retried.
	OutcomeFailed Outcome = "failed"
	// Checkout: the offer has no one-click charge; the customer pays on
	// Dodo's page at Fallback.CheckoutURL.
	OutcomeCheckout Outcome = "checkout"
)

// Result is the answer to an accept or a decline.
type Result struct {
	Outcome Outcome      `json:"outcome,omitempty"`
	Offer   offers.Offer `json:"offer"`
	// Downsell is the offer a decline made, with its accept token.
	Downsell *Message `json:"downsell,omitempty"`
}

// authorize checks auth against offer o, and for an accept uses the token
// up; it returns the nonce it used ("" for the server token or no use).
func (e *Engine) authorize(ctx context.Context, o offers.Offer, auth Auth, use bool) (string, error) {
	if auth.Server {
		return "", nil
	}
	if auth.Token == "" {
		return "", ErrUnauthorized
	}
	claims, err := e.signer.Verify(auth.Token, o.ID, o.CustomerID)
	switch {
	case errors.Is(err, offertoken.ErrExpired):
		return "", fmt.Errorf("%w: %w", ErrTokenExpired, err)
	case errors.Is(err, offertoken.ErrWrongOffer), errors.Is(err, offertoken.ErrWrongCustomer):
		return "", fmt.Errorf("%w: %w", ErrForbidden, err)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if !use {
		return "", nil
	}
	if err := e.store.UseToken(ctx, claims.Nonce); err != nil {
		if errors.Is(err, natsbus.ErrTokenUsed) {
			return "", ErrTokenUsed
		}
		return "", err
	}
	return claims.Nonce, nil
}

// Accept accepts offer id and charges it, exactly once however many times
// and however concurrently it is called. See the package comment.
func (e *Engine) Accept(ctx context.Context, id string, auth Auth) (Result, error) {
	o, _, err := e.store.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if _, err := e.authorize(ctx, o, auth, false); err != nil {
		return Result{}, err
	}
	// Refuse what cannot be accepted before using the token up, so a
	// click on an expired offer does not burn it for nothing.
	if _, err := offers.Accept(o, e.now()); err != nil {
		return Result{Offer: o}, err
	}
	if !o.OneClick {
		// Nothing to charge here: the customer pays on Dodo's page, and
		// that payment (its metadata names the offer) converts it.
		return Result{Outcome: OutcomeCheckout, Offer: o}, nil
	}
	// From here on the accept runs to its end even if the client goes
	// away (a second click aborts the browser's first request): cut off
	// between using the token and the swap, it would leave the offer open
	// with its only token spent, and the customer unable to accept it.
	ctx = context.WithoutCancel(ctx)
	nonce, err := e.authorize(ctx, o, auth, true)
	if err != nil {
		return Result{}, err
	}
	// The charge continues the trace of the webhook (or request) that
	// made the offer; the accept request's own span is linked.
	parent, links := tracing.FollowFrom(ctx, o.TraceParent)
	ctx, span := e.tracer.Start(parent, "offer accept", trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("offer.id", o.ID)))
	defer span.End()
	now := e.now()
	acc, err := e.store.Transition(ctx, id, func(cur offers.Offer) (offers.Offer, error) { return offers.Accept(cur, now) })
	if err != nil {
		var refused *offers.TransitionError
		if nonce != "" && !errors.As(err, &refused) {
			// The store did not answer (the caller hears 503): give the
			// customer's token back, or their retry would be refused as
			// token_used while the offer may still be open.
			if rerr := e.store.ReleaseToken(ctx, nonce); rerr != nil {
				e.log.Warn("release offer token", zap.String("offer_id", id), zap.Error(rerr))
			}
		}
		return Result{Offer: acc}, err
	}
	// This call's swap won: it alone charges.
	if err := e.stored(ctx, acc); err != nil {
		e.log.Warn("index accepted offer", zap.String("offer_id", id), zap.Error(err))
	}
	if err := e.publishState(ctx, acc); err != nil {
		e.log.Warn("publish accepted offer", zap.String("offer_id", id), zap.Error(err))
	}
	return e.charge(ctx, acc)
}

// charge makes an accepted offer's one charge and reports how it went.
// Whatever happens here, the offer stays accepted until Dodo's answer (the
// call's, or a payment webhook's, or the sweep's lookup) settles it.
func (e *Engine) charge(ctx context.Context, o offers.Offer) (Result, error) {
	// Dodo's answer must not be lost to a client that hangs up.
	ctx = context.WithoutCancel(ctx)
	if o.ChangePlan {
		return e.changePlan(ctx, o)
	}
	// The card must still be the customer's and usable: the offer may be
	// days old.
	methods, err := e.dodo.ListPaymentMethods(ctx, o.CustomerID)
	if err != nil {
		return e.failBeforeCharge(ctx, o, "payment methods could not be read: "+err.Error())
	}
	if _, ok := usableMethod(methods, o.PaymentMethodID, e.now()); !ok {
		return e.failBeforeCharge(ctx, o, "the saved payment method is no longer usable")
	}
	req := dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: o.CustomerID, PaymentMethodID: o.PaymentMethodID, ProductID: o.ProductID, Quantity: o.Quantity,
		Country: o.BillingCountry, Zipcode: o.BillingZipcode, ReturnURL: e.cfg.ReturnURL,
		Metadata: wire.Metadata{MetadataOfferID: wire.StringValue(o.ID)}, IdempotencyKey: o.ID,
	})
	if o.BillingCountry == "" || o.BillingZipcode == "" {
		return e.failBeforeCharge(ctx, o, "no billing address is known for the customer")
	}
	s, err := e.dodo.CreateCheckout(ctx, req)
	switch {
	case errors.Is(err, dodo.ErrAmbiguous):
		// Dodo may have charged. Never charge again: the payment's
		// webhook, or the sweep's lookup, settles the offer.
		e.log.Warn("one-click charge outcome unknown", zap.String("offer_id", o.ID), zap.Error(err))
		return Result{Outcome: OutcomePending, Offer: o}, nil
	case err != nil:
		// Dodo refused, or surely did not act: not retried; the customer
		// gets the fallback.
		return e.failBeforeCharge(ctx, o, err.Error())
	case s.PaymentID == nil:
		return Result{Outcome: OutcomePending, Offer: o}, nil
	}
	p, err := e.dodo.GetPayment(ctx, *s.PaymentID)
	if err != nil || !e.matches(o, &p) {
		// Not known yet, or (a payment found by the offer's key) not
		// this offer's charge: the webhook or the sweep settles it.
		return Result{Outcome: OutcomePending, Offer: o}, nil
	}
	return e.settleResult(ctx, o.ID, p)
}

// changePlan executes an accepted plan change.
func (e *Engine) changePlan(ctx context.Context, o offers.Offer) (Result, error) {
	started := e.now()
	res, err := e.dodo.ChangePlan(ctx, o.SubscriptionID, e.changeRequest(o))
	switch {
	case errors.Is(err, dodo.ErrAmbiguous):
		e.log.Warn("plan change outcome unknown", zap.String("offer_id", o.ID), zap.Error(err))
		return Result{Outcome: OutcomePending, Offer: o}, nil
	case err != nil:
		return e.failBeforeCharge(ctx, o, err.Error())
	}
	if res.PaymentID != nil && *res.PaymentID != "" {
		o = e.notePlanPayment(ctx, o, *res.PaymentID)
	}
	return e.planOutcome(ctx, o, started)
}

// planOutcome reads what a plan change did: the subscription on the new
// plan is a conversion; otherwise its payment (found by the offer id in
// its metadata) failed or is under way.
func (e *Engine) planOutcome(ctx context.Context, o offers.Offer, since time.Time) (Result, error) {
	sub, err := e.dodo.GetSubscription(ctx, o.SubscriptionID)
	if err != nil {
		return Result{Outcome: OutcomePending, Offer: o}, nil
	}
	if sub.ProductID == o.ProductID && sub.Quantity == o.Quantity {
		// The payment Dodo named in its answer, recorded on the offer,
		// is the change's; without it, the one carrying the offer id.
		paymentID := o.PaymentID
		if p, ok, err := e.dodo.FindPayment(ctx, o.CustomerID, o.ID, since.Add(-10*time.Minute)); paymentID == "" && err == nil && ok {
			paymentID = p.PaymentID
		}
		if err := e.settle(ctx, o.ID, paymentID, "succeeded", ""); err != nil {
			return Result{}, err
		}
		cur, _, err := e.store.Get(ctx, o.ID)
		return Result{Outcome: OutcomeCharged, Offer: cur}, err
	}
	if o.PaymentID != "" {
		p, err := e.dodo.GetPayment(ctx, o.PaymentID)
		if err != nil || !e.matches(o, &p) {
			return Result{Outcome: OutcomePending, Offer: o}, nil
		}
		return e.settleResult(ctx, o.ID, p)
	}
	p, ok, err := e.dodo.FindPayment(ctx, o.CustomerID, o.ID, since.Add(-10*time.Minute))
	if err != nil || !ok {
		return Result{Outcome: OutcomePending, Offer: o}, nil
	}
	return e.settleResult(ctx, o.ID, p)
}

// settleResult settles the offer from a payment Dodo reported and answers.
func (e *Engine) settleResult(ctx context.Context, id string, p wire.Payment) (Result, error) {
	status := ""
	if p.Status != nil {
		status = *p.Status
	}
	reason := ""
	if p.ErrorMessage != nil {
		reason = *p.ErrorMessage
	}
	if err := e.settle(ctx, id, p.PaymentID, status, reason); err != nil {
		return Result{}, err
	}
	cur, _, err := e.store.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	out := OutcomePending
	switch cur.State {
	case offers.Charged:
		out = OutcomeCharged
	case offers.Failed:
		out = OutcomeFailed
	}
	return Result{Outcome: out, Offer: cur}, nil
}

// failBeforeCharge fails an accepted offer whose charge was not made.
func (e *Engine) failBeforeCharge(ctx context.Context, o offers.Offer, reason string) (Result, error) {
	if err := e.fail(ctx, o.ID, "", reason); err != nil {
		return Result{}, err
	}
	cur, _, err := e.store.Get(ctx, o.ID)
	return Result{Outcome: OutcomeFailed, Offer: cur}, err
}

// settle records a charge's outcome for offer id: status succeeded
// converts, failed or cancelled fails (with the fallback), anything else
// waits. Idempotent: a redelivered webhook, or the webhook after the
// accept call already settled, changes nothing and republishes under the
// same message id.
func (e *Engine) settle(ctx context.Context, id, paymentID, status, reason string) error {
	switch status {
	case "succeeded":
		now := e.now()
		var from offers.State
		o, err := e.store.Transition(ctx, id, func(cur offers.Offer) (offers.Offer, error) {
			from = cur.State
			if cur.State == offers.Open && !cur.OneClick {
				// Paid on the fallback checkout page, without a
				// one-click accept.
				acc, err := offers.Accept(cur, cur.CreatedAt)
				if err != nil {
					return cur, err
				}
				cur = acc
			}
			return offers.Convert(cur, paymentID, now)
		})
		return e.afterSettle(ctx, id, o, o.State != from, err, offers.Charged)
	case "failed", "cancelled":
		return e.fail(ctx, id, paymentID, reason)
	}
	return nil
}

// fail records a failed charge with its fallback.
func (e *Engine) fail(ctx context.Context, id, paymentID, reason string) error {
	cur, _, err := e.store.Get(ctx, id)
	if err != nil {
		return e.afterSettle(ctx, id, cur, false, err, offers.Failed)
	}
	fb := offers.Fallback{UpdatePaymentMethod: true}
	if cur.State == offers.Accepted && !cur.ChangePlan {
		// A standard checkout for the same product: the customer enters
		// a card on Dodo's page. Creating it moves no money.
		url, err := e.fallbackCheckout(ctx, cur)
		if err != nil {
			return err
		}
		fb.CheckoutURL = url
	}
	if reason == "" {
		reason = "payment failed"
	}
	now := e.now()
	var from offers.State
	o, err := e.store.Transition(ctx, id, func(c offers.Offer) (offers.Offer, error) {
		from = c.State
		return offers.Fail(c, paymentID, reason, fb, now)
	})
	return e.afterSettle(ctx, id, o, o.State != from, err, offers.Failed)
}

// afterSettle indexes, counts and publishes a settled offer. changed says
// this call's write moved it into its state: only then is it counted, so a
// redelivery never counts twice (a crash between the write and the count
// may leave it uncounted). A refusal (the payment is not the offer's, the
// offer was never accepted) is logged and dropped: the payment webhook has
// nothing more to do with the offer.
func (e *Engine) afterSettle(ctx context.Context, id string, o offers.Offer, changed bool, err error, want offers.State) error {
	var te *offers.TransitionError
	switch {
	case errors.Is(err, natsbus.ErrOfferNotFound):
		e.log.Warn("payment names an unknown offer", zap.String("offer_id", id))
		return nil
	case errors.As(err, &te):
		e.log.Warn("payment does not settle offer", zap.String("offer_id", id), zap.Error(err))
		return nil
	case err != nil:
		return err
	}
	if o.State != want {
		return nil
	}
	if changed {
		if err := e.stored(ctx, o); err != nil {
			return err
		}
	} else if err := e.store.NoteOffer(ctx, o, e.now()); err != nil {
		return err
	}
	return e.publishState(ctx, o)
}

// Decline records the customer's no and, if a rule says so, makes the
// downsell. Declining again is a no-op that returns the same downsell.
func (e *Engine) Decline(ctx context.Context, id string, auth Auth) (Result, error) {
	o, _, err := e.store.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if _, err := e.authorize(ctx, o, auth, false); err != nil {
		return Result{}, err
	}
	now := e.now()
	var from offers.State
	d, err := e.store.Transition(ctx, id, func(cur offers.Offer) (offers.Offer, error) {
		from = cur.State
		return offers.Decline(cur, now)
	})
	if err != nil {
		return Result{Offer: d}, err
	}
	if from != d.State {
		err = e.stored(ctx, d)
	} else {
		err = e.store.NoteOffer(ctx, d, now)
	}
	if err != nil {
		return Result{}, err
	}
	if err := e.publishState(ctx, d); err != nil {
		return Result{}, err
	}
	res := Result{Offer: d}
	if d.OnDecline == "" || d.RuleID == "" {
		return res, nil
	}
	down, err := e.downsell(ctx, d)
	if err != nil && fault.IsPermanent(err) {
		// Dodo refused the downsell for good: the decline stands, without
		// a downsell, rather than a 503 whose retry is refused again.
		e.log.Warn("no downsell: Dodo refused", zap.String("offer_id", d.ID), zap.Error(err))
		return res, nil
	}
	if err != nil {
		return Result{}, err
	}
	if down != nil {
		tok, _, err := e.signer.Sign(down.ID, down.CustomerID, down.ExpiresAt.Sub(e.now()))
		if err != nil {
			return Result{}, err
		}
		res.Downsell = &Message{Event: "offer.created", Offer: *down, AcceptToken: tok, PageURL: e.PageURL(down.ID, tok)}
	}
	return res, nil
}

// downsell makes the offer a declined offer's on_decline chain leads to.
func (e *Engine) downsell(ctx context.Context, declined offers.Offer) (*offers.Offer, error) {
	doc, _, err := e.access.Get(ctx, declined.CustomerID)
	if err != nil {
		return nil, err
	}
	f := facts{}
	f.in.Trigger = rules.Trigger{Event: declined.Trigger.Event, Signal: declined.Trigger.Signal}
	f.billingCountry, f.billingZipcode = declined.BillingCountry, declined.BillingZipcode
	if err := e.customerFacts(ctx, declined.CustomerID, doc, &f); err != nil {
		return nil, err
	}
	decide := func(in rules.Input, now time.Time) (rules.Decision, error) {
		return e.catalog.DownsellFor(declined.RuleID, in, now)
	}
	return e.make(ctx, offers.Trigger{DeclinedOfferID: declined.ID}, f, decide, false)
}
