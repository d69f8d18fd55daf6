package offerengine

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
)

// SweepReport counts what one sweep did.
type SweepReport struct {
	Customers int
	Expired   int
	Settled   int
	Errors    int
}

// Sweep expires open offers past their expiry (offers.expired) and settles
// accepted offers whose charge outcome was never recorded (the process that
// charged died, or Dodo's answer was ambiguous): it looks the charge up at
// Dodo by the offer id and records what it finds. It never charges: an
// accepted one-click offer with no payment at Dodo after StuckAfter fails
// with the fallback. Any number of replicas may sweep at once; every step is
// a compare-and-swap transition and a de-duplicated publish.
func (e *Engine) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	ids, err := e.store.IndexedCustomers(ctx)
	if err != nil {
		return rep, err
	}
	for _, c := range ids {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		ix, _, err := e.store.Index(ctx, c)
		if err != nil {
			rep.Errors++
			continue
		}
		rep.Customers++
		for _, en := range ix.Due(e.now(), e.cfg.StuckAfter) {
			var err error
			switch en.State {
			case offers.Open:
				err = e.expire(ctx, en.OfferID)
				if err == nil {
					rep.Expired++
				}
			case offers.Accepted:
				err = e.resolve(ctx, en.OfferID)
				if err == nil {
					rep.Settled++
				}
			}
			if errors.Is(err, natsbus.ErrOfferNotFound) {
				// Its record is gone (OFFER_RETENTION ran out while
				// nothing swept it): nothing is left to expire or settle.
				err = e.forget(ctx, c, en.OfferID)
			}
			if err != nil {
				rep.Errors++
				e.log.Warn("sweep offer", zap.String("offer_id", en.OfferID), zap.Error(err))
			}
		}
	}
	return rep, nil
}

// forget drops the index entry of an offer that is no longer stored.
func (e *Engine) forget(ctx context.Context, customerID, id string) error {
	_, err := e.store.UpdateIndex(ctx, customerID, func(ix offers.Index) (offers.Index, bool, error) {
		next, changed := ix.Forget(id)
		return next, changed, nil
	})
	if err == nil {
		e.log.Warn("offer no longer stored; dropped from its customer's index", zap.String("offer_id", id), zap.String("customer_id", customerID))
	}
	return err
}

// RunSweeper sweeps every interval until ctx ends.
func (e *Engine) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if rep, err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("offer sweep", zap.Error(err))
			} else if rep.Expired+rep.Settled > 0 {
				e.log.Info("offer sweep", zap.Int("expired", rep.Expired), zap.Int("settled", rep.Settled))
			}
		}
	}
}

func (e *Engine) expire(ctx context.Context, id string) error {
	now := e.now()
	var from offers.State
	o, err := e.store.Transition(ctx, id, func(cur offers.Offer) (offers.Offer, error) {
		from = cur.State
		return offers.Expire(cur, now)
	})
	var te *offers.TransitionError
	if errors.As(err, &te) {
		// Answered meanwhile: the index catches up.
		return e.store.NoteOffer(ctx, o, now)
	}
	if err != nil {
		return err
	}
	if from != o.State {
		if err := e.stored(ctx, o); err != nil {
			return err
		}
	} else if err := e.store.NoteOffer(ctx, o, now); err != nil {
		return err
	}
	return e.publishState(ctx, o)
}

// resolve settles an accepted offer from what Dodo has.
func (e *Engine) resolve(ctx context.Context, id string) error {
	o, _, err := e.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if o.State != offers.Accepted {
		return e.store.NoteOffer(ctx, o, e.now())
	}
	accepted := o.History[len(o.History)-1].At
	if o.ChangePlan {
		res, err := e.planOutcome(ctx, o, accepted)
		if err != nil || res.Outcome != OutcomePending {
			return err
		}
	} else {
		found, ok, err := e.dodo.FindPayment(ctx, o.CustomerID, o.ID, accepted.Add(-10*time.Minute))
		if err != nil {
			return err
		}
		if ok {
			// The list omits the cart: read the whole payment to check
			// it is the offer's charge before settling on it.
			p, err := e.dodo.GetPayment(ctx, found.PaymentID)
			if err != nil {
				return err
			}
			if e.matches(o, &p) {
				_, err := e.settleResult(ctx, id, p)
				return err
			}
		}
	}
	// Nothing at Dodo StuckAfter after the accept: the charge was never
	// made (the process died before the call), or it is a plan change
	// still pending its payment. A plan change waits for its webhook; a
	// one-click charge is not made now (the customer may have moved on):
	// the offer fails with the fallback.
	if o.ChangePlan {
		return nil
	}
	return e.fail(ctx, id, "", "the charge was not confirmed by Dodo; not retried")
}
