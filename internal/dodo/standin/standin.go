// Package standin is a stateful, in-memory stand-in for the part of the Dodo
// Payments API that offerflow and a merchant's tests use: customers and
// their saved cards, products, payments and refunds, subscriptions (cancel,
// pause, resume, on-demand charges), one-click and fallback checkouts with
// discount codes and trials, and plan changes with proration. Every state
// change sends the matching webhooks, signed with Standard Webhooks
// signatures, to a configured URL; tests can tell the sender to duplicate,
// delay, reorder, hold or fail them.
//
// Responses and webhook bodies keep to Dodo's OpenAPI spec (v1.113.0), and
// the package's tests validate them against it. They are Dodo's wire types
// (internal/dodo/wire), the very types offerflow's client and webhook
// decoder read. Only the request bodies it accepts have types of the
// stand-in's own: a server must accept every field the spec allows and
// tell an absent field from a zero one, which offerflow's request types
// (what the client sends) do not model; a test checks them against the
// spec's request schemas.
//
// Beside Dodo's routes, Handler serves the stand-in's own test-control
// routes under /_standin/ (control.go): saving test cards, paying a
// fallback checkout or a waiting payment, moving the clock, breaking
// webhook delivery on purpose, and a ledger of what was charged and sent.
// They are not Dodo's; the same methods exist in Go.
//
// Where Dodo's behaviour is not documented the stand-in makes a choice;
// each is marked "judgement" in the comments and listed in docs/dodo.md.
//
// Card outcomes follow Dodo's test mode: a card number ending in 0002 is
// declined (CARD_DECLINED), one ending in 9995 fails with INSUFFICIENT_FUNDS
// (Stripe's test card), one ending in 3155 asks for 3-D Secure (the payment
// stays requires_customer_action until POST /_standin/payments/{id}/complete),
// an expired card fails with EXPIRED_CARD, and every other card (4242 4242
// 4242 4242 in particular) succeeds.
//
// Time comes from Config.Now, moved ahead by Advance, so tests can move the
// clock and bill renewals (Advance, RenewDue).
package standin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/webhook"
)

// Subscription statuses (the spec's SubscriptionStatus), by the names the
// stand-in's tests use.
const (
	StatusPending   = wire.SubscriptionPending
	StatusActive    = wire.SubscriptionActive
	StatusOnHold    = wire.SubscriptionOnHold
	StatusPaused    = wire.SubscriptionPaused
	StatusCancelled = wire.SubscriptionCancelled
	StatusFailed    = wire.SubscriptionFailed
	StatusExpired   = wire.SubscriptionExpired
	// StatusPastDue is Dodo's after spec v1.113.0 (docs/dodo-drift.md):
	// a renewal failed and the grace period runs (pastdue.go).
	StatusPastDue = wire.SubscriptionPastDue
)

// statuses are the subscription statuses the stand-in knows.
var statuses = []string{StatusPending, StatusActive, StatusOnHold, StatusPaused, StatusCancelled, StatusFailed, StatusExpired, StatusPastDue}

// Payment statuses the stand-in produces (the spec's IntentStatus has more).
const (
	PaymentSucceeded      = "succeeded"
	PaymentFailed         = "failed"
	PaymentRequiresAction = "requires_customer_action" // a 3-D Secure card
	PaymentRequiresMethod = "requires_payment_method"  // POST /payments without a card
)

// Values of on_payment_failure.
const (
	PreventChange = "prevent_change"
	ApplyChange   = "apply_change"
)

// Config configures a Server.
type Config struct {
	// BusinessID is the business_id (and brand_id) of every object and
	// webhook. Default "bus_standin".
	BusinessID string
	// APIKey is the bearer token every request must carry; a request
	// without it gets 401 {"code":"UNAUTHORIZED"}. Required.
	APIKey string
	// WebhookURL receives the webhooks; "" turns delivery off (nothing is
	// queued or recorded).
	WebhookURL string
	// WebhookSecret signs the webhooks. Required when WebhookURL is set.
	WebhookSecret webhook.Secret
	// Now is the clock for every timestamp, billing period and card
	// expiry. Default time.Now.
	Now func() time.Time
	// HTTPClient delivers the webhooks. Default: a client with Dodo's 15 s
	// delivery timeout.
	HTTPClient *http.Client
	// OnPaymentFailure is the business-level default for change-plan
	// requests that leave on_payment_failure out: PreventChange (the
	// default, as in Dodo's Rust SDK) or ApplyChange.
	OnPaymentFailure string
	// WebhookAttempts bounds the deliveries of one webhook that gets a
	// non-2xx answer or no answer. Default 5.
	WebhookAttempts int
	// WebhookBackoff is the wait before the first retry; it doubles after
	// each. Default 20 ms: Dodo waits 5 s, then minutes, which no test wants.
	WebhookBackoff time.Duration
	// PastDueGrace is the business's grace period after a failed renewal
	// (Dodo's API after spec v1.113.0): with it, a renewal that fails
	// puts the subscription past_due (payment.failed,
	// subscription.past_due) until PastDueGrace later, when it goes
	// on_hold. Zero puts it on_hold at once, as before. Recover pays it.
	PastDueGrace time.Duration
	// IDTag, if set, ends every generated id and webhook-id with "_"+IDTag,
	// so that two stand-ins (or two runs of offerflow dev on one JetStream
	// store) never reuse an id that the receiver's ledger remembers.
	IDTag string
}

// Customer is a Dodo customer. Country and Zipcode are its billing address,
// used for the subscriptions the stand-in creates.
type Customer struct {
	ID        string // "" = generated (cus_...)
	Email     string
	Name      string
	Phone     string // "" = null
	Country   string // ISO 3166-1 alpha-2; default "US"
	Zipcode   string
	CreatedAt time.Time // zero = Now()
}

// Card is a saved card of a customer, listed by
// GET /customers/{id}/payment-methods.
type Card struct {
	ID string // payment_method_id; "" = generated (pm_...)
	// Number is the full test card number; it decides the outcome of a
	// charge, and only its last four digits are ever shown.
	Number         string
	Network        string // card_network, e.g. "VISA"; default "VISA"
	Type           string // card_type, "CREDIT" or "DEBIT"; default "CREDIT"
	HolderName     string // "" = null
	IssuingCountry string // "" = null
	ExpMonth       int    // 1-12
	ExpYear        int    // four digits
	// RecurringEnabled is recurring_enabled: nil = null (unknown, usable).
	// False means no consent to off-session charges: a one-click checkout
	// with the card is refused (422 NO_ELIGIBLE_PAYMENT_METHODS). Renewals
	// and plan changes do not look at it: a subscription's card was saved
	// for it.
	RecurringEnabled *bool
	LastUsedAt       time.Time // zero = null
}

// Product is a one-time or recurring product.
type Product struct {
	ID          string // "" = generated (pdt_...)
	Name        string
	Description string
	// Price is in the currency's smallest unit (cents).
	Price    int64
	Currency string // ISO 4217, e.g. "USD"
	// Recurring products bill every IntervalCount Intervals.
	Recurring     bool
	Interval      string // "Day", "Week", "Month" (default) or "Year"
	IntervalCount int    // default 1
	// The subscription's term: subscription_period_count and _interval.
	// Default 10 Year, as in the spec's examples.
	PeriodCount    int
	PeriodInterval string
	TaxCategory    string // default "saas" for recurring, "digital_products" otherwise
	CreatedAt      time.Time
}

// PlanChange is a change of plan waiting to happen: scheduled for the next
// billing date, or pending until its payment succeeds (prevent_change).
type PlanChange struct {
	ID          string
	ProductID   string
	Quantity    int
	EffectiveAt time.Time
	CreatedAt   time.Time
}

// Subscription is a subscription of a customer to a recurring product.
// AddSubscription takes every field; Server.Subscription returns the
// current state in the same type.
type Subscription struct {
	ID              string // "" = generated (sub_...)
	CustomerID      string
	ProductID       string
	Quantity        int    // default 1
	PaymentMethodID string // the saved card renewals and plan changes charge
	// PeriodStart and PeriodEnd are previous_billing_date and
	// next_billing_date: the current billing period.
	PeriodStart time.Time
	PeriodEnd   time.Time
	Status      string // default StatusActive
	// CancelAtNextBillingDate makes plan changes fail with
	// PLAN_CHANGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION.
	CancelAtNextBillingDate bool
	Metadata                map[string]any
	// Credit is the subscription-scoped credit balance from downgrades, in
	// the smallest unit of the subscription's currency, applied to later
	// renewals and plan-change charges of this subscription.
	Credit          int64
	ScheduledChange *PlanChange // scheduled_change
	// PendingChange is a prevent_change plan change whose payment failed:
	// the plan stays, and change-plan answers 409 PENDING_PLAN_CHANGE_EXISTS
	// until ResolvePendingChange.
	PendingChange *PlanChange
	CreatedAt     time.Time
}

// CartItem is one line of a payment's product_cart.
type CartItem struct {
	ProductID string
	Quantity  int
}

// Payment is a payment the stand-in created.
type Payment struct {
	ID                string
	Status            string // PaymentSucceeded, PaymentFailed or PaymentRequiresAction
	CustomerID        string
	SubscriptionID    string // "" for one-time payments
	CheckoutSessionID string
	PaymentMethodID   string
	TotalAmount       int64
	Currency          string
	ProductCart       []CartItem
	ErrorCode         string
	ErrorMessage      string
	// Metadata is the payment's metadata, as decoded from JSON (numbers are
	// json.Number).
	Metadata  map[string]any
	CreatedAt time.Time
}

// Server is the stand-in. Create it with New, serve Handler, and Close it.
// It is safe for concurrent use.
type Server struct {
	cfg Config
	out *outbox

	mu        sync.Mutex
	customers map[string]*customerRec
	products  map[string]*Product
	subs      map[string]*subRec
	payments  map[string]*payRec
	paymentsL []*payRec // in creation order
	sessions  map[string]*sessionRec
	counters  map[string]int
	charges   map[string]int
	// cardOwner finds a card's customer by the card's id without a scan
	// of every customer (a bench seeds tens of thousands).
	cardOwner map[string]*customerRec

	refunds   map[string]*refundRec
	refundsL  []*refundRec         // in creation order
	discounts map[string]*Discount // by code

	// offset moves the stand-in's clock ahead of Config.Now
	// (POST /_standin/clock/advance); nanoseconds, read without s.mu.
	offset atomic.Int64

	faultsMu sync.Mutex
	faults   map[string]*injectedFault // by route pattern

	calls callCounter // requests per route of Dodo's (GET /_standin/calls)
}

// injectedFault is an error answer a route gives its next n requests.
type injectedFault struct {
	err *apiError
	n   int
}

// FailNext makes the next n requests of route (a pattern of Handler's mux,
// such as "POST /subscriptions/{subscription_id}/change-plan/preview")
// answer status with Dodo's error body, code and message, before the
// request is looked at: what a test needs to see offerflow meet a Dodo that
// refuses (4xx) or fails (5xx). A later call for the same route replaces
// it; n 0 clears it.
func (s *Server) FailNext(route string, n, status int, code, message string) {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	if n <= 0 {
		delete(s.faults, route)
		return
	}
	s.faults[route] = &injectedFault{err: errorf(status, code, "%s", message), n: n}
}

// takeFault returns the error the route must answer now, if one is due.
func (s *Server) takeFault(route string) *apiError {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	f, ok := s.faults[route]
	if !ok {
		return nil
	}
	if f.n--; f.n <= 0 {
		delete(s.faults, route)
	}
	return f.err
}

type customerRec struct {
	Customer
	cards    []*Card
	metadata json.RawMessage // nil: {}
}

type subRec struct {
	Subscription
	metadata json.RawMessage
	billing  *wire.BillingAddress // nil: the customer's address
	// What PATCH /subscriptions/{id} and checkouts set.
	cancelledAt, pausedAt *time.Time
	cancelReason          *string
	cancelFeedback        *string
	cancelComment         *string
	trialDays             int
	// pastDueEndsAt is past_due_ends_at while the subscription is
	// past_due; retries counts the charges since its renewal failed.
	pastDueEndsAt *time.Time
	retries       int
}

type payRec struct {
	Payment
	card        *Card
	billing     wire.BillingAddress
	metadataRaw json.RawMessage
	updatedAt   time.Time
	refunds     []*refundRec
	discount    *Discount
	// retryAttempt is retry_attempt: 1 and up for the retries of a
	// failed renewal (Recover).
	retryAttempt int
}

type sessionRec struct {
	id         string
	createdAt  time.Time
	paymentID  string
	customerID string
	email      string
	name       string
	phone      string
	// What completing a fallback session (POST /_standin/checkouts/{id}/complete)
	// needs from the request that created it.
	cart      []CartItem
	currency  string
	recurring *Product
	billing   *wire.BillingAddress
	metadata  json.RawMessage
	discount  *Discount
	trialDays int
	completed bool // paid through POST /_standin/checkouts/{id}/complete
}

// New returns a Server and starts its webhook sender; Close stops it.
// It panics when cfg lacks the API key, or a secret for a webhook URL:
// both are programming errors of the caller.
func New(cfg Config) *Server {
	if cfg.APIKey == "" {
		panic("standin: Config.APIKey is required")
	}
	if cfg.WebhookURL != "" && cfg.WebhookSecret.Fingerprint() == "" {
		panic("standin: Config.WebhookSecret is required with a WebhookURL")
	}
	if cfg.BusinessID == "" {
		cfg.BusinessID = "bus_standin"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ownClient := cfg.HTTPClient == nil
	if ownClient {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	switch cfg.OnPaymentFailure {
	case "":
		cfg.OnPaymentFailure = PreventChange
	case PreventChange, ApplyChange:
	default:
		panic(fmt.Sprintf("standin: Config.OnPaymentFailure %q: want %q or %q", cfg.OnPaymentFailure, PreventChange, ApplyChange))
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 5
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = 20 * time.Millisecond
	}
	s := &Server{
		cfg:       cfg,
		customers: map[string]*customerRec{},
		products:  map[string]*Product{},
		subs:      map[string]*subRec{},
		payments:  map[string]*payRec{},
		sessions:  map[string]*sessionRec{},
		counters:  map[string]int{},
		charges:   map[string]int{},
		cardOwner: map[string]*customerRec{},
		faults:    map[string]*injectedFault{},
		refunds:   map[string]*refundRec{},
		discounts: map[string]*Discount{},
	}
	s.out = newOutbox(cfg, ownClient)
	return s
}

// Close stops the webhook sender and waits for it. Webhooks still queued
// are dropped; call Flush first to deliver them.
func (s *Server) Close() { s.out.close() }

// now is the stand-in's clock: Config.Now moved ahead by Advance.
func (s *Server) now() time.Time { return s.cfg.Now().Add(time.Duration(s.offset.Load())).UTC() }

// Now returns the stand-in's clock: Config.Now plus every Advance.
func (s *Server) Now() time.Time { return s.now() }

// Advance moves the stand-in's clock ahead by d (not back: a negative d is
// refused) and bills the renewals now due, as RenewDue does; it returns
// how many periods were renewed. Webhooks are still signed with
// Config.Now's time, as a receiver checks signatures against its own clock.
func (s *Server) Advance(d time.Duration) (int, error) {
	if d < 0 {
		return 0, fmt.Errorf("advance %v: the clock only moves forward", d)
	}
	s.offset.Add(int64(d))
	return s.RenewDue(), nil
}

// idSuffix is what IDTag adds to generated ids.
func (c Config) idSuffix() string {
	if c.IDTag == "" {
		return ""
	}
	return "_" + c.IDTag
}

// newID returns the next id with Dodo's prefix for its kind (pay, cks, sub,
// ...): deterministic, one counter per prefix. It skips an id a caller
// gave explicitly (AddCustomer with an ID, ...). The caller holds s.mu.
func (s *Server) newID(prefix string) string {
	for {
		s.counters[prefix]++
		id := fmt.Sprintf("%s_%010d", prefix, s.counters[prefix]) + s.cfg.idSuffix()
		if !s.taken(id) {
			return id
		}
	}
}

// taken reports whether an object already has id. The caller holds s.mu.
func (s *Server) taken(id string) bool {
	_, cus := s.customers[id]
	_, pdt := s.products[id]
	_, sub := s.subs[id]
	_, pay := s.payments[id]
	_, ref := s.refunds[id]
	_, cks := s.sessions[id]
	if cus || pdt || sub || pay || ref || cks {
		return true
	}
	if card, _ := s.findCard(id); card != nil {
		return true
	}
	for _, d := range s.discounts {
		if d.ID == id {
			return true
		}
	}
	return false
}

// AddCustomer adds a customer and returns its id.
func (s *Server) AddCustomer(c Customer) (string, error) {
	if c.Email == "" || c.Name == "" {
		return "", errors.New("add customer: email and name are required")
	}
	if c.Country == "" {
		c.Country = "US"
	}
	if !isCountry(c.Country) {
		return "", fmt.Errorf("add customer: country %q: want ISO 3166-1 alpha-2", c.Country)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		c.ID = s.newID("cus")
	}
	if _, ok := s.customers[c.ID]; ok {
		return "", fmt.Errorf("add customer %s: already exists", c.ID)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.CreatedAt = c.CreatedAt.UTC()
	s.customers[c.ID] = &customerRec{Customer: c}
	return c.ID, nil
}

// AddPaymentMethod saves a card for a customer and returns its
// payment_method_id. Cards are listed in the order they were added.
func (s *Server) AddPaymentMethod(customerID string, c Card) (string, error) {
	if err := checkCard(c); err != nil {
		return "", fmt.Errorf("add payment method: %w", err)
	}
	c.Network = cmp.Or(c.Network, "VISA")
	c.Type = cmp.Or(c.Type, "CREDIT")
	s.mu.Lock()
	defer s.mu.Unlock()
	cust, ok := s.customers[customerID]
	if !ok {
		return "", fmt.Errorf("add payment method: customer %s not found", customerID)
	}
	if c.ID == "" {
		c.ID = s.newID("pm")
	}
	if _, owner := s.findCard(c.ID); owner != nil {
		return "", fmt.Errorf("add payment method %s: already exists", c.ID)
	}
	cust.cards = append(cust.cards, &c)
	s.cardOwner[c.ID] = cust
	return c.ID, nil
}

// AddProduct adds a product and returns its id.
func (s *Server) AddProduct(p Product) (string, error) {
	if p.Price < 0 || p.Price > maxAmount {
		return "", fmt.Errorf("add product: price %d: want 0 to %d", p.Price, maxAmount)
	}
	if !isCurrency(p.Currency) {
		return "", fmt.Errorf("add product: currency %q: want an ISO 4217 code", p.Currency)
	}
	if p.Recurring {
		p.Interval = cmp.Or(p.Interval, "Month")
		p.IntervalCount = cmp.Or(p.IntervalCount, 1)
		p.PeriodInterval = cmp.Or(p.PeriodInterval, "Year")
		p.PeriodCount = cmp.Or(p.PeriodCount, 10)
		p.TaxCategory = cmp.Or(p.TaxCategory, "saas")
		if !isInterval(p.Interval) || !isInterval(p.PeriodInterval) || p.IntervalCount < 1 || p.PeriodCount < 1 {
			return "", fmt.Errorf("add product: interval %d %s, period %d %s: want counts >= 1 of Day, Week, Month or Year",
				p.IntervalCount, p.Interval, p.PeriodCount, p.PeriodInterval)
		}
	} else {
		p.TaxCategory = cmp.Or(p.TaxCategory, "digital_products")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == "" {
		p.ID = s.newID("pdt")
	}
	if _, ok := s.products[p.ID]; ok {
		return "", fmt.Errorf("add product %s: already exists", p.ID)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	p.CreatedAt = p.CreatedAt.UTC()
	s.products[p.ID] = &p
	return p.ID, nil
}

// AddSubscription adds a subscription as it is, sending no webhook, and
// returns its id. PeriodStart and PeriodEnd default to Now() and one
// billing interval later.
func (s *Server) AddSubscription(sub Subscription) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cust, ok := s.customers[sub.CustomerID]
	if !ok {
		return "", fmt.Errorf("add subscription: customer %s not found", sub.CustomerID)
	}
	p, ok := s.products[sub.ProductID]
	if !ok || !p.Recurring {
		return "", fmt.Errorf("add subscription: product %s: not a recurring product", sub.ProductID)
	}
	if sub.PaymentMethodID != "" && !slices.ContainsFunc(cust.cards, func(c *Card) bool { return c.ID == sub.PaymentMethodID }) {
		return "", fmt.Errorf("add subscription: payment method %s is not a card of customer %s", sub.PaymentMethodID, sub.CustomerID)
	}
	if sub.Credit < 0 {
		return "", fmt.Errorf("add subscription: credit %d: must not be negative", sub.Credit)
	}
	sub.Quantity = cmp.Or(sub.Quantity, 1)
	sub.Status = cmp.Or(sub.Status, StatusActive)
	if !slices.Contains(statuses, sub.Status) {
		return "", fmt.Errorf("add subscription: status %q: not a SubscriptionStatus", sub.Status)
	}
	if sub.PeriodStart.IsZero() {
		sub.PeriodStart = s.now()
	}
	if sub.PeriodEnd.IsZero() {
		sub.PeriodEnd = addInterval(sub.PeriodStart, p.Interval, p.IntervalCount)
	}
	sub.PeriodStart, sub.PeriodEnd = sub.PeriodStart.UTC(), sub.PeriodEnd.UTC()
	if !sub.PeriodEnd.After(sub.PeriodStart) {
		return "", fmt.Errorf("add subscription: period %s to %s is empty", sub.PeriodStart, sub.PeriodEnd)
	}
	if sub.CreatedAt.IsZero() {
		sub.CreatedAt = sub.PeriodStart
	}
	meta := json.RawMessage(`{}`)
	if sub.Metadata != nil {
		b, err := json.Marshal(sub.Metadata)
		if err != nil {
			return "", fmt.Errorf("add subscription: metadata: %w", err)
		}
		if meta, err = parseMetadata(b); err != nil {
			return "", fmt.Errorf("add subscription: %w", err)
		}
	}
	if sub.ID == "" {
		sub.ID = s.newID("sub")
	}
	if _, ok := s.subs[sub.ID]; ok {
		return "", fmt.Errorf("add subscription %s: already exists", sub.ID)
	}
	sub.ScheduledChange = clonePtr(sub.ScheduledChange)
	sub.PendingChange = clonePtr(sub.PendingChange)
	sub.Metadata = nil
	s.subs[sub.ID] = &subRec{Subscription: sub, metadata: meta}
	return sub.ID, nil
}

// ResolvePendingChange drops the pending (prevent_change) plan change of a
// subscription, so it can be changed again; the plan stays as it is. It
// stands in for whatever ends a pending change in Dodo, which is not
// documented.
func (s *Server) ResolvePendingChange(subscriptionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[subscriptionID]
	if !ok {
		return fmt.Errorf("resolve pending change: subscription %s not found", subscriptionID)
	}
	if sub.PendingChange == nil {
		return fmt.Errorf("resolve pending change: subscription %s has none", subscriptionID)
	}
	sub.PendingChange = nil
	return nil
}

// Charges returns how many payments were ever created for a customer,
// succeeded or failed: what tests count to prove nothing was charged twice.
func (s *Server) Charges(customerID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges[customerID]
}

// Payments returns every payment, oldest first.
func (s *Server) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.paymentsL))
	for _, p := range s.paymentsL {
		out = append(out, p.snapshot())
	}
	return out
}

// Subscription returns the current state of a subscription.
func (s *Server) Subscription(id string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return Subscription{}, false
	}
	out := sub.Subscription
	out.ScheduledChange = clonePtr(sub.ScheduledChange)
	out.PendingChange = clonePtr(sub.PendingChange)
	_ = json.Unmarshal(sub.metadata, &out.Metadata)
	return out, true
}

func (p *payRec) snapshot() Payment {
	out := p.Payment
	out.ProductCart = slices.Clone(p.ProductCart)
	d := json.NewDecoder(strings.NewReader(string(p.metadataRaw)))
	d.UseNumber()
	_ = d.Decode(&out.Metadata)
	return out
}

// findCard returns a saved card by id and its owner. The caller holds s.mu.
func (s *Server) findCard(id string) (*Card, *customerRec) {
	c := s.cardOwner[id]
	if c == nil {
		return nil, nil
	}
	for _, card := range c.cards {
		if card.ID == id {
			return card, c
		}
	}
	return nil, nil
}

// Flush waits until every queued webhook has been delivered (or given up
// on), or ctx ends. It fails at once while delivery is held with webhooks
// queued: they would never go.
func (s *Server) Flush(ctx context.Context) error { return s.out.flush(ctx) }

// SetDelivery changes how webhooks are delivered from now on. Duplicate and
// Reorder apply to the webhooks of later API calls; Delay and Hold to every
// delivery not yet started.
func (s *Server) SetDelivery(d Delivery) { s.out.setDelivery(d) }

// Release ends a Hold: everything queued is delivered, in order.
func (s *Server) Release() { s.out.release() }

// ReleaseReversed ends a Hold and delivers everything queued newest first:
// webhooks out of the order of the state changes, across API calls.
func (s *Server) ReleaseReversed() { s.out.releaseReversed() }

// TakeHeld removes the webhooks queued and not yet delivered (with Hold
// on, every webhook since) and returns them in the order Dodo would have
// sent them, so that a test can deliver them itself, in any order.
func (s *Server) TakeHeld() []HeldWebhook { return s.out.takeHeld() }

// Sent returns every delivery attempt so far, in order.
func (s *Server) Sent() []SentWebhook { return s.out.sentLog() }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// maxAmount is the largest amount the spec's int32 amount fields can hold.
const maxAmount = 1<<31 - 1

func isInterval(s string) bool { return slices.Contains([]string{"Day", "Week", "Month", "Year"}, s) }

func isUpperAlpha(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// isCountry and isCurrency check the form only; the spec's enums hold the
// valid codes, and the tests validate against them.
func isCountry(s string) bool  { return isUpperAlpha(s, 2) }
func isCurrency(s string) bool { return isUpperAlpha(s, 3) }

// addInterval adds count intervals to t. Months and years keep the day of
// the month where the target month has it and clamp to its last day
// otherwise (Jan 31 + 1 month = Feb 28), as billing systems do, rather than
// overflowing into the next month as time.AddDate does.
func addInterval(t time.Time, interval string, count int) time.Time {
	switch interval {
	case "Day":
		return t.AddDate(0, 0, count)
	case "Week":
		return t.AddDate(0, 0, 7*count)
	case "Year":
		count *= 12
	}
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(count), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}
