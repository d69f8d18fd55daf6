// Package worker is what offerflow does with each stored webhook: decode it,
// and apply its effects exactly once, whatever is redelivered, reordered or
// crashes: access (grants and revokes), offers (settled by their payments,
// made by rules; package offerengine) and confirmations (package confirm).
//
// Exactly once in effect comes from three layers:
//
//  1. The ledger: a webhook-id is claimed before its effects and committed
//     after; a committed id is skipped, for at least the ledger's TTL.
//  2. Effects that are safe to re-run: access state only moves forward in
//     event time (package access), so re-applying an event changes nothing,
//     and the changes it caused wait in the customer's outbox until they
//     are published.
//  3. Published messages carry a Nats-Msg-Id derived from the webhook-id,
//     so a republish after a crash is de-duplicated by JetStream.
//
// A crash between any two steps therefore neither skips an effect (the
// claim is not committed, the webhook is redelivered, the outbox still
// holds the changes) nor repeats one (the state does not move twice, the
// message ids repeat).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/tracing"
)

// Ledger namespace of webhooks; confirmations claim their own business
// keys (package confirm).
const ledgerWebhook = "webhook."

// Access subjects: offerflow.access.{granted,revoked}.<customer_id>.
const AccessSubjectPrefix = events.AccessPrefix

// Worker handles deliveries from DODO_EVENTS.
type Worker struct {
	ledger    *natsbus.Ledger
	store     *natsbus.AccessStore
	publisher *natsbus.Publisher
	catalog   access.Catalog
	now       func() time.Time
	docs      *docCache
	settled   *settledSet
	inflight  *keyedLock
	offers    OfferHandler
	// accessFloor is the webhook consumer's ack floor (WithAccessFloor).
	accessFloor func(ctx context.Context) (uint64, error)
	confirmer   Confirmer
	confirmOff  map[confirm.Kind]bool
	names       func(productID string) string
	tracer      trace.Tracer
}

// OfferHandler is the offer engine as the worker uses it
// (*offerengine.Engine): Interested says whether an event matters to offers
// (a payment of an offer's charge, or a rule's trigger); OnEvent settles
// the offer a payment names, from offerflow's own store; Triggers says
// whether rules may make an offer of the event, and MakeOffers makes it,
// given the customer's access after the event, calling Dodo. All are safe
// to repeat.
type OfferHandler interface {
	Interested(ev events.Event) bool
	OnEvent(ctx context.Context, webhookID string, ev events.Event) error
	Triggers(ev events.Event) bool
	MakeOffers(ctx context.Context, webhookID string, ev events.Event, doc access.Doc) error
}

// WithOffers makes the worker hand events to the offer engine: Handle
// settles offers after a webhook's access effects and before it is
// committed; HandleOffers, on a consumer of its own, makes the offers the
// webhook triggers once it is committed. Call it before the worker handles
// anything.
func (w *Worker) WithOffers(h OfferHandler) *Worker {
	w.offers = h
	return w
}

// WithAccessFloor tells HandleOffers how to read the stream sequence below
// which the webhook consumer has acknowledged every message (its ack
// floor): a webhook past it without a commit was dead-lettered. Without
// it, HandleOffers waits for the commit until its attempts run out.
func (w *Worker) WithAccessFloor(floor func(ctx context.Context) (uint64, error)) *Worker {
	w.accessFloor = floor
	return w
}

// Bounds of the worker's memory of documents and settled webhooks. A
// cached document takes about 5 KB of heap (its maps and the outbox's
// messages): bench growth measured the worker at 541 MB resident with
// 100,000 cached, near the manifests' GOMEMLIMIT. 20,000 keep the recent
// customers, whose next events (subscription.active after the payment, a
// renewal's pair) follow within seconds, in about 100 MB; an older
// customer's event costs one KV read.
const (
	maxCachedDocs   = 20_000
	maxSettledHooks = 100_000
)

// New returns a Worker. catalog may be nil (access by product id only).
// Each step of a webhook (ledger claim and commit, access, offers,
// confirmations) is a span of tp, a child of the span in the handler's
// context; tp nil makes none.
func New(ledger *natsbus.Ledger, store *natsbus.AccessStore, pub *natsbus.Publisher, catalog access.Catalog, now func() time.Time, tp trace.TracerProvider) *Worker {
	return &Worker{ledger: ledger, store: store, publisher: pub, catalog: catalog, now: now,
		docs: newDocCache(maxCachedDocs), settled: newSettledSet(maxSettledHooks), inflight: newKeyedLock(),
		tracer: tracing.Provider(tp).Tracer("github.com/offerflow/offerflow/internal/worker")}
}

// step runs f as the span name, a child of ctx's span, recording its error.
func (w *Worker) step(ctx context.Context, name string, f func(ctx context.Context) error) error {
	ctx, span := w.tracer.Start(ctx, name)
	defer span.End()
	err := f(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// Handle is the worker's natsbus.Handler.
func (w *Worker) Handle(ctx context.Context, d natsbus.Delivery) error {
	id := d.Header.Get(natsbus.HeaderWebhookID)
	if id == "" {
		return fault.Permanent(errors.New("message has no webhook-id header"))
	}
	switch d.Subject {
	case events.SubjectInvalidJSON:
		return fault.Permanent(errors.New("signed body is not JSON"))
	case events.SubjectInvalidType:
		return fault.Permanent(errors.New("signed body has no usable event type"))
	}
	if err := events.CheckID("webhook-id", id); err != nil {
		// The ingest refuses such ids; this one came another way (a
		// publish straight to the stream).
		return fault.Permanent(err)
	}
	ev, err := events.Decode(d.Data)
	if err != nil {
		return fault.Permanent(fmt.Errorf("decode: %w", err))
	}
	if err := ev.CheckIDs(); err != nil {
		// An id over the limit would make keys and subjects NATS refuses
		// (and a refused control line closes the connection): the event
		// is dead-lettered with the field, never handled.
		return fault.Permanent(fmt.Errorf("payload: %w", err))
	}
	upd, hasAccess := access.FromEvent(id, ev)
	hasOffers := w.offers != nil && w.offers.Interested(ev)
	if !hasAccess && !hasOffers {
		// Nothing of ours changes with this event. Not worth a ledger
		// entry: handling it again is free.
		return nil
	}
	unlock, err := w.inflight.lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	var claim natsbus.Claim
	err = w.step(ctx, "ledger claim", func(ctx context.Context) (err error) {
		claim, err = w.ledger.Claim(ctx, ledgerWebhook+id)
		return err
	})
	if err != nil {
		return err
	}
	if claim.Done {
		return nil
	}
	if err := w.apply(ctx, id, ev, upd, hasAccess, hasOffers); err != nil {
		// Give the claim back so the redelivery (or a redrive) takes it
		// at once rather than after the lease: every step is safe to
		// repeat.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.ledger.Release(rctx, claim) // best effort: the lease expires otherwise
		return err
	}
	if err := w.step(ctx, "ledger commit", func(ctx context.Context) error { return w.ledger.Commit(ctx, claim) }); err != nil {
		return err
	}
	w.settled.add(id)
	return nil
}

// apply does one claimed webhook's effects: access, offers, confirmations.
func (w *Worker) apply(ctx context.Context, id string, ev events.Event, upd access.Update, hasAccess, hasOffers bool) error {
	var doc access.Doc
	var changes []access.Change
	if hasAccess {
		err := w.step(ctx, "access", func(ctx context.Context) (err error) {
			if changes, doc, err = w.applyAccess(ctx, upd); err != nil {
				return err
			}
			return w.publishChanges(ctx, changes)
		})
		if err != nil {
			return err
		}
	}
	if hasOffers {
		// Settling only: new offers are made by HandleOffers, whose Dodo
		// calls wait for the rate limit without holding up access.
		err := w.step(ctx, "offers", func(ctx context.Context) error { return w.offers.OnEvent(ctx, id, ev) })
		if err != nil {
			return err
		}
	}
	if w.confirmer != nil {
		if !hasAccess && hasOffers {
			// The confirmations read the customer's access.
			var err error
			if doc, _, err = w.store.Get(ctx, ev.CustomerID()); err != nil {
				return err
			}
		}
		return w.step(ctx, "confirmations", func(ctx context.Context) error {
			confs, err := w.confirmations(ctx, ev, changes, doc)
			if err != nil {
				return err
			}
			for _, c := range confs {
				if w.confirmOff[c.Kind] {
					continue
				}
				if err := w.confirmer.Send(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return nil
}

// applyAccess reads the customer's doc (from the cache when it can),
// applies the update and writes it back with compare-and-swap, re-reading
// from the store when another handler or replica got there first.
func (w *Worker) applyAccess(ctx context.Context, u access.Update) ([]access.Change, access.Doc, error) {
	for attempt := 0; ; attempt++ {
		doc, rev, cached := w.docs.get(u.CustomerID)
		if !cached {
			var err error
			if doc, rev, err = w.store.Get(ctx, u.CustomerID); err != nil {
				return nil, access.Doc{}, err
			}
		}
		next, changes, dirty := access.Apply(doc, u, w.catalog, w.now(), w.settled.has)
		if !dirty {
			return changes, next, nil
		}
		newRev, err := w.store.Put(ctx, next, rev)
		if err == nil {
			w.docs.put(u.CustomerID, next, newRev)
			return changes, next, nil
		}
		w.docs.drop(u.CustomerID)
		if !errors.Is(err, natsbus.ErrConflict) || attempt >= 50 {
			return nil, access.Doc{}, err
		}
	}
}

func (w *Worker) publishChanges(ctx context.Context, changes []access.Change) error {
	if len(changes) == 0 {
		return nil
	}
	msgs := make([]events.Message, 0, len(changes))
	for _, c := range changes {
		body, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode change: %w", err)
		}
		msgs = append(msgs, events.Message{Subject: AccessSubject(c.Kind(), c.CustomerID), ID: c.ID, Data: body})
	}
	return w.publisher.SendAll(ctx, msgs)
}

// AccessSubject is where a change of kind ("granted" or "revoked") for a
// customer is published.
func AccessSubject(kind, customerID string) string {
	return AccessSubjectPrefix + kind + "." + natsbus.Token(customerID)
}
