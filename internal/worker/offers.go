package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// HandleOffers is the handler of the offers consumer, a second durable
// consumer of the same webhooks: it makes the offers a webhook's rules
// choose. Making an offer calls Dodo, whose rate limit (240 requests a
// minute per account) can hold a call for many seconds in a burst; on a
// consumer of its own that wait holds only offer work, and the access
// consumer (Handle) grants and revokes at its own pace. So offers are
// delayed in a burst, never access.
//
// The rules read the customer's access after the event (what they own,
// their plan), so an offer is made only once Handle has committed the
// webhook. Until then HandleOffers waits, up to half its time, and then
// returns a transient error (natsbus.ErrClaimHeld: expected, logged at
// info) for a redelivery; the offers consumer has twice the attempts of the
// webhook consumer, so it outwaits every attempt of Handle. If Handle gave
// up (the webhook consumer acknowledged past it, dead-lettered, without a
// commit), there is no offer now: the webhook's redrive brings it back to
// both consumers, and the offer is made then.
//
// Nothing is lost or doubled: the message is acknowledged only once
// MakeOffers returns, and the offer's id derives from the webhook and the
// rule, so a redelivery finds the offer it made.
func (w *Worker) HandleOffers(ctx context.Context, d natsbus.Delivery) error {
	if w.offers == nil {
		return nil
	}
	id := d.Header.Get(natsbus.HeaderWebhookID)
	if id == "" || d.Subject == events.SubjectInvalidJSON || d.Subject == events.SubjectInvalidType {
		return nil // Handle dead-letters it
	}
	if d.Header.Get(natsbus.HeaderReconciled) == "true" {
		// An event offerflow reconciled from Dodo's API may be days
		// old: it settles offers (Handle), but makes none.
		return nil
	}
	if events.CheckID("webhook-id", id) != nil {
		return nil
	}
	ev, err := events.Decode(d.Data)
	if err != nil || ev.CheckIDs() != nil || !w.offers.Triggers(ev) {
		return nil // nothing to offer; what is wrong with it, Handle reports
	}
	committed, err := w.awaitCommit(ctx, id, d.StreamSeq)
	if err != nil || !committed {
		return err
	}
	return w.step(ctx, "offers", func(ctx context.Context) error {
		doc, _, err := w.store.Get(ctx, ev.CustomerID())
		if err != nil {
			return err
		}
		if err := w.offers.MakeOffers(ctx, id, ev, doc); err != nil {
			return fmt.Errorf("make offers of webhook %s: %w", id, err)
		}
		return nil
	})
}

// awaitCommit waits until Handle has committed webhook id (true), or has
// given up on it for good (false, nil: the webhook consumer's ack floor
// passed seq without a commit), for up to half of ctx's time; then it
// returns a transient error.
func (w *Worker) awaitCommit(ctx context.Context, id string, seq uint64) (bool, error) {
	budget := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl) / 2
	}
	giveUp := time.Now().Add(budget)
	// Handle commits within a few milliseconds of the delivery both
	// consumers get at once: the first looks are soon, so that an offer
	// follows its webhook by milliseconds, not by the first pause.
	wait := 2 * time.Millisecond
	for {
		state, err := w.ledger.State(ctx, ledgerWebhook+id)
		if err != nil {
			return false, err
		}
		if state == "done" {
			return true, nil
		}
		// The floor is a request to the consumer's leader: asked only
		// once the commit is overdue (about half a second), not on every poll
		// of a burst in which this consumer runs ahead of the other.
		if w.accessFloor != nil && wait >= maxCommitPoll {
			floor, err := w.accessFloor(ctx)
			if err != nil {
				return false, err
			}
			if floor >= seq {
				// Acknowledged past it: committed meanwhile (the commit
				// comes before the ack), or dead-lettered.
				if state, err = w.ledger.State(ctx, ledgerWebhook+id); err != nil {
					return false, err
				}
				return state == "done", nil
			}
		}
		if time.Now().Add(wait).After(giveUp) {
			return false, fmt.Errorf("webhook %s: access effects not committed yet: %w", id, natsbus.ErrClaimHeld)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxCommitPoll)
	}
}

// maxCommitPoll is the longest pause between two looks at the ledger while
// awaitCommit waits.
const maxCommitPoll = 500 * time.Millisecond
