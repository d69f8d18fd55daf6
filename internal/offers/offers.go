// Package offers is the offer record and its lifecycle: an offer is made
// (open), and then accepted, declined or expired; an accepted offer's
// one-click charge either succeeds (charged: the offer converted) or fails
// (failed: the customer gets the fallback instead of a retry).
//
//	open ──Accept──▶ accepted ───Convert───▶ charged
//	  │                  └─────────Fail────▶ failed ───Convert───▶ charged
//	  ├──Decline──▶ declined
//	  └──Expire───▶ expired
//
// The package is pure: no I/O, time passed in. Each transition takes an
// offer and returns the next one or a *TransitionError; the store applies
// it with compare-and-swap (natsbus.OfferStore.Transition), so of two
// workers racing on one offer exactly one wins. Transitions that a
// redelivered webhook or a double click repeats are idempotent: repeating
// them returns the offer unchanged and no error (see each function), so the
// caller can tell "nothing to do" from a refusal. Accept is deliberately
// not idempotent: it is the gate in front of exactly one charge.
//
// Offer is also the body of every offerflow.offers.* message, so its JSON
// form is part of offerflow's external contract.
package offers

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kind is what an offer does to the customer's purchases: the one type the
// rules file, the engine, the API and the published events share.
type Kind string

// The offer kinds.
const (
	Upsell    Kind = "upsell"
	CrossSell Kind = "cross_sell"
	Downsell  Kind = "downsell"
)

// Proration is how a plan change is billed: Dodo's proration_billing_mode
// (spec ProrationBillingMode), the one type the rules file, the engine, the
// API, the events and the Dodo client share. Dodo's docs (error
// INVALID_PRORATION_MODE_WITH_NEXT_BILLING_DATE) allow only FullImmediately
// with a change at the next billing date; the spec does not encode that
// rule, so it is left to Dodo (a 4xx, permanent).
type Proration string

// The four proration modes.
const (
	// ProratedImmediately charges the time-prorated difference now and
	// keeps the billing date; a downgrade yields a prorated credit.
	ProratedImmediately Proration = "prorated_immediately"
	// DifferenceImmediately charges the full price difference on an
	// upgrade; a downgrade's difference becomes credit for renewals.
	DifferenceImmediately Proration = "difference_immediately"
	// FullImmediately charges the full new price now and restarts the
	// billing cycle today.
	FullImmediately Proration = "full_immediately"
	// DoNotBill charges nothing now (undocumented beyond the enum value).
	DoNotBill Proration = "do_not_bill"
)

// State is where an offer is in its lifecycle.
type State string

// The offer states. Declined, expired and charged are final; failed is
// final except that a late payment.succeeded for the same payment still
// converts it.
const (
	Open     State = "open"     // shown, waiting for the customer
	Accepted State = "accepted" // the customer accepted; the charge is requested
	Charged  State = "charged"  // payment.succeeded seen: the offer converted
	Failed   State = "failed"   // the charge failed; the customer gets the fallback
	Declined State = "declined" // the customer said no
	Expired  State = "expired"  // nobody answered before expires_at
)

// Offer is one offer made to one customer, and the JSON body of the
// offerflow.offers.* messages. Times are RFC 3339; amounts are integers in
// the currency's minor unit (cents), as Dodo reports them.
type Offer struct {
	// ID is the offer's own id. It travels in the charge's metadata, so
	// the payment's webhooks find the offer again.
	ID string `json:"id"`
	// CustomerID is Dodo's customer id.
	CustomerID string `json:"customer_id"`
	// RuleID is the rule (of the rules file) that chose the offer; empty
	// for an offer the merchant's backend asked for (Trigger.Request).
	RuleID string `json:"rule_id,omitempty"`
	// Kind is upsell, cross_sell or downsell.
	Kind Kind `json:"kind"`
	// ProductID is the Dodo product offered.
	ProductID string `json:"product_id"`
	// ProductName is the product's name, from the catalog or Dodo.
	ProductName string `json:"product_name,omitempty"`
	// Quantity is how many units of ProductID; at least 1.
	Quantity int `json:"quantity"`
	// ChangePlan: accepting replaces the customer's plan FromProductID
	// with ProductID (Dodo's change-plan call on SubscriptionID) instead
	// of buying ProductID on its own.
	ChangePlan bool `json:"change_plan"`
	// FromProductID is the plan being replaced; set exactly when
	// ChangePlan is.
	FromProductID string `json:"from_product_id,omitempty"`
	// SubscriptionID is the subscription whose plan changes; set exactly
	// when ChangePlan is.
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Proration is the change-plan call's proration mode; set exactly
	// when ChangePlan is.
	Proration Proration `json:"proration,omitempty"`
	// Amounts is what accepting costs.
	Amounts Amounts `json:"amounts"`
	// OneClick: accepting charges Card at once. Without it the customer
	// pays on Dodo's checkout page (Fallback.CheckoutURL), because no
	// saved payment method can be charged off-session.
	OneClick bool `json:"one_click"`
	// Card is the saved payment method the one-click charge would use;
	// empty when OneClick is false.
	Card Card `json:"card,omitzero"`
	// Display is the text a frontend shows.
	Display Display `json:"display,omitzero"`
	// Gains are the features the customer gets that no owned product
	// gives them, in catalog order.
	Gains []string `json:"gains,omitempty"`
	// Loses are, for a plan change, the current plan's features the new
	// plan lacks and no other owned product gives.
	Loses []string `json:"loses,omitempty"`
	// CreatedAt is when the offer was made.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the first instant the offer can no longer be accepted.
	ExpiresAt time.Time `json:"expires_at"`
	// State is the current state; always History's last entry's state.
	State State `json:"state"`
	// History lists every state the offer has been in, oldest first,
	// starting with open.
	History []Change `json:"history"`
	// PaymentID is the Dodo payment of the charge, once known.
	PaymentID string `json:"payment_id,omitempty"`
	// TraceParent is the W3C traceparent of the span that made the offer
	// (a webhook's or a request's trace), empty when tracing is off: the
	// accept's charge continues that trace, so one trace runs from the
	// webhook that caused the offer to the charge it led to.
	TraceParent string `json:"traceparent,omitempty"`
	// Fallback is what the customer is offered instead of a one-click
	// charge: set from the start on an offer that is not OneClick, and
	// when a one-click charge failed (state failed).
	Fallback Fallback `json:"fallback,omitzero"`
	// Trigger is what made offerflow compute the offer.
	Trigger Trigger `json:"trigger"`
	// BillingCountry is the ISO 3166 country of the customer's billing
	// address that a one-click checkout sends (Dodo requires one).
	BillingCountry string `json:"billing_country,omitempty"`
	// BillingZipcode is the postal code of that address (Dodo requires
	// one for a confirmed checkout).
	BillingZipcode string `json:"billing_zipcode,omitempty"`
	// PaymentMethodID is the saved payment method behind Card.
	PaymentMethodID string `json:"payment_method_id,omitempty"`
	// OnDecline is the rule to try when the customer declines (a
	// downsell); empty for none.
	OnDecline string `json:"on_decline,omitempty"`
}

// Amounts is the price of an offer, in minor units of Currency.
type Amounts struct {
	// Currency is the ISO 4217 code, upper case (USD, EUR, INR...).
	Currency string `json:"currency"`
	// Price is the product's price for Quantity units, per billing
	// period for a subscription.
	Price int64 `json:"price"`
	// DueNow is what accepting charges today: Price for a one-time
	// purchase, the proration preview's amount for a plan change.
	DueNow int64 `json:"due_now"`
	// Credit is what a plan change credits back for the unused part of
	// the current plan; 0 otherwise.
	Credit int64 `json:"credit"`
	// CreditKept is, for a plan change (a downgrade), the credit Dodo keeps
	// on the subscription and applies to future renewals.
	CreditKept int64 `json:"credit_kept"`
	// CurrentPrice is, for a plan change, the current plan's price per
	// billing period.
	CurrentPrice int64 `json:"current_price,omitempty"`
	// PriceDifference is, for a plan change, Price - CurrentPrice: what
	// the customer pays more (or, negative, less) each period. What a
	// frontend shows instead of the full price.
	PriceDifference int64 `json:"price_difference"`
}

// Card is the saved payment method a one-click charge uses.
type Card struct {
	// Brand is the card network as Dodo names it (visa, mastercard...).
	Brand string `json:"brand,omitempty"`
	// Last4 is the card number's last four digits.
	Last4 string `json:"last4,omitempty"`
}

// Display is the text a frontend shows with the offer.
type Display struct {
	Headline string `json:"headline,omitempty"`
	Badge    string `json:"badge,omitempty"`
}

// Change is one entry of an offer's history.
type Change struct {
	// State is the state entered.
	State State `json:"state"`
	// At is when.
	At time.Time `json:"at"`
	// Reason is why, in a word or Dodo's failure text; may be empty.
	Reason string `json:"reason,omitempty"`
}

// Fallback is what the customer is offered when the one-click charge
// fails: offerflow never retries a charge on its own.
type Fallback struct {
	// CheckoutURL is a standard Dodo checkout for the same product.
	CheckoutURL string `json:"checkout_url,omitempty"`
	// UpdatePaymentMethod asks the customer to update the saved card
	// (it was declined or has expired).
	UpdatePaymentMethod bool `json:"update_payment_method"`
}

// Trigger is what made offerflow compute the offer: a Dodo webhook (Event
// and WebhookID), a signal from the merchant's app (Signal and SignalID),
// the customer's decline of another offer (DeclinedOfferID: a downsell), or
// a request of the merchant's backend (Request). Exactly one of Event,
// Signal, DeclinedOfferID and Request is set.
type Trigger struct {
	// Event is the Dodo event type, e.g. "payment.succeeded".
	Event string `json:"event,omitempty"`
	// WebhookID is the webhook-id of the delivery that carried Event.
	WebhookID string `json:"webhook_id,omitempty"`
	// Signal is the merchant app's signal name, e.g. "plan_limit_near".
	Signal string `json:"signal,omitempty"`
	// SignalID is the id the app gave the signal.
	SignalID string `json:"signal_id,omitempty"`
	// DeclinedOfferID is the offer whose decline made this downsell.
	DeclinedOfferID string `json:"declined_offer_id,omitempty"`
	// Request is the id of the merchant backend's offer request
	// (POST /v1/customers/{id}/offers).
	Request string `json:"request,omitempty"`
}

// Key is the trigger's identity: offers made for one trigger share it, so a
// redelivered trigger finds the offer it made before instead of making
// another.
func (t Trigger) Key() string {
	switch {
	case t.Event != "":
		return "event:" + t.WebhookID
	case t.Signal != "":
		return "signal:" + t.SignalID
	case t.DeclinedOfferID != "":
		return "decline:" + t.DeclinedOfferID
	}
	return "request:" + t.Request
}

func (t Trigger) count() int {
	n := 0
	for _, s := range []string{t.Event, t.Signal, t.DeclinedOfferID, t.Request} {
		if s != "" {
			n++
		}
	}
	return n
}

// Errors the transitions return, inside a *TransitionError; test with
// errors.Is. A refused transition may match more than one: accepting an
// accepted offer is both ErrNotOpen and ErrAlreadyAccepted.
var (
	// ErrInvalid: the offer or an argument is malformed.
	ErrInvalid = errors.New("invalid offer")
	// ErrNotOpen: the customer's answer (accept, decline) or an expiry
	// came after the offer left state open.
	ErrNotOpen = errors.New("offer is not open")
	// ErrExpired: the offer expired (in state expired, or open and past
	// ExpiresAt).
	ErrExpired = errors.New("offer has expired")
	// ErrNotExpired: Expire before ExpiresAt.
	ErrNotExpired = errors.New("offer has not expired yet")
	// ErrAlreadyAccepted: the offer was accepted before (it is accepted,
	// charged or failed).
	ErrAlreadyAccepted = errors.New("offer already accepted")
	// ErrDeclined: the customer declined the offer before.
	ErrDeclined = errors.New("offer was declined")
	// ErrNotAccepted: a charge result for an offer that was never
	// accepted.
	ErrNotAccepted = errors.New("offer was not accepted")
	// ErrPaymentMismatch: a charge result names a different payment than
	// the one the offer already has.
	ErrPaymentMismatch = errors.New("offer belongs to another payment")
)

// TransitionError is a refused transition: Op (accept, decline, expire,
// convert, fail) was not allowed for offer OfferID in State.
type TransitionError struct {
	Op      string
	OfferID string
	State   State
	errs    []error
}

// Error implements error.
func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("%s offer %s (state %s)", e.Op, e.OfferID, e.State)
	for _, err := range e.errs {
		msg += ": " + err.Error()
	}
	return msg
}

// Unwrap returns the sentinel errors the refusal matches.
func (e *TransitionError) Unwrap() []error { return e.errs }

func refuse(op string, o Offer, errs ...error) error {
	return &TransitionError{Op: op, OfferID: o.ID, State: o.State, errs: errs}
}

// notOpen is the refusal of an answer or an expiry to an offer that left
// open, with the reason it left.
func notOpen(op string, o Offer) error {
	switch o.State {
	case Accepted, Charged, Failed:
		return refuse(op, o, ErrNotOpen, ErrAlreadyAccepted)
	case Declined:
		return refuse(op, o, ErrNotOpen, ErrDeclined)
	case Expired:
		return refuse(op, o, ErrNotOpen, ErrExpired)
	}
	return refuse(op, o, ErrNotOpen, ErrInvalid)
}

// New returns o made at now: state open, CreatedAt now, a history of one
// entry. It refuses an offer that Validate refuses, and one that expires
// at or before now. Fallback is kept: an offer that is not OneClick is made
// with its checkout link.
func New(o Offer, now time.Time) (Offer, error) {
	o.CreatedAt = now
	o.State = Open
	o.History = []Change{{State: Open, At: now, Reason: "created"}}
	o.PaymentID = ""
	if err := o.Validate(); err != nil {
		return Offer{}, err
	}
	if !now.Before(o.ExpiresAt) {
		return Offer{}, fmt.Errorf("new offer %s: %w: expires at %s, not after now", o.ID, ErrInvalid, o.ExpiresAt.Format(time.RFC3339))
	}
	return o, nil
}

// Accept records the customer's yes at now: open becomes accepted, and the
// caller then requests the one-click charge. It refuses an offer past
// ExpiresAt (ErrExpired) and one not open (ErrNotOpen, with the reason).
// Accepting twice is an error, not a no-op: only the call that moved the
// offer to accepted may charge.
func Accept(o Offer, now time.Time) (Offer, error) {
	switch {
	case o.State != Open:
		return o, notOpen("accept", o)
	case !now.Before(o.ExpiresAt):
		return o, refuse("accept", o, ErrExpired)
	}
	return o.to(Accepted, now, "accepted"), nil
}

// Decline records the customer's no at now. Declining a declined offer is a
// no-op (a double click, a retried request). It refuses an offer past
// ExpiresAt (ErrExpired: the expiry, not the customer, ended it) and one
// accepted, charged, failed or expired (ErrNotOpen, with the reason).
func Decline(o Offer, now time.Time) (Offer, error) {
	switch {
	case o.State == Declined:
		return o, nil
	case o.State != Open:
		return o, notOpen("decline", o)
	case !now.Before(o.ExpiresAt):
		return o, refuse("decline", o, ErrExpired)
	}
	return o.to(Declined, now, "declined"), nil
}

// Expire ends an open offer nobody answered, once now >= ExpiresAt.
// Expiring an expired offer is a no-op (the sweep runs again). It refuses
// an offer before ExpiresAt (ErrNotExpired) and one the customer answered
// (ErrNotOpen, with the reason): an accepted offer does not expire while
// its charge is under way.
func Expire(o Offer, now time.Time) (Offer, error) {
	switch {
	case o.State == Expired:
		return o, nil
	case o.State != Open:
		return o, notOpen("expire", o)
	case now.Before(o.ExpiresAt):
		return o, refuse("expire", o, ErrNotExpired)
	}
	return o.to(Expired, now, "expired"), nil
}

// Convert records payment.succeeded for the offer's charge paymentID:
// accepted becomes charged. Dodo delivers webhooks at least once and in no
// particular order, so:
//   - charged with the same payment is a no-op (a redelivery);
//   - failed with the same payment (or none recorded) becomes charged:
//     the money was taken, and success is final, whatever was said before;
//   - a different payment than the one recorded is ErrPaymentMismatch;
//   - an offer never accepted is ErrNotAccepted.
//
// A plan change may convert without a payment (paymentID empty): nothing
// was due, or Dodo applied the change before its payment webhook came. A
// later payment.succeeded then only records its payment id.
func Convert(o Offer, paymentID string, now time.Time) (Offer, error) {
	if paymentID == "" && !o.ChangePlan {
		return o, refuse("convert", o, ErrInvalid)
	}
	switch o.State {
	case Accepted, Failed, Charged:
	default:
		return o, refuse("convert", o, ErrNotAccepted)
	}
	if o.PaymentID != "" && paymentID != "" && o.PaymentID != paymentID && !o.FallbackPayment(paymentID) {
		return o, refuse("convert", o, ErrPaymentMismatch)
	}
	if o.State == Charged {
		if o.PaymentID == "" && paymentID != "" {
			o.PaymentID = paymentID
		}
		return o, nil
	}
	n := o.to(Charged, now, "payment.succeeded")
	if paymentID != "" {
		n.PaymentID = paymentID
	}
	return n, nil
}

// Fail records that the offer's charge failed: accepted becomes failed,
// with fallback for the customer and reason (Dodo's failure text, or the
// API error when no payment was created; paymentID is then empty). The
// charge is not retried. As with Convert:
//   - failed with the same payment is a no-op (a redelivery);
//   - charged with the same payment is a no-op: the success arrived
//     first, and a stale failure does not undo it;
//   - a different payment than the one recorded is ErrPaymentMismatch,
//     except a failed try on the fallback page of a failed purchase: a
//     no-op, the link stays;
//   - an offer never accepted is ErrNotAccepted.
func Fail(o Offer, paymentID, reason string, fallback Fallback, now time.Time) (Offer, error) {
	switch o.State {
	case Accepted, Failed, Charged:
	default:
		return o, refuse("fail", o, ErrNotAccepted)
	}
	if o.FallbackPayment(paymentID) {
		return o, nil
	}
	if o.State != Accepted && o.PaymentID != paymentID {
		return o, refuse("fail", o, ErrPaymentMismatch)
	}
	if o.State == Accepted && o.PaymentID != "" && o.PaymentID != paymentID {
		return o, refuse("fail", o, ErrPaymentMismatch)
	}
	if o.State != Accepted {
		return o, nil
	}
	if reason == "" {
		reason = "payment.failed"
	}
	n := o.to(Failed, now, reason)
	n.PaymentID = paymentID
	n.Fallback = fallback
	return n, nil
}

// FallbackPayment reports whether paymentID, not the payment o recorded,
// may still settle o: o is a one-time purchase whose one-click charge
// failed, and its fallback is a checkout link, whose payment is a new one.
// A plan change has no such page: its fallback is updating the card.
func (o Offer) FallbackPayment(paymentID string) bool {
	return o.State == Failed && !o.ChangePlan && o.Fallback.CheckoutURL != "" && paymentID != "" && paymentID != o.PaymentID
}

// to returns o moved to state s; the history is copied, never shared with
// o, so the caller's offer stays as it was.
func (o Offer) to(s State, now time.Time, reason string) Offer {
	o.State = s
	o.History = append(slices.Clip(o.History), Change{State: s, At: now, Reason: reason})
	return o
}

// Final reports whether no transition can change the offer any more.
// Failed is not final: a late payment.succeeded still converts it.
func (o Offer) Final() bool {
	switch o.State {
	case Charged, Declined, Expired:
		return true
	}
	return false
}

// Validate reports what is wrong with o, or nil. It checks what the JSON
// contract promises a reader: the required ids, known kind, state and
// proration, a plan change's fields, amounts, and a history that starts
// open and ends in State.
func (o Offer) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if o.ID == "" {
		bad("id is empty")
	}
	if o.CustomerID == "" {
		bad("customer_id is empty")
	}
	if o.ProductID == "" {
		bad("product_id is empty")
	}
	switch o.Kind {
	case Upsell, CrossSell, Downsell:
	default:
		bad("unknown kind %q", o.Kind)
	}
	if o.Quantity < 1 {
		bad("quantity must be at least 1, got %d", o.Quantity)
	}
	if o.ChangePlan {
		if o.FromProductID == "" {
			bad("a plan change needs from_product_id")
		}
		switch o.Proration {
		case ProratedImmediately, DifferenceImmediately, FullImmediately, DoNotBill:
		default:
			bad("a plan change needs a known proration, got %q", o.Proration)
		}
	} else if o.FromProductID != "" || o.Proration != "" {
		bad("from_product_id and proration are for plan changes only")
	}
	if !currency(o.Amounts.Currency) {
		bad("currency must be three upper-case letters, got %q", o.Amounts.Currency)
	}
	if o.Amounts.Price < 0 || o.Amounts.DueNow < 0 || o.Amounts.Credit < 0 || o.Amounts.CreditKept < 0 || o.Amounts.CurrentPrice < 0 {
		bad("amounts must not be negative")
	}
	if o.Card.Last4 != "" && !digits4(o.Card.Last4) {
		bad("card last4 must be four digits, got %q", o.Card.Last4)
	}
	if !o.CreatedAt.Before(o.ExpiresAt) {
		bad("expires_at must be after created_at")
	}
	if o.Trigger.count() != 1 {
		bad("trigger needs exactly one of event, signal, declined_offer_id and request")
	}
	if o.ChangePlan && o.SubscriptionID == "" {
		bad("a plan change needs subscription_id")
	}
	if o.OneClick && o.PaymentMethodID == "" && !o.ChangePlan {
		bad("a one-click offer needs payment_method_id")
	}
	switch o.State {
	case Open, Accepted, Charged, Failed, Declined, Expired:
	default:
		bad("unknown state %q", o.State)
	}
	if len(o.History) == 0 || o.History[0].State != Open {
		bad("history must start with open")
	} else if last := o.History[len(o.History)-1]; last.State != o.State {
		bad("history ends in %q, state is %q", last.State, o.State)
	}
	if o.State == Charged && o.PaymentID == "" && !o.ChangePlan {
		bad("a charged offer needs payment_id")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("offer %q: %w: %w", o.ID, ErrInvalid, err)
	}
	return nil
}

// Decode parses an offer from JSON (a stored record, or a message a
// downstream service echoes back) and validates it. Unknown fields are
// ignored, so that a newer offerflow's records still decode.
func Decode(data []byte) (Offer, error) {
	var o Offer
	if err := json.Unmarshal(data, &o); err != nil {
		return Offer{}, fmt.Errorf("decode offer: %w: %w", ErrInvalid, err)
	}
	if err := o.Validate(); err != nil {
		return Offer{}, err
	}
	return o, nil
}

func currency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func digits4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
