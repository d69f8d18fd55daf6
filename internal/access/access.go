// Package access decides what a customer may use, from Dodo's events.
//
// A customer's access is a set of sources, one per subscription or one-time
// payment, each with the products it grants and its latest known state.
// Effective access is derived from the sources; an event updates exactly one
// source. Because Dodo neither orders deliveries nor sends the state at the
// time of the event, a source only moves to an event that is newer than the
// one it last saw (by event timestamp, then by a fixed rank, then by
// webhook-id, so that every arrival order ends in the same state), and
// re-applying an event is a no-op.
//
// The package is pure: no I/O, time passed in. The worker stores a Doc per
// customer and publishes the Changes that Apply returns.
package access

import (
	"slices"
	"sort"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
)

// State is a source's or a product's access state.
type State string

// The access states. Suspended is recoverable (a subscription on hold, past
// due or paused); revoked is not, until a newer event grants again.
const (
	Active    State = "active"
	Suspended State = "suspended"
	Revoked   State = "revoked"
)

// rank orders states for events with equal timestamps: the more final state
// wins, so that a cancellation and an activation stamped in the same
// instant end cancelled whatever order they arrive in.
func (s State) rank() int {
	switch s {
	case Active:
		return 1
	case Suspended:
		return 2
	case Revoked:
		return 3
	}
	return 0
}

// Source kinds.
const (
	KindSubscription = "subscription"
	KindPayment      = "payment"
)

// Source is one subscription or payment that grants products.
type Source struct {
	Kind     string   `json:"kind"`
	ID       string   `json:"id"`
	Products []string `json:"products,omitempty"`
	State    State    `json:"state"`
	// The event that set this state: only a newer one may change it.
	EventType string    `json:"event_type"`
	EventAt   time.Time `json:"event_at"`
	WebhookID string    `json:"webhook_id"`
}

func sourceKey(kind, id string) string { return kind + ":" + id }

// Doc is everything stored for one customer.
type Doc struct {
	CustomerID string            `json:"customer_id"`
	Sources    map[string]Source `json:"sources"`
	// Outbox holds the changes each webhook caused, until they are surely
	// published: a worker that crashes after storing the Doc and before
	// publishing finds them here when the webhook is redelivered, and
	// publishes them again under the same message ids.
	Outbox    map[string]Pending `json:"outbox,omitempty"`
	UpdatedAt time.Time          `json:"updated_at"`
	// Contact is how to reach the customer, from the newest event that
	// named them: what confirmations are sent to.
	Contact Contact `json:"contact,omitzero"`
	// ForgottenUpTo is the newest event time of the revoked sources
	// dropped after RevokedRetention. An event about a source the document
	// does not hold, stamped at or before it, may be about one of them and
	// is ignored: applied, an old grant could undo a refund or a
	// cancellation that was forgotten.
	ForgottenUpTo time.Time `json:"forgotten_up_to,omitzero"`
}

// RevokedRetention is how long, in event time, a revoked source stays in its
// document: until an event this much newer is applied. Only its ordering
// matters by then (an older event must not grant again), which
// ForgottenUpTo keeps once it is dropped; so a document holds the customer's
// live subscriptions and purchases and the last 90 days of revocations, not
// every source ever seen.
const RevokedRetention = 90 * 24 * time.Hour

// Contact is a customer's email, name and language as Dodo's events give
// them. Language comes from the payment's or subscription's metadata, or
// the customer's ("language" or "locale", e.g. "es" or "es-MX"); empty
// means unknown.
type Contact struct {
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
}

// Pending is the changes one webhook caused, kept in the outbox.
type Pending struct {
	At      time.Time `json:"at"`
	Changes []Change  `json:"changes"`
}

// OutboxTTL is how long changes stay in the outbox. Redelivery of a webhook
// whose worker crashed comes within the consumer's AckWait and backoff, far
// sooner than this.
const OutboxTTL = time.Hour

// Change kinds, published as offerflow.access.<kind>.<customer_id>.
const (
	ChangeGranted = "granted"
	ChangeRevoked = "revoked"
)

// SourceRef names a source in a Change.
type SourceRef struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Change is one product gained or lost by a customer. It is the JSON body
// of offerflow.access.{granted,revoked}.<customer_id> (see docs/contract.md).
type Change struct {
	// ID is unique per webhook, product and kind; it is the message's
	// Nats-Msg-Id, so a republish after a crash is de-duplicated.
	ID         string `json:"id"`
	Type       string `json:"type"` // "access.granted" or "access.revoked"
	CustomerID string `json:"customer_id"`
	ProductID  string `json:"product_id"`
	// Features are the product's features for a grant, and the features
	// the customer no longer has from any product for a revoke.
	Features []string `json:"features"`
	// Status is the product's state after the change: active, suspended
	// (recoverable) or revoked.
	Status    State     `json:"status"`
	Source    SourceRef `json:"source"`
	EventType string    `json:"event_type"`
	EventAt   time.Time `json:"event_at"`
	WebhookID string    `json:"webhook_id"`
	// OfferID is set when the change comes from the charge of an
	// offerflow offer (whose own messages and confirmation cover it).
	OfferID string `json:"offer_id,omitempty"`
}

// Kind returns "granted" or "revoked".
func (c Change) Kind() string {
	if c.Type == "access.granted" {
		return ChangeGranted
	}
	return ChangeRevoked
}

// Catalog maps a product to its named features. A nil Catalog, or a
// product it does not know, means access by product id only.
type Catalog interface {
	Features(productID string) []string
}

// Update is what one event says about one source.
type Update struct {
	CustomerID string
	Kind       string
	ID         string
	// Products replaces the source's products; nil keeps them (a refund
	// names the payment, not what it bought).
	Products  []string
	State     State
	EventType string
	EventAt   time.Time
	WebhookID string
	// OfferID is the offerflow offer whose charge this payment is, from
	// its metadata; empty for anything else.
	OfferID string
	// Contact is the customer's contact as the event gives it.
	Contact Contact
}

// MetadataOfferID is the metadata key under which offerflow's charges
// name their offer (offerengine.MetadataOfferID; a test keeps them equal).
const MetadataOfferID = "offerflow_offer_id"

// newerThan reports whether u should replace what s recorded.
func (u Update) newerThan(s Source) bool {
	if !u.EventAt.Equal(s.EventAt) {
		return u.EventAt.After(s.EventAt)
	}
	if u.State.rank() != s.State.rank() {
		return u.State.rank() > s.State.rank()
	}
	return u.WebhookID > s.WebhookID
}

// FromEvent returns the access update an event implies, and false when the
// event does not change access.
func FromEvent(webhookID string, ev events.Event) (Update, bool) {
	u := Update{EventType: ev.Type, EventAt: ev.Timestamp, WebhookID: webhookID}
	switch p := ev.Payload.(type) {
	case *events.Payment:
		// Payments of a subscription (renewals, plan changes) grant
		// nothing themselves: the subscription's events decide, so that
		// cancelling it revokes everything. A payment that starts several
		// subscriptions names them in subscription_ids only.
		if ev.Type != events.TypePaymentSucceeded || len(p.Subscriptions()) > 0 {
			return Update{}, false
		}
		for _, item := range p.ProductCart {
			if item.ProductID != "" && !slices.Contains(u.Products, item.ProductID) {
				u.Products = append(u.Products, item.ProductID)
			}
		}
		if len(u.Products) == 0 || p.PaymentID == "" {
			return Update{}, false
		}
		u.CustomerID, u.Kind, u.ID, u.State = p.CustomerID(), KindPayment, p.PaymentID, Active
		if v, ok := p.Metadata[MetadataOfferID]; ok {
			u.OfferID = v.String()
		}
		u.Contact = contact(p.Customer, p.Metadata)
	case *events.Refund:
		// A partial refund keeps the purchase; only a full refund takes
		// back what the payment granted.
		if ev.Type != events.TypeRefundSucceeded || p.IsPartial || p.PaymentID == "" {
			return Update{}, false
		}
		u.CustomerID, u.Kind, u.ID, u.State = p.CustomerID(), KindPayment, p.PaymentID, Revoked
	case *events.Subscription:
		state, ok := subscriptionState(ev.Type, p.Status)
		if !ok || p.SubscriptionID == "" {
			return Update{}, false
		}
		u.CustomerID, u.Kind, u.ID, u.State = p.CustomerID(), KindSubscription, p.SubscriptionID, state
		u.Contact = contact(p.Customer, p.Metadata)
		if p.ProductID != "" {
			u.Products = []string{p.ProductID}
		}
	default:
		return Update{}, false
	}
	if u.CustomerID == "" {
		return Update{}, false
	}
	return u, true
}

func contact(c wire.CustomerLimitedDetails, m wire.Metadata) Contact {
	out := Contact{Email: c.Email, Name: c.Name}
	for _, md := range []wire.Metadata{m, c.Metadata} {
		for _, k := range []string{"language", "locale"} {
			if v, ok := md[k]; ok && v.String() != "" && out.Language == "" {
				out.Language = v.String()
			}
		}
	}
	return out
}

// subscriptionState maps a subscription event to a state. Most types say it
// themselves; subscription.updated says only "something changed", so its
// payload's status (the latest state) decides.
func subscriptionState(eventType, status string) (State, bool) {
	switch eventType {
	case events.TypeSubscriptionActive, events.TypeSubscriptionRenewed,
		events.TypeSubscriptionPlanChanged, events.TypeSubscriptionUnpaused:
		return Active, true
	case events.TypeSubscriptionOnHold, events.TypeSubscriptionPaused,
		// past_due: a renewal failed and Dodo retries within a grace
		// period. Like on_hold, suspended rather than revoked: the
		// recovery (subscription.active or .renewed) grants again.
		events.TypeSubscriptionPastDue:
		return Suspended, true
	case events.TypeSubscriptionCancelled, events.TypeSubscriptionExpired, events.TypeSubscriptionFailed:
		return Revoked, true
	case events.TypeSubscriptionUpdated:
		switch status {
		case "active":
			return Active, true
		case "on_hold", "paused", "past_due":
			return Suspended, true
		case "cancelled", "expired", "failed":
			return Revoked, true
		}
	}
	return "", false
}

// Apply applies u to doc and returns the new doc, the changes to publish for
// this webhook (including ones an earlier, interrupted attempt recorded),
// and whether doc must be stored. It never modifies its argument.
//
// settled reports webhooks whose changes are known to be published; their
// outbox entries are dropped at this write instead of waiting for
// OutboxTTL, which keeps busy customers' documents small. nil means none is
// known.
func Apply(doc Doc, u Update, cat Catalog, now time.Time, settled func(webhookID string) bool) (Doc, []Change, bool) {
	next := doc.clone()
	if next.CustomerID == "" {
		next.CustomerID = u.CustomerID
	}
	// Pruning alone is not worth a write: it rides along the next one.
	next.pruneOutbox(now, u.WebhookID, settled)

	if p, ok := next.Outbox[u.WebhookID]; ok {
		// An earlier attempt stored this webhook's changes: publish them
		// again, do not apply twice.
		return next, p.Changes, false
	}
	key := sourceKey(u.Kind, u.ID)
	cur, seen := next.Sources[key]
	if seen && !u.newerThan(cur) {
		return next, nil, false
	}
	if !seen && !next.ForgottenUpTo.IsZero() && !u.EventAt.After(next.ForgottenUpTo) {
		return next, nil, false
	}
	before := next.effective()
	products := u.Products
	if products == nil {
		products = cur.Products
	}
	next.Sources[key] = Source{
		Kind: u.Kind, ID: u.ID, Products: products, State: u.State,
		EventType: u.EventType, EventAt: u.EventAt, WebhookID: u.WebhookID,
	}
	next.UpdatedAt = now
	if u.Contact.Email != "" {
		lang := u.Contact.Language
		if lang == "" {
			lang = next.Contact.Language // a later event without it keeps what we knew
		}
		next.Contact = Contact{Email: u.Contact.Email, Name: u.Contact.Name, Language: lang}
	}
	changes := diff(next.CustomerID, before, next.effective(), u, cat)
	if len(changes) > 0 {
		next.Outbox[u.WebhookID] = Pending{At: now, Changes: changes}
	}
	next.forgetRevoked(key)
	return next, changes, true
}

// forgetRevoked drops revoked sources whose revoking event is more than
// RevokedRetention older than the newest event the document holds (event
// time, not the clock: replaying old events must not forget what they
// need), never the one just applied, and moves ForgottenUpTo past them. A
// revoked source grants nothing, so access is unchanged.
func (d *Doc) forgetRevoked(current string) {
	var newest time.Time
	for _, src := range d.Sources {
		if src.EventAt.After(newest) {
			newest = src.EventAt
		}
	}
	for k, src := range d.Sources {
		if k == current || src.State != Revoked || newest.Sub(src.EventAt) <= RevokedRetention {
			continue
		}
		delete(d.Sources, k)
		if src.EventAt.After(d.ForgottenUpTo) {
			d.ForgottenUpTo = src.EventAt
		}
	}
}

func (d Doc) clone() Doc {
	c := d
	c.Sources = make(map[string]Source, len(d.Sources)+1)
	for k, v := range d.Sources {
		c.Sources[k] = v
	}
	c.Outbox = make(map[string]Pending, len(d.Outbox)+1)
	for k, v := range d.Outbox {
		c.Outbox[k] = v
	}
	return c
}

// pruneOutbox drops expired and settled entries, never the one of the
// webhook being applied.
func (d *Doc) pruneOutbox(now time.Time, current string, settled func(string) bool) {
	for id, p := range d.Outbox {
		if now.Sub(p.At) > OutboxTTL || id != current && settled != nil && settled(id) {
			delete(d.Outbox, id)
		}
	}
}

// effective returns each product's state across all sources: active if any
// source grants it, else suspended if any suspended source has it.
func (d Doc) effective() map[string]State {
	out := map[string]State{}
	for _, s := range d.Sources {
		if s.State == Revoked {
			continue
		}
		for _, p := range s.Products {
			if out[p] != Active {
				out[p] = s.State
			}
		}
	}
	return out
}

func diff(customerID string, before, after map[string]State, u Update, cat Catalog) []Change {
	var products []string
	for p := range before {
		products = append(products, p)
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			products = append(products, p)
		}
	}
	sort.Strings(products)
	var out []Change
	for _, p := range products {
		b, a := before[p], after[p]
		var kind string
		switch {
		case b != Active && a == Active:
			kind = ChangeGranted
		case b == Active && a != Active:
			kind = ChangeRevoked
		default:
			continue
		}
		status := a
		if status == "" {
			status = Revoked
		}
		c := Change{
			ID:         "access." + u.WebhookID + "." + kind + "." + p,
			Type:       "access." + kind,
			CustomerID: customerID,
			ProductID:  p,
			Status:     status,
			Source:     SourceRef{Kind: u.Kind, ID: u.ID},
			EventType:  u.EventType,
			EventAt:    u.EventAt,
			WebhookID:  u.WebhookID,
			OfferID:    u.OfferID,
		}
		if kind == ChangeGranted {
			c.Features = features(cat, p)
		} else {
			c.Features = lostFeatures(cat, p, after)
		}
		out = append(out, c)
	}
	return out
}

func features(cat Catalog, product string) []string {
	if cat == nil {
		return []string{}
	}
	f := slices.Clone(cat.Features(product))
	if f == nil {
		return []string{}
	}
	sort.Strings(f)
	return f
}

// lostFeatures is product's features that no active product still gives:
// moving from Pro to Basic loses only what Basic lacks.
func lostFeatures(cat Catalog, product string, after map[string]State) []string {
	kept := map[string]bool{}
	for p, s := range after {
		if s == Active {
			for _, f := range features(cat, p) {
				kept[f] = true
			}
		}
	}
	out := []string{}
	for _, f := range features(cat, product) {
		if !kept[f] {
			out = append(out, f)
		}
	}
	return out
}

// ProductAccess is one product in a View.
type ProductAccess struct {
	ProductID string      `json:"product_id"`
	Status    State       `json:"status"`
	Features  []string    `json:"features"`
	Sources   []SourceRef `json:"sources"`
}

// View is a customer's access as the API shows it.
type View struct {
	CustomerID string          `json:"customer_id"`
	Products   []ProductAccess `json:"products"`
	// Features is every feature of every active product.
	Features  []string  `json:"features"`
	UpdatedAt time.Time `json:"updated_at"`
}

// View returns the customer's current access: active and suspended
// products, and the features the active ones give.
func (d Doc) View(cat Catalog) View {
	v := View{CustomerID: d.CustomerID, Products: []ProductAccess{}, Features: []string{}, UpdatedAt: d.UpdatedAt}
	eff := d.effective()
	featureSet := map[string]bool{}
	for p, st := range eff {
		pa := ProductAccess{ProductID: p, Status: st, Features: features(cat, p), Sources: []SourceRef{}}
		for _, s := range d.Sources {
			if s.State == st && slices.Contains(s.Products, p) {
				pa.Sources = append(pa.Sources, SourceRef{Kind: s.Kind, ID: s.ID})
			}
		}
		sort.Slice(pa.Sources, func(i, j int) bool { return pa.Sources[i].ID < pa.Sources[j].ID })
		if st == Active {
			for _, f := range pa.Features {
				featureSet[f] = true
			}
		}
		v.Products = append(v.Products, pa)
	}
	sort.Slice(v.Products, func(i, j int) bool { return v.Products[i].ProductID < v.Products[j].ProductID })
	for f := range featureSet {
		v.Features = append(v.Features, f)
	}
	sort.Strings(v.Features)
	return v
}

// NewDoc returns an empty Doc for a customer.
func NewDoc(customerID string) Doc {
	return Doc{CustomerID: customerID, Sources: map[string]Source{}, Outbox: map[string]Pending{}}
}
