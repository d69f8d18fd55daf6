// Package confirm sends the customer a confirmation of each business change
// (an offer bought, a plan changed, access granted or revoked, a one-click
// charge that failed), exactly once in effect: an email over SMTP and a JSON
// message on offerflow.confirmations.sent.<customer_id>.
//
// A Confirmation is keyed by a business key (its ID), not by a webhook-id:
// one business change arrives as several webhooks, and Dodo redelivers
// each, but the customer must hear about the change once. Service.Send
// claims the key in the idempotency ledger, renders the templates, sends the
// email, publishes the message with the key as its Nats-Msg-Id, and commits.
// See Service for the one case where an email can repeat.
//
// The package is an adapter: it wires SMTP (go-mail), templates and
// JetStream (through internal/natsbus) together, and it is called by the
// worker, which owns the ack policy.
package confirm

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Kind is what changed for the customer. Each kind has its own templates.
type Kind string

// The kinds of confirmation. Their names are part of the published
// message's schema (field "kind") and of the template file names.
const (
	OfferPurchased Kind = "offer_purchased" // an upsell or cross-sell was bought
	PlanUpgraded   Kind = "plan_upgraded"   // a plan change to a dearer plan, Amount charged now
	PlanDowngraded Kind = "plan_downgraded" // a plan change to a cheaper plan, Credit kept by Dodo
	AccessGranted  Kind = "access_granted"  // features (Features) became available
	AccessRevoked  Kind = "access_revoked"  // features (Features) were taken away
	ChargeFailed   Kind = "charge_failed"   // a one-click charge failed; CheckoutURL is the way out
	// PlanChanged is a plan change made outside offerflow (Dodo's portal,
	// the merchant's own API call): Features are the new plan's,
	// LostFeatures what it no longer includes. Dodo charges or credits the
	// difference; the amount is not part of it.
	PlanChanged Kind = "plan_changed"
)

// ParseKinds reads a list of kinds separated by commas or spaces, refusing
// any that is not one of Kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		k := Kind(f)
		if !k.Known() {
			return nil, fmt.Errorf("kind %q is not one of %v", f, Kinds())
		}
		out = append(out, k)
	}
	return out, nil
}

// Kinds lists every kind, in a stable order.
func Kinds() []Kind {
	return []Kind{OfferPurchased, PlanUpgraded, PlanDowngraded, AccessGranted, AccessRevoked, ChargeFailed, PlanChanged}
}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	switch k {
	case OfferPurchased, PlanUpgraded, PlanDowngraded, AccessGranted, AccessRevoked, ChargeFailed, PlanChanged:
		return true
	}
	return false
}

// HasMoney reports whether confirmations of kind k are about money, and so
// need a currency: everything but access changes and plan changes made
// outside offerflow.
func (k Kind) HasMoney() bool {
	return k.Known() && k != AccessGranted && k != AccessRevoked && k != PlanChanged
}

// BoundedID returns id itself when it is at most MaxIDLen bytes, else a
// shorter id that is still the same for the same input: its first bytes, a
// "~" and 32 characters of its SHA-256. Business keys are built from outside
// ids (a webhook-id, a product id, each up to events.MaxIDLen) and may
// exceed the limit together.
func BoundedID(id string) string {
	if len(id) <= MaxIDLen {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	h := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:20]))
	return id[:MaxIDLen-1-len(h)] + "~" + h
}

// MaxIDLen bounds Confirmation.ID. The ID becomes a ledger key, a
// Nats-Msg-Id and an email header, none of which should grow without limit.
const MaxIDLen = 255

// Confirmation is one business change to tell a customer about.
type Confirmation struct {
	// ID is the business key, unique per business change (for example
	// "offer.ofr_123.charged" or "plan.sub_9.pdt_pro.2025-06-01"). It is
	// the ledger key (as "confirm."+ID), the published message's
	// Nats-Msg-Id, and the source of the email's Message-ID.
	ID         string
	Kind       Kind
	CustomerID string
	// Email is where the email goes. Empty: no email, only the message.
	Email string
	Name  string
	// Language is a BCP 47 tag ("es", "es-MX", "en-GB"). The closest
	// language with templates is used; unknown or empty means English.
	Language string
	// ProductID and ProductName are the product bought, granted or revoked,
	// or the new plan of a plan change; FromProductName is the old plan.
	ProductID, ProductName, FromProductName string
	// Currency is an ISO 4217 code. Kinds that are about money need it.
	Currency string
	// Amount is what was charged, in the currency's minor units (0 when
	// nothing was charged). For charge_failed, what the charge would have
	// been.
	Amount int64
	// Credit is what Dodo keeps as credit for future renewals (downgrades),
	// in minor units.
	Credit int64
	// Features are the features gained (offer_purchased, plan_upgraded,
	// access_granted) or lost (plan_downgraded, access_revoked).
	Features []string
	// LostFeatures are, for plan_changed, the old plan's features the new
	// one lacks.
	LostFeatures []string
	// CheckoutURL is the standard checkout link offered after a failed
	// one-click charge. Required for charge_failed.
	CheckoutURL string
	// UpdatePaymentMethod asks the customer (charge_failed) to update the
	// saved payment method.
	UpdatePaymentMethod bool
	// OfferID, PaymentID and SubscriptionID are references, shown in the
	// email where useful and passed through to the published message.
	OfferID, PaymentID, SubscriptionID string
	// At is when the business change happened.
	At time.Time
}

// Validate reports everything wrong with c at once. An invalid confirmation
// can never be sent, so Service.Send marks the error permanent.
func (c Confirmation) Validate() error {
	var errs []error
	switch {
	case c.ID == "":
		errs = append(errs, errors.New("id is required"))
	case len(c.ID) > MaxIDLen:
		errs = append(errs, fmt.Errorf("id is %d bytes, longer than %d", len(c.ID), MaxIDLen))
	case strings.ContainsFunc(c.ID, unicode.IsControl):
		// The ID goes into an email header.
		errs = append(errs, fmt.Errorf("id %q has control characters", c.ID))
	}
	if !c.Kind.Known() {
		errs = append(errs, fmt.Errorf("kind %q is not one of %v", c.Kind, Kinds()))
	}
	if c.CustomerID == "" {
		errs = append(errs, errors.New("customer_id is required"))
	}
	if c.Email != "" {
		if _, err := mail.ParseAddress(c.Email); err != nil {
			errs = append(errs, fmt.Errorf("email %q: %w", c.Email, err))
		}
	}
	switch {
	case c.Currency != "":
		if err := checkCurrency(c.Currency); err != nil {
			errs = append(errs, err)
		}
	case c.Kind.HasMoney():
		errs = append(errs, fmt.Errorf("currency is required for %s", c.Kind))
	case c.Amount != 0 || c.Credit != 0:
		errs = append(errs, errors.New("currency is required with an amount or a credit"))
	}
	if c.Amount < 0 {
		errs = append(errs, fmt.Errorf("amount must be >= 0, got %d", c.Amount))
	}
	if c.Credit < 0 {
		errs = append(errs, fmt.Errorf("credit must be >= 0, got %d", c.Credit))
	}
	if c.Kind == ChargeFailed && c.CheckoutURL == "" {
		errs = append(errs, errors.New("checkout_url is required for charge_failed: it is the customer's way to pay"))
	}
	if c.CheckoutURL != "" {
		// The link is put in front of the customer: only web links.
		if u, err := url.Parse(c.CheckoutURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("checkout_url %q is not an http(s) URL", c.CheckoutURL))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("confirmation %q: %w", c.ID, errors.Join(errs...))
	}
	return nil
}
