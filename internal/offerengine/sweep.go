package offerengine

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
)

// SweepReport counts what one sweep did.
type SweepReport struct {
	// Due is how many due-index entries the sweep looked at.
	Due int
	// Customers is how many customer indexes a full sweep read; 0 when
	// the sweep was not a full one.
	Customers int
	Expired   int
	Settled   int
	Errors    int
}

// fullSweepEvery is how often one of the sweepers also reads every
// customer's index (SweepAll): the due index's safety net, and the
// migration of offers stored before it existed.
const fullSweepEvery = 24 * time.Hour

// Sweep expires open offers past their expiry (offers.expired) and settles
// accepted offers whose charge outcome was never recorded (the process that
// charged died, or Dodo's answer was ambiguous): it looks the charge up at
// Dodo by the offer id and records what it finds. It never charges: an
// accepted one-click offer with no payment at Dodo after StuckAfter fails
// with the fallback. Any number of replicas may sweep at once; every step is
// a compare-and-swap transition and a de-duplicated publish.
//
// It reads the offers the store's due index lists as due, so its cost is
// that of the offers due, not of every customer; once every
// fullSweepEvery, one sweeper (whichever claims it) also runs SweepAll.
func (e *Engine) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	now := e.now()
	full, err := e.store.ClaimFullSweep(ctx, now, fullSweepEvery)
	if err != nil {
		return rep, err
	}
	if full {
		all, err := e.SweepAll(ctx)
		rep.Customers, rep.Errors = all.Customers, all.Errors
		if err != nil {
			return rep, err
		}
	}
	scan, err := e.store.ScanDue(ctx, now)
	if err != nil {
		return rep, err
	}
	var kept []natsbus.Due
	for _, d := range scan.Entries {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Due++
		if err := e.sweepDue(ctx, d, now, &rep); err != nil {
			rep.Errors++
			e.log.Warn("sweep offer", zap.String("offer_id", d.OfferID), zap.Error(err))
			kept = append(kept, d)
		}
	}
	return rep, e.store.AdvanceDue(ctx, scan, kept)
}

// sweepDue handles one due entry: it acts on the offer's state as stored,
// whatever the entry was written for, and removes the entry once nothing
// is left to do, or moves it to when there will be. An error keeps the
// entry for the next sweep.
func (e *Engine) sweepDue(ctx context.Context, d natsbus.Due, now time.Time, rep *SweepReport) error {
	if d.OfferID == "" {
		e.log.Warn("due entry without an offer id; dropped")
		return e.store.Unschedule(ctx, d)
	}
	o, _, err := e.store.Get(ctx, d.OfferID)
	switch {
	case errors.Is(err, natsbus.ErrOfferNotFound):
		// Never stored (its maker died between the entry and the
		// offer, or the offer lost to another and was removed), or
		// its retention ran out: drop what still names it.
		if err := e.forget(ctx, d.CustomerID, d.OfferID); err != nil {
			return err
		}
		return e.store.Unschedule(ctx, d)
	case err != nil:
		return err
	}
	switch o.State {
	case offers.Open:
		if now.Before(o.ExpiresAt) {
			return e.reschedule(ctx, d, o, o.ExpiresAt, now)
		}
		noted, err := e.noted(ctx, o)
		if err != nil {
			return err
		}
		if !noted {
			// Its maker died before noting it in the index, so it
			// was never published: nobody saw it, and nothing is
			// announced. If a redelivered trigger notes it later,
			// the full sweep expires it.
			e.log.Info("due offer was never noted; not expired", zap.String("offer_id", o.ID))
			return e.store.Unschedule(ctx, d)
		}
		if err := e.expire(ctx, o.ID); err != nil {
			return err
		}
		rep.Expired++
	case offers.Accepted:
		if acc := o.History[len(o.History)-1].At; now.Sub(acc) < e.cfg.StuckAfter {
			return e.reschedule(ctx, d, o, acc.Add(e.cfg.StuckAfter), now)
		}
		settled, err := e.resolve(ctx, o.ID)
		if err != nil {
			return err
		}
		if !settled {
			// A plan change waiting for its payment: look again
			// later, until its webhook settles it.
			return e.reschedule(ctx, d, o, now.Add(e.cfg.StuckAfter), now)
		}
		rep.Settled++
	default:
		// Ended. Whoever ended it may have died before noting it in
		// the index and publishing it; both are idempotent.
		if err := e.store.NoteOffer(ctx, o, now); err != nil {
			return err
		}
		if err := e.publishState(ctx, o); err != nil {
			return err
		}
	}
	return e.store.Unschedule(ctx, d)
}

// reschedule moves entry d of offer o to at: the new entry first, so a
// crash leaves two, never none.
func (e *Engine) reschedule(ctx context.Context, d natsbus.Due, o offers.Offer, at, now time.Time) error {
	if err := e.store.Schedule(ctx, o.ID, o.CustomerID, at, now); err != nil {
		return err
	}
	return e.store.Unschedule(ctx, d)
}

// noted reports whether o is in its customer's index.
func (e *Engine) noted(ctx context.Context, o offers.Offer) (bool, error) {
	ix, _, err := e.store.Index(ctx, o.CustomerID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ix.Entries, func(en offers.IndexEntry) bool { return en.OfferID == o.ID }), nil
}

// SweepAll is the full sweep: it reads every customer's index and gives
// each open or accepted offer there a due entry unless it has one (at its
// expiry, or its accept; now's minute when that has passed), so that the
// due pass that follows in Sweep handles it. It repairs the due index:
// offers stored before it existed, and any entry lost otherwise. Its cost
// grows with the customers who have offers; Sweep runs it once every
// fullSweepEvery.
func (e *Engine) SweepAll(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	ids, err := e.store.IndexedCustomers(ctx)
	if err != nil {
		return rep, err
	}
	now := e.now()
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
		for _, en := range ix.Entries {
			var at time.Time
			switch en.State {
			case offers.Open:
				at = en.ExpiresAt
			case offers.Accepted:
				at = en.ChangedAt
			default:
				continue
			}
			if at.Before(now) {
				// Due already: in the minute the due pass lists now.
				at = now.Truncate(time.Minute)
			}
			if err := e.store.Backfill(ctx, en.OfferID, c, at, now); err != nil {
				rep.Errors++
				e.log.Warn("schedule offer", zap.String("offer_id", en.OfferID), zap.Error(err))
			}
		}
	}
	return rep, nil
}

// forget drops the index entry of an offer that is no longer stored.
func (e *Engine) forget(ctx context.Context, customerID, id string) error {
	if customerID == "" {
		return nil
	}
	dropped := false
	_, err := e.store.UpdateIndex(ctx, customerID, func(ix offers.Index) (offers.Index, bool, error) {
		next, changed := ix.Forget(id)
		dropped = changed
		return next, changed, nil
	})
	if err == nil && dropped {
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
			} else if rep.Expired+rep.Settled > 0 || rep.Customers > 0 {
				e.log.Info("offer sweep", zap.Int("expired", rep.Expired), zap.Int("settled", rep.Settled),
					zap.Int("due", rep.Due), zap.Int("customers", rep.Customers))
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

// resolve settles an accepted offer from what Dodo has. settled is false
// when the offer is still accepted afterwards: a plan change whose payment
// Dodo has not reported yet.
func (e *Engine) resolve(ctx context.Context, id string) (settled bool, err error) {
	o, _, err := e.store.Get(ctx, id)
	if err != nil {
		return false, err
	}
	if o.State != offers.Accepted {
		return true, e.store.NoteOffer(ctx, o, e.now())
	}
	accepted := o.History[len(o.History)-1].At
	if o.ChangePlan {
		res, err := e.planOutcome(ctx, o, accepted)
		if err != nil {
			return false, err
		}
		// Nothing at Dodo yet: a plan change waits for its webhook.
		return res.Outcome != OutcomePending, nil
	}
	found, ok, err := e.dodo.FindPayment(ctx, o.CustomerID, o.ID, accepted.Add(-10*time.Minute))
	if err != nil {
		return false, err
	}
	if ok {
		// The list omits the cart: read the whole payment to check
		// it is the offer's charge before settling on it.
		p, err := e.dodo.GetPayment(ctx, found.PaymentID)
		if err != nil {
			return false, err
		}
		if e.matches(o, &p) {
			res, err := e.settleResult(ctx, id, p)
			return err == nil && res.Outcome != OutcomePending, err
		}
	}
	// Nothing at Dodo StuckAfter after the accept: the charge was never
	// made (the process died before the call). It is not made now (the
	// customer may have moved on): the offer fails with the fallback.
	return true, e.fail(ctx, id, "", "the charge was not confirmed by Dodo; not retried")
}
