// Package reconcile feeds offerflow the Dodo events whose webhooks it never
// processed.
//
// Dodo retries a webhook for about 27 hours and then gives up; an ingest
// that was down, or refused deliveries, for longer loses them. Run lists
// the payments and subscriptions of a period from Dodo's API, works out the
// event each implies (a succeeded payment, a cancelled subscription...),
// checks offerflow's state for it (the customer's access document, the
// offer store), and publishes the events offerflow lacks to DODO_EVENTS,
// where the worker handles them like any webhook.
//
// A fed message is the body Dodo would have sent: the object exactly as the
// API returned it (the API's payment and subscription are the webhooks'
// data schemas) in Dodo's envelope. It has no signature, since Dodo signed
// nothing, and says so with HeaderReconciled; only the ingest verifies
// signatures, so the worker takes it. Its webhook-id is derived from the
// event (WebhookID), so feeding twice is harmless: JetStream drops the
// second within its duplicate window, the worker's ledger after it, and
// access only moves forward in event time (package access), so a late real
// webhook of the same state changes nothing, and a newer one still wins.
//
// Which objects a run looks at, and the limits of that (Dodo's API has no
// "updated since" filter):
//
//   - payments created in [Since, Until];
//   - subscriptions created in [Since, Until];
//   - subscriptions charged in [Since, Until]: every subscription a payment
//     of the period names (renewals, plan changes, failed renewals that put
//     it on hold, the charge that recovers it);
//   - subscriptions now on_hold or past_due, and those paused, cancelled
//     or expired with any date
//     (created_at, previous or next billing date, cancelled_at, paused_at,
//     expires_at) in [Since, Until], found by listing each status in full:
//     cancellations and pauses make no payment.
//
// Missed are changes that leave no date and no payment in the period: an
// unpause or a plan change without a charge (do_not_bill) of a
// subscription created earlier. Each listing reads at most 50 pages of 100.
// Past that, a listing of the period makes the run incomplete
// (ErrIncomplete: narrow it with Options.CustomerID or a shorter period);
// a listing by status, which covers all time and so always grows, only
// warns.
package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
)

// ErrIncomplete is wrapped by Run's error when it finished but could not
// look at everything: a listing stopped at its page bound, or some objects
// failed (their items say why). The report is complete for what it lists;
// run again, narrower.
var ErrIncomplete = errors.New("reconcile: incomplete")

// publishTimeout bounds the wait for one PubAck.
const publishTimeout = 10 * time.Second

// Dodo is what reconcile reads from Dodo's API; *dodo.Client implements it.
type Dodo interface {
	ListAllPayments(ctx context.Context, p dodo.ListPaymentsParams) ([]wire.Payment, error)
	ListAllSubscriptions(ctx context.Context, p dodo.ListSubscriptionsParams) ([]wire.Subscription, error)
	GetPaymentJSON(ctx context.Context, paymentID string) (json.RawMessage, error)
	GetSubscriptionJSON(ctx context.Context, subscriptionID string) (json.RawMessage, error)
}

// AccessReader reads a customer's access document; *natsbus.AccessStore
// implements it. An unknown customer has an empty document.
type AccessReader interface {
	Get(ctx context.Context, customerID string) (access.Doc, uint64, error)
}

// OfferReader reads an offer; *natsbus.OfferStore implements it. An unknown
// id is an error wrapping natsbus.ErrOfferNotFound.
type OfferReader interface {
	Get(ctx context.Context, id string) (offers.Offer, uint64, error)
}

// Publisher stores a message and says whether it was new.
type Publisher interface {
	Send(ctx context.Context, m events.Message) (natsbus.PubAck, error)
}

// Deps are what Run works with.
type Deps struct {
	Dodo Dodo
	// Publisher stores the fed events in DODO_EVENTS (natsbus.Publisher).
	Publisher Publisher
	Access    AccessReader
	// Offers is optional: without it a payment naming an offer is fed.
	Offers OfferReader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives progress; nil means none.
	Log *zap.Logger
}

// Options say what to reconcile.
type Options struct {
	// Since starts the period (required).
	Since time.Time
	// Until ends it; zero means now.
	Until time.Time
	// DryRun reports what would be fed and publishes nothing.
	DryRun bool
	// CustomerID, if set, limits the run to one customer.
	CustomerID string
}

// Action is what happened to one object.
type Action string

// The actions of an Item.
const (
	// ActionProcessed: offerflow's state shows the event; nothing fed.
	ActionProcessed Action = "processed"
	// ActionFed: published and stored as a new message.
	ActionFed Action = "fed"
	// ActionAlreadyFed: published, and JetStream already had the message
	// (an earlier run within the stream's duplicate window).
	ActionAlreadyFed Action = "already_fed"
	// ActionWouldFeed: a dry run would have published it.
	ActionWouldFeed Action = "would_feed"
	// ActionSkipped: nothing to feed, or nothing reconcile should feed;
	// Reason says which.
	ActionSkipped Action = "skipped"
	// ActionFailed: the object could not be read, built or published.
	ActionFailed Action = "failed"
)

// Item is one payment or subscription Run looked at.
type Item struct {
	// Kind is "payment" or "subscription".
	Kind       string `json:"kind"`
	ID         string `json:"id"`
	CustomerID string `json:"customer_id,omitempty"`
	// Status is Dodo's status of the object.
	Status string `json:"status"`
	// Found says how the run found it: "created" in the period, "charged"
	// in it (a subscription a payment names), or "status:<status>".
	Found string `json:"found"`
	// EventType is the event the object implies, if any.
	EventType string `json:"event_type,omitempty"`
	Action    Action `json:"action"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// WebhookID, EventAt and Stamp describe the fed event.
	WebhookID string    `json:"webhook_id,omitempty"`
	EventAt   time.Time `json:"event_at,omitzero"`
	Stamp     string    `json:"stamp,omitempty"`
	// Sequence is the fed message's sequence in DODO_EVENTS.
	Sequence uint64 `json:"sequence,omitempty"`
}

// Counts summarise a Report.
type Counts struct {
	Seen       int `json:"seen"`
	Processed  int `json:"processed"`
	Fed        int `json:"fed"`
	AlreadyFed int `json:"already_fed"`
	WouldFeed  int `json:"would_feed"`
	Skipped    int `json:"skipped"`
	Failed     int `json:"failed"`
	// SkippedBy counts the skipped items by reason.
	SkippedBy map[string]int `json:"skipped_by,omitempty"`
}

// Report is what Run did.
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// ObservedAt is when the run started: its clock for StampObserved.
	ObservedAt time.Time `json:"observed_at"`
	DryRun     bool      `json:"dry_run"`
	CustomerID string    `json:"customer_id,omitempty"`
	// Items are in event time order, the order they were fed in.
	Items    []Item   `json:"items"`
	Counts   Counts   `json:"counts"`
	Warnings []string `json:"warnings,omitempty"`
}

// pending is an item to feed once every object is decided.
type pending struct {
	item      int
	eventType string
	body      []byte
}

// run is one Run's state.
type run struct {
	d          Deps
	o          Options
	observedAt time.Time
	log        *zap.Logger
	rep        *Report

	docs       map[string]access.Doc
	businessID string
	feeds      []pending
	incomplete bool
}

// Run reconciles the period of o: see the package documentation. It
// returns the report and, if it could not finish, an error; the report
// then lists what was done before. An error wrapping ErrIncomplete means it
// finished without seeing everything.
func Run(ctx context.Context, d Deps, o Options) (Report, error) {
	if d.Dodo == nil || d.Access == nil || (d.Publisher == nil && !o.DryRun) {
		return Report{}, errors.New("reconcile: Dodo, Access and (unless a dry run) a Publisher are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	r := &run{d: d, o: o, observedAt: d.Now().UTC(), log: d.Log, docs: map[string]access.Doc{}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if o.Until.IsZero() {
		o.Until = r.observedAt
	}
	o.Since, o.Until = o.Since.UTC(), o.Until.UTC()
	r.o = o
	r.rep = &Report{Since: o.Since, Until: o.Until, ObservedAt: r.observedAt, DryRun: o.DryRun, CustomerID: o.CustomerID, Items: []Item{}}
	switch {
	case o.Since.IsZero():
		return *r.rep, errors.New("reconcile: the start of the period (since) is required")
	case !o.Since.Before(o.Until):
		return *r.rep, fmt.Errorf("reconcile: since %s is not before until %s", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}

	payments, err := r.listPayments(ctx)
	if err != nil {
		return r.report(), err
	}
	subs, err := r.listSubscriptions(ctx, payments)
	if err != nil {
		return r.report(), err
	}
	for _, p := range payments {
		if err := ctx.Err(); err != nil {
			return r.stop(err)
		}
		r.payment(ctx, p)
	}
	for _, s := range subs {
		if err := ctx.Err(); err != nil {
			return r.stop(err)
		}
		r.subscription(ctx, s)
	}
	if err := r.publish(ctx); err != nil {
		return r.stop(err)
	}
	rep := r.report()
	if r.incomplete || rep.Counts.Failed > 0 {
		return rep, fmt.Errorf("%w: %d failed, %d warnings", ErrIncomplete, rep.Counts.Failed, len(rep.Warnings))
	}
	return rep, nil
}

// stop ends a run that cannot go on: the items queued but not published
// fail with err, and the report says what was done.
func (r *run) stop(err error) (Report, error) {
	for _, f := range r.feeds {
		if it := &r.rep.Items[f.item]; it.Action == actionQueued {
			*it = failed(*it, "not published: %v", err)
		}
	}
	return r.report(), err
}

// report sorts the items by event time (then kind and id) and counts them.
func (r *run) report() Report {
	rep := *r.rep
	items := slices.Clone(rep.Items)
	slices.SortStableFunc(items, func(a, b Item) int {
		return cmp.Or(a.EventAt.Compare(b.EventAt), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	rep.Items = items
	c := Counts{Seen: len(items)}
	for _, it := range items {
		switch it.Action {
		case ActionProcessed:
			c.Processed++
		case ActionFed:
			c.Fed++
		case ActionAlreadyFed:
			c.AlreadyFed++
		case ActionWouldFeed:
			c.WouldFeed++
		case ActionSkipped:
			c.Skipped++
			if c.SkippedBy == nil {
				c.SkippedBy = map[string]int{}
			}
			c.SkippedBy[it.Reason]++
		case ActionFailed:
			c.Failed++
		}
	}
	rep.Counts = c
	return rep
}

// warn records a warning in the report (not in the log too: the report is
// where the caller looks).
func (r *run) warn(format string, args ...any) {
	r.rep.Warnings = append(r.rep.Warnings, fmt.Sprintf(format, args...))
}

// bounded turns a listing stopped at its page bound into a warning: what
// was read is still worth reconciling.
func (r *run) bounded(what string, err error) error {
	if errors.Is(err, dodo.ErrTooManyPages) {
		r.incomplete = true
		r.warn("%s: stopped at the page bound, later pages not read (%v); narrow the period, or the run to a customer", what, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconcile: %s: %w", what, err)
	}
	return nil
}

func (r *run) listPayments(ctx context.Context) ([]wire.Payment, error) {
	since, until := r.o.Since, r.o.Until
	ps, err := r.d.Dodo.ListAllPayments(ctx, dodo.ListPaymentsParams{CustomerID: r.o.CustomerID, CreatedAtGte: &since, CreatedAtLte: &until})
	if err := r.bounded("list payments", err); err != nil {
		return nil, err
	}
	// Page-number pagination shows an item twice when a newer one arrives
	// between two pages (with Until in the future).
	seen := make(map[string]bool, len(ps))
	ps = slices.DeleteFunc(ps, func(p wire.Payment) bool {
		dup := seen[p.PaymentID]
		seen[p.PaymentID] = true
		return dup
	})
	r.log.Info("reconcile: payments listed", zap.Int("count", len(ps)))
	return ps, nil
}

// candidate is a subscription to decide, and how it was found. raw is set
// when it was read on its own (its full object).
type candidate struct {
	sub   wire.Subscription
	raw   json.RawMessage
	found string
}

// listSubscriptions gathers the subscriptions of the period (see the
// package documentation), each once, in a stable order.
func (r *run) listSubscriptions(ctx context.Context, payments []wire.Payment) ([]candidate, error) {
	since, until := r.o.Since, r.o.Until
	seen := map[string]bool{}
	var out []candidate
	add := func(c candidate) {
		if !seen[c.sub.SubscriptionID] {
			seen[c.sub.SubscriptionID] = true
			out = append(out, c)
		}
	}

	created, err := r.d.Dodo.ListAllSubscriptions(ctx, dodo.ListSubscriptionsParams{CustomerID: r.o.CustomerID, CreatedAtGte: &since, CreatedAtLte: &until})
	if err := r.bounded("list subscriptions created in the period", err); err != nil {
		return nil, err
	}
	for _, s := range created {
		add(candidate{sub: s, found: "created"})
	}
	// Cancellations, pauses and expiries make no payment, and Dodo cannot
	// list by when a subscription changed: list each such status in full
	// and keep those with a date in the period. on_hold and past_due are
	// kept whatever their dates (a failed renewal is usually also found by
	// its payment).
	for _, st := range []string{wire.SubscriptionOnHold, wire.SubscriptionPastDue, wire.SubscriptionPaused, wire.SubscriptionCancelled, wire.SubscriptionExpired} {
		subs, err := r.d.Dodo.ListAllSubscriptions(ctx, dodo.ListSubscriptionsParams{CustomerID: r.o.CustomerID, Status: st})
		if errors.Is(err, dodo.ErrTooManyPages) {
			// These listings cover all time, so a shorter period does not
			// shorten them, and a business with years of cancellations
			// always hits the bound: a warning, not a failed run. What is
			// missed is a change, in the period, of a subscription past
			// the bound (in Dodo's order) that made no payment.
			r.warn("list %s subscriptions: stopped at the page bound (%v); older %s subscriptions were not checked; narrow the run to a customer to check all of theirs", st, err, st)
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("reconcile: list %s subscriptions: %w", st, err)
		}
		for _, s := range subs {
			if st == wire.SubscriptionOnHold || st == wire.SubscriptionPastDue || touched(s, since, until) {
				add(candidate{sub: s, found: "status:" + st})
			}
		}
	}
	// Subscriptions charged in the period: renewals, plan changes and
	// failed renewals of subscriptions created before it; every one a
	// multi-subscription payment names.
	for _, p := range payments {
		for _, id := range p.Subscriptions() {
			if seen[id] {
				continue
			}
			s, raw, err := r.chargedSubscription(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				seen[id] = true
				r.add(failed(Item{Kind: access.KindSubscription, ID: id, CustomerID: p.Customer.CustomerID, Found: "charged"}, "%v", err))
				continue
			}
			add(candidate{sub: s, raw: raw, found: "charged"})
		}
	}
	r.log.Info("reconcile: subscriptions listed", zap.Int("count", len(out)))
	return out, nil
}

// chargedSubscription reads subscription id, which a payment of the
// period charges, as Dodo's JSON and decoded.
func (r *run) chargedSubscription(ctx context.Context, id string) (wire.Subscription, json.RawMessage, error) {
	var s wire.Subscription
	raw, err := r.d.Dodo.GetSubscriptionJSON(ctx, id)
	if err != nil {
		return s, nil, fmt.Errorf("read subscription: %w", err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, nil, fmt.Errorf("decode subscription: %w", err)
	}
	return s, raw, nil
}

// doc returns a customer's access document, read once per run: every
// decision of the run is made against the state before its first feed.
func (r *run) doc(ctx context.Context, customerID string) (access.Doc, error) {
	if d, ok := r.docs[customerID]; ok {
		return d, nil
	}
	d, _, err := r.d.Access.Get(ctx, customerID)
	if err != nil {
		return access.Doc{}, err
	}
	r.docs[customerID] = d
	return d, nil
}

// offer returns the offer a payment names: nil when it names none, no
// store was given, or the store does not know it.
func (r *run) offer(ctx context.Context, p wire.Payment) (*offers.Offer, error) {
	id := offerID(p)
	if id == "" || r.d.Offers == nil {
		return nil, nil
	}
	o, _, err := r.d.Offers.Get(ctx, id)
	if errors.Is(err, natsbus.ErrOfferNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

func (r *run) add(it Item) { r.rep.Items = append(r.rep.Items, it) }

func failed(it Item, format string, args ...any) Item {
	it.Action, it.Reason, it.Detail = ActionFailed, ReasonError, fmt.Sprintf(format, args...)
	return it
}

func decided(it Item, v verdict) Item {
	it.Action, it.Reason, it.Detail = v.action, v.reason, v.detail
	return it
}

func statusOf(p wire.Payment) string {
	if p.Status == nil {
		return ""
	}
	return *p.Status
}

// payment decides one payment of the list, and queues it if it is to be
// fed. The list item is enough to tell a processed payment; one to feed is
// read in full (the list lacks product_cart, among others) and decided
// again on what Dodo says now.
func (r *run) payment(ctx context.Context, p wire.Payment) {
	it := Item{Kind: access.KindPayment, ID: p.PaymentID, CustomerID: p.Customer.CustomerID, Status: statusOf(p), Found: "created", EventAt: p.CreatedAt.UTC()}
	judge := func(p wire.Payment) (string, verdict, error) {
		typ, ok := paymentEventType(statusOf(p))
		if !ok {
			return "", skip(ReasonNotFinal, "status %q", statusOf(p)), nil
		}
		if p.Customer.CustomerID == "" {
			return typ, skip(ReasonNoCustomer, "no customer id"), nil
		}
		doc, err := r.doc(ctx, p.Customer.CustomerID)
		if err != nil {
			return typ, verdict{}, err
		}
		o, err := r.offer(ctx, p)
		if err != nil {
			return typ, verdict{}, err
		}
		return typ, judgePayment(p, typ, doc, o), nil
	}
	typ, v, err := judge(p)
	it.EventType = typ
	if err != nil {
		r.add(failed(it, "%v", err))
		return
	}
	if v.action != ActionFed {
		r.add(decided(it, v))
		return
	}

	raw, err := r.d.Dodo.GetPaymentJSON(ctx, p.PaymentID)
	if err != nil {
		r.add(failed(it, "read payment: %v", err))
		return
	}
	var full wire.Payment
	if err := json.Unmarshal(raw, &full); err != nil {
		r.add(failed(it, "decode payment: %v", err))
		return
	}
	if full.BusinessID != "" && r.businessID == "" {
		r.businessID = full.BusinessID
	}
	it.Status = statusOf(full)
	typ, v, err = judge(full)
	it.EventType = typ
	if err != nil {
		r.add(failed(it, "%v", err))
		return
	}
	if v.action != ActionFed {
		r.add(decided(it, v))
		return
	}
	at := paymentTime(full)
	id := WebhookID(typ, full.PaymentID, it.Status, "", at)
	body, err := Body(full.BusinessID, typ, at, PayloadPayment, raw)
	if err == nil {
		_, err = checkBody(body, typ, at, full.PaymentID, it.Status)
	}
	if err != nil {
		r.add(failed(it, "build %s: %v", typ, err))
		return
	}
	it.Reason, it.Detail = v.reason, v.detail
	it.WebhookID, it.EventAt, it.Stamp = id, at, StampObject
	r.queue(it, typ, body)
}

// subscription decides one subscription, and queues it if it is to be
// fed: like payment, decided first on what was listed, then again on the
// full object, with its event time from its own dates and charges.
func (r *run) subscription(ctx context.Context, c candidate) {
	s := c.sub
	it := Item{Kind: access.KindSubscription, ID: s.SubscriptionID, CustomerID: s.Customer.CustomerID, Status: s.Status, Found: c.found, EventAt: s.CreatedAt.UTC()}
	judge := func(s wire.Subscription) (string, access.Doc, verdict, error) {
		if s.Customer.CustomerID == "" {
			return "", access.Doc{}, skip(ReasonNoCustomer, "no customer id"), nil
		}
		doc, err := r.doc(ctx, s.Customer.CustomerID)
		if err != nil {
			return "", doc, verdict{}, err
		}
		typ, v := judgeSubscription(s, doc)
		return typ, doc, v, nil
	}
	typ, _, v, err := judge(s)
	it.EventType = typ
	if err != nil {
		r.add(failed(it, "%v", err))
		return
	}
	if v.action != ActionFed {
		r.add(decided(it, v))
		return
	}

	raw := c.raw
	if raw == nil {
		if raw, err = r.d.Dodo.GetSubscriptionJSON(ctx, s.SubscriptionID); err != nil {
			r.add(failed(it, "read subscription: %v", err))
			return
		}
	}
	var full wire.Subscription
	if err := json.Unmarshal(raw, &full); err != nil {
		r.add(failed(it, "decode subscription: %v", err))
		return
	}
	it.Status = full.Status
	typ, doc, v, err := judge(full)
	it.EventType = typ
	if err != nil {
		r.add(failed(it, "%v", err))
		return
	}
	if v.action != ActionFed {
		r.add(decided(it, v))
		return
	}
	charges, businessID, err := r.charges(ctx, full)
	if err != nil {
		r.add(failed(it, "list the subscription's payments: %v", err))
		return
	}

	at := subscriptionTime(full, charges, r.observedAt)
	stamp := StampObject
	id := WebhookID(typ, full.SubscriptionID, full.Status, full.ProductID, at)
	u, ok := subscriptionUpdate(id, typ, at, full)
	if !ok {
		r.add(failed(it, "%s makes no access update", typ))
		return
	}
	switch placement(doc, u, r.observedAt) {
	case StampObserved:
		stamp, at = StampObserved, r.observedAt
		id = WebhookID(typ, full.SubscriptionID, full.Status, full.ProductID, at)
	case "":
		src := doc.Sources[sourceKey(u.Kind, u.ID)]
		r.add(decided(it, skip(ReasonConflict, "offerflow recorded %s at %s, during this run; Dodo says %s", src.EventType, src.EventAt.Format(time.RFC3339Nano), full.Status)))
		return
	}
	body, err := Body(businessID, typ, at, PayloadSubscription, raw)
	if err == nil {
		_, err = checkBody(body, typ, at, full.SubscriptionID, full.Status)
	}
	if err != nil {
		r.add(failed(it, "build %s: %v", typ, err))
		return
	}
	it.Reason, it.Detail = v.reason, v.detail
	it.WebhookID, it.EventAt, it.Stamp = id, at, stamp
	r.queue(it, typ, body)
}

// charges returns the creation times of every payment of subscription s
// (for its event time; all of them, not only the period's, so that the
// time does not depend on the period asked for) and the business id for
// its webhook body: the one of a payment read in this run, else of one of
// its payments, else its brand (Dodo's default brand has the business's
// id; offerflow reads neither).
func (r *run) charges(ctx context.Context, s wire.Subscription) ([]time.Time, string, error) {
	ps, err := r.d.Dodo.ListAllPayments(ctx, dodo.ListPaymentsParams{SubscriptionID: s.SubscriptionID})
	if err != nil && !errors.Is(err, dodo.ErrTooManyPages) {
		return nil, "", err
	}
	times := make([]time.Time, 0, len(ps))
	for _, p := range ps {
		times = append(times, p.CreatedAt)
	}
	if r.businessID == "" && len(ps) > 0 {
		raw, err := r.d.Dodo.GetPaymentJSON(ctx, ps[0].PaymentID)
		if err != nil {
			return nil, "", err
		}
		var p wire.Payment
		if err := json.Unmarshal(raw, &p); err == nil {
			r.businessID = p.BusinessID
		}
	}
	return times, cmp.Or(r.businessID, s.BrandID), nil
}

// actionQueued marks an item to feed until publish says what became of it.
const actionQueued Action = ""

func (r *run) queue(it Item, eventType string, body []byte) {
	it.Action = actionQueued
	r.rep.Items = append(r.rep.Items, it)
	r.feeds = append(r.feeds, pending{item: len(r.rep.Items) - 1, eventType: eventType, body: body})
}

// publish feeds the queued events in event time order and waits for each
// PubAck, or in a dry run marks them ActionWouldFeed. A message that is
// not stored fails its item; the run goes on with the next (each has its
// own id, so running again later publishes only what is missing).
func (r *run) publish(ctx context.Context) error {
	slices.SortStableFunc(r.feeds, func(a, b pending) int {
		x, y := r.rep.Items[a.item], r.rep.Items[b.item]
		return cmp.Or(x.EventAt.Compare(y.EventAt), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.ID, y.ID))
	})
	for _, f := range r.feeds {
		it := &r.rep.Items[f.item]
		if r.o.DryRun {
			it.Action = ActionWouldFeed
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		msg := message(f.eventType, it.WebhookID, r.d.Now(), f.body)
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		ack, err := r.d.Publisher.Send(pctx, msg)
		cancel()
		if err != nil {
			*it = failed(*it, "publish %s: %v", msg.Subject, err)
			continue
		}
		it.Sequence, it.Action = ack.Sequence, ActionFed
		if ack.Duplicate {
			it.Action = ActionAlreadyFed
		}
	}
	return nil
}
