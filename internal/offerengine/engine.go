// Package offerengine is offerflow's offer engine: it turns a trigger (a Dodo
// webhook, a signal from the merchant's app, a decline, a request of the
// merchant's backend) into at most one priced offer, and an accepted offer
// into exactly one charge.
//
// Making an offer: the rules (package rules, pure) choose at most one by
// priority; the engine checks that Dodo can honour it (a saved payment
// method of the customer's that is not expired and may be charged
// off-session; a product currency the customer has paid in; for a plan
// change an active subscription without a pending change), prices it from
// Dodo (the product's price; a plan change's preview for the rule's
// proration mode), stores it, notes it in the customer's offer index, and
// publishes offerflow.offers.created.<customer> with a signed accept token.
// The offer id derives from the trigger and the rule, and the index is
// consulted first, so a redelivered trigger finds its offer instead of
// making a second one.
//
// Accepting: the token (or the server token) is checked, the token's nonce
// is used up, and the offer moves open -> accepted by compare-and-swap; only
// the caller whose swap won charges, with the offer id as the charge's
// idempotency key, so however many clicks arrive, at once or not, Dodo is
// asked once. A failed one-click charge is never retried: the offer fails
// with the fallback (a standard checkout link, the hint to update the card).
//
// Every published message has a Nats-Msg-Id of offer id and state, so a
// republish after a crash is de-duplicated; every transition is idempotent
// where a redelivery repeats it (package offers).
package offerengine

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/offertoken"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/tracing"
)

// Dodo is what the engine needs from Dodo's API. *dodo.Client implements
// it; the engine owns the contract.
type Dodo interface {
	ListPaymentMethods(ctx context.Context, customerID string) ([]wire.CustomerPaymentMethod, error)
	GetProduct(ctx context.Context, productID string) (wire.Product, error)
	GetPayment(ctx context.Context, paymentID string) (wire.Payment, error)
	GetSubscription(ctx context.Context, subscriptionID string) (wire.Subscription, error)
	ListPayments(ctx context.Context, p dodo.ListPaymentsParams) ([]wire.Payment, error)
	CreateCheckout(ctx context.Context, req dodo.CheckoutRequest) (dodo.CheckoutSession, error)
	PreviewChangePlan(ctx context.Context, subscriptionID string, req dodo.ChangePlanRequest) (wire.ChangePlanPreview, error)
	ChangePlan(ctx context.Context, subscriptionID string, req dodo.ChangePlanRequest) (wire.ChangePlanResult, error)
	FindPayment(ctx context.Context, customerID, key string, since time.Time) (wire.Payment, bool, error)
}

// AccessReader reads a customer's access, for the rules' facts (what the
// customer owns, their plan).
type AccessReader interface {
	Get(ctx context.Context, customerID string) (access.Doc, uint64, error)
}

// Metadata keys offerflow writes on the charges it makes, so that the
// payment's webhooks find the offer again.
const MetadataOfferID = "offerflow_offer_id"

// Config are the engine's settings.
type Config struct {
	// ReturnURL is where Dodo sends a customer after a checkout page or a
	// 3-D Secure step; empty for none.
	ReturnURL string
	// StuckAfter is how long an accepted offer may wait for its charge's
	// outcome before the sweep looks the charge up at Dodo.
	StuckAfter time.Duration
	// FetchPaidCurrencies lists the customer's payments when a rule
	// matches, to learn the currencies they have paid in.
	FetchPaidCurrencies bool
	// PublicURL is the ingest's public base URL (scheme, host, optional
	// path prefix, no trailing slash): offers.created messages and the
	// answers that carry a token carry the offer page's URL under it;
	// empty for none.
	PublicURL string
	// ProductTTL is how long a product read from Dodo (its name and
	// price) is used before it is read again; 0 reads it for every
	// offer. Dodo sends no webhook when a product changes.
	ProductTTL time.Duration
	// MaxProducts bounds the products kept.
	MaxProducts int
}

// DefaultProductTTL is how long a product read from Dodo is used: a price
// changed at Dodo reaches new offers within this.
const DefaultProductTTL = 5 * time.Minute

// DefaultConfig returns the engine's defaults.
func DefaultConfig() Config {
	return Config{StuckAfter: 2 * time.Minute, FetchPaidCurrencies: true, ProductTTL: DefaultProductTTL, MaxProducts: 10_000}
}

// Engine makes, prices, accepts, declines, settles and expires offers. It
// is safe for concurrent use, and any number of engines (in workers and
// ingest replicas) may share one store.
type Engine struct {
	dodo    Dodo
	store   *natsbus.OfferStore
	access  AccessReader
	pub     *natsbus.Publisher
	catalog *rules.Catalog
	signer  *offertoken.Signer
	cfg     Config
	now     func() time.Time
	log     *zap.Logger
	metrics *Metrics
	tracer  trace.Tracer
	// products keeps the products read from Dodo for cfg.ProductTTL.
	products *productCache
	// countLocks order this engine's writes of each rule's figures
	// (count).
	countLocks [64]sync.Mutex
}

// Deps are the Engine's collaborators; all are required except Metrics.
type Deps struct {
	Dodo    Dodo
	Store   *natsbus.OfferStore
	Access  AccessReader
	Pub     *natsbus.Publisher
	Catalog *rules.Catalog
	Signer  *offertoken.Signer
	Now     func() time.Time
	Log     *zap.Logger
	Metrics *Metrics
	// Tracer makes the accept's span; nil: none.
	Tracer trace.TracerProvider
}

// New returns an Engine.
func New(d Deps, cfg Config) (*Engine, error) {
	switch {
	case d.Dodo == nil:
		return nil, errors.New("offerengine: a Dodo client is required")
	case d.Store == nil || d.Access == nil || d.Pub == nil:
		return nil, errors.New("offerengine: the offer store, access store and publisher are required")
	case d.Signer == nil:
		return nil, errors.New("offerengine: an offer token signer is required (OFFERFLOW_OFFER_KEY)")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultConfig().StuckAfter
	}
	if cfg.MaxProducts <= 0 {
		cfg.MaxProducts = DefaultConfig().MaxProducts
	}
	return &Engine{dodo: d.Dodo, store: d.Store, access: d.Access, pub: d.Pub, catalog: d.Catalog, signer: d.Signer,
		cfg: cfg, now: d.Now, log: d.Log, metrics: d.Metrics, products: newProductCache(cfg.ProductTTL, cfg.MaxProducts, d.Now),
		tracer: tracing.Provider(d.Tracer).Tracer("github.com/offerflow/offerflow/internal/offerengine")}, nil
}

// count adds o's move to state to its rule's figures in the offer store.
// The figures of a rule are one key, written by compare-and-swap: with
// every handler of a burst writing the same key at once, nearly every
// write lost the swap and retried after a sleep (a fifth of the worker's
// CPU per offer went there). So this engine's writes of one rule's figures
// take turns; only writes of other processes can still collide.
func (e *Engine) count(ctx context.Context, o offers.Offer, state offers.State) error {
	h := fnv.New32a()
	_, _ = h.Write([]byte(offers.StatsKey(o)))
	mu := &e.countLocks[h.Sum32()%uint32(len(e.countLocks))]
	mu.Lock()
	defer mu.Unlock()
	return e.store.Count(ctx, o, state)
}

// product returns a product from Dodo, or as read within cfg.ProductTTL.
func (e *Engine) product(ctx context.Context, id string) (wire.Product, error) {
	return e.products.get(ctx, id, e.dodo.GetProduct)
}

// Message is the JSON body of every offerflow.offers.* message: the offer
// as stored, the event, and in offers.created the accept token.
type Message struct {
	// Event is "offer.created", "offer.accepted", "offer.converted",
	// "offer.failed", "offer.declined" or "offer.expired".
	Event string `json:"event"`
	offers.Offer
	// AcceptToken is the signed, expiring, single-use token that lets the
	// customer accept (POST /v1/offers/{id}/accept {"token": ...}); only
	// in offer.created. Hand it to the customer's browser only.
	AcceptToken string `json:"accept_token,omitempty"`
	// PageURL is the hosted offer page with AcceptToken, under
	// Config.PublicURL; only with an AcceptToken and a PublicURL.
	PageURL string `json:"page_url,omitempty"`
}

// publish sends o's message for its current state, with a Nats-Msg-Id of
// offer id and state, so a republish (a redelivered trigger, a retried API
// call, a crash before the publish) is de-duplicated by JetStream.
func (e *Engine) publish(ctx context.Context, o offers.Offer) error {
	ev := offers.EventOf(o.State)
	m := Message{Event: "offer." + string(ev), Offer: o}
	// A republished creation of an offer that has moved on (see
	// publishState) is de-duplicated by its message id; it needs a token
	// only while the offer can still be accepted.
	if ttl := o.ExpiresAt.Sub(e.now()); o.State == offers.Open && ttl > 0 {
		tok, _, err := e.signer.Sign(o.ID, o.CustomerID, ttl)
		if err != nil {
			return fmt.Errorf("sign accept token of %s: %w", o.ID, err)
		}
		m.AcceptToken = tok
		m.PageURL = e.PageURL(o.ID, tok)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode offer %s: %w", o.ID, err)
	}
	msg := events.Message{
		Subject: offers.Subject(ev, natsbus.Token(o.CustomerID)),
		ID:      "offer." + o.ID + "." + string(o.State),
		Data:    body,
	}
	if _, err := e.pub.Send(ctx, msg); err != nil {
		return fmt.Errorf("publish offer %s %s: %w", o.ID, ev, err)
	}
	return nil
}

// stored records what a transition that this caller's write made: the
// index entry, the rule's figures and the metrics. Index and figures are
// separate writes after the offer's own; a crash in between leaves the
// index behind until the offer is touched again, and a figure uncounted
// (never counted twice).
func (e *Engine) stored(ctx context.Context, o offers.Offer) error {
	if err := e.store.NoteOffer(ctx, o, e.now()); err != nil {
		return err
	}
	if err := e.count(ctx, o, o.State); err != nil {
		e.log.Warn("count offer", zap.String("offer_id", o.ID), zap.Error(err))
	}
	e.metrics.count(o, o.State)
	return nil
}

// offerID derives an offer's id from its customer, trigger and rule, and,
// for a request of the merchant's backend, what it asked for (variant): the
// same trigger handled twice computes the same id. The customer is part of
// it because trigger keys are ids a client chose (request and signal ids):
// two customers using the same id must never share an offer, whose accept
// would charge the other's card. Each part is length-prefixed, so no two
// different tuples hash the same input.
func offerID(customerID, triggerKey, ruleID, variant string) string {
	h := sha256.New()
	for _, part := range []string{customerID, triggerKey, ruleID, variant} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return "ofr_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// Get returns an offer.
func (e *Engine) Get(ctx context.Context, id string) (offers.Offer, error) {
	o, _, err := e.store.Get(ctx, id)
	return o, err
}

// OpenOffers returns the customer's offers that are open now, oldest first.
func (e *Engine) OpenOffers(ctx context.Context, customerID string) ([]offers.Offer, error) {
	ix, _, err := e.store.Index(ctx, customerID)
	if err != nil {
		return nil, err
	}
	out := []offers.Offer{}
	for _, en := range ix.Open(e.now()) {
		o, _, err := e.store.Get(ctx, en.OfferID)
		if errors.Is(err, natsbus.ErrOfferNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if o.State == offers.Open {
			out = append(out, o)
		}
	}
	return out, nil
}

// Stats returns every rule's conversion figures.
func (e *Engine) Stats(ctx context.Context) ([]offers.Stats, error) {
	return e.store.Stats(ctx)
}

// Token signs a fresh accept token for an open offer, valid until it
// expires: what the on-demand API hands back with the offer.
func (e *Engine) Token(o offers.Offer) (string, error) {
	tok, _, err := e.signer.Sign(o.ID, o.CustomerID, o.ExpiresAt.Sub(e.now()))
	return tok, err
}

// SettledOffer returns the offer ev settled, once it is charged or failed:
// the offer a payment's metadata names, or, for subscription.plan_changed,
// the charged plan-change offer that moved that subscription to its new
// product (a change with nothing due has no payment webhook). nil when
// there is none. The worker confirms it to the customer.
//
// A plan change whose offer is still accepted (its outcome not recorded
// yet) is an ErrOutcomePending error: see PlanChangeOffer.
func (e *Engine) SettledOffer(ctx context.Context, ev events.Event) (*offers.Offer, error) {
	if id, ok := offerOfPayment(ev); ok {
		o, _, err := e.store.Get(ctx, id)
		if errors.Is(err, natsbus.ErrOfferNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if o.State != offers.Charged && o.State != offers.Failed {
			// The webhook's own handling settled the offer a moment ago;
			// a replica that lags (one restarted in a failover) may not
			// have that write yet, and a stale answer here would commit
			// the webhook without its confirmation. Ask the leader.
			o, _, err = e.store.GetFromLeader(ctx, id)
			if errors.Is(err, natsbus.ErrOfferNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
		}
		if o.State == offers.Charged || o.State == offers.Failed {
			return &o, nil
		}
		return nil, nil
	}
	sub, ok := ev.Payload.(*events.Subscription)
	if !ok || sub == nil || ev.Type != events.TypeSubscriptionPlanChanged {
		return nil, nil
	}
	return e.PlanChangeOffer(ctx, sub.CustomerID(), sub.SubscriptionID, sub.ProductID, ev.Timestamp)
}

// ErrOutcomePending is returned for a plan change made by an offer whose
// outcome offerflow has not recorded yet. It is transient: the webhook is
// retried once the accept call (or, after a crash, the sweep) records it.
var ErrOutcomePending = errors.New("the plan change's offer is accepted and its outcome not recorded yet")

// Plan-change webhooks are matched to an offer accepted at most this long
// before (Dodo applies the change within the accept call) or shortly
// after (clocks differ). An older offer to the same plan is another
// business change.
const (
	planChangeMatchAfter  = 24 * time.Hour
	planChangeMatchBefore = 5 * time.Minute
)

// PlanChangeOffer returns the charged plan-change offer that moved
// subscription subID to productID by a change at time at, or nil when the
// change was not made by an offer. When such an offer is accepted but its
// outcome is not recorded yet (the accept call is between Dodo's answer
// and recording it, or crashed there until the sweep settles it), it
// returns ErrOutcomePending: whether the customer is told about an offer's
// plan change or about a change made elsewhere must not depend on which
// arrives first, the webhook or the accept's answer.
func (e *Engine) PlanChangeOffer(ctx context.Context, customerID, subID, productID string, at time.Time) (*offers.Offer, error) {
	if customerID == "" || subID == "" || productID == "" {
		return nil, nil
	}
	ix, _, err := e.store.Index(ctx, customerID)
	if err != nil {
		return nil, err
	}
	for i := len(ix.Entries) - 1; i >= 0; i-- {
		en := ix.Entries[i]
		// Not filtered by the entry's state: the index follows the offer
		// (best effort, after the offer's own write) and may lag behind it.
		if en.ProductID != productID {
			continue
		}
		o, _, err := e.store.Get(ctx, en.OfferID)
		if errors.Is(err, natsbus.ErrOfferNotFound) {
			continue // retention ran out: not an offer of now
		}
		if err != nil {
			return nil, err
		}
		acc, ok := acceptedAt(o)
		if !o.ChangePlan || o.SubscriptionID != subID || !ok ||
			at.Before(acc.Add(-planChangeMatchBefore)) || at.After(acc.Add(planChangeMatchAfter)) {
			continue
		}
		switch o.State {
		case offers.Charged:
			return &o, nil
		case offers.Accepted:
			// A wait, not a fault: the accept call (or the sweep) records
			// the outcome, and the retry then finds it.
			return nil, fault.Wait(fmt.Errorf("offer %s: %w", o.ID, ErrOutcomePending))
		}
	}
	return nil, nil
}

// acceptedAt is when the offer was accepted, if it was.
func acceptedAt(o offers.Offer) (time.Time, bool) {
	for _, h := range o.History {
		if h.State == offers.Accepted {
			return h.At, true
		}
	}
	return time.Time{}, false
}
