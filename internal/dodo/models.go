package dodo

import (
	"fmt"
	"math"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/offers"
)

// The client's answers are the wire types of Dodo's spec
// (internal/dodo/wire), shared with the webhook decoder and the stand-in.
// The types below are what only the client has: the requests it sends
// (with the spec's field names as JSON tags, and omitempty where leaving a
// field out and sending its zero value differ) and its own parameters.

// maxMetadataKeys is Dodo's limit on metadata keys (docs error code
// MAXIMUM_KEYS_REACHED).
const maxMetadataKeys = 50

// validateMetadata checks what the spec and docs allow in metadata to send:
// at most 50 keys; strings, integers, finite numbers and booleans. A value
// decoded from JSON the spec forbids (null, an object, an array) or a zero
// MetadataValue, which would encode as null, is refused.
func validateMetadata(m wire.Metadata) error {
	if len(m) > maxMetadataKeys {
		return fmt.Errorf("metadata has %d keys, Dodo allows at most %d", len(m), maxMetadataKeys)
	}
	for k, v := range m {
		switch v.Kind() {
		case wire.MetadataString, wire.MetadataInt, wire.MetadataBool:
		case wire.MetadataFloat:
			if f, _ := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("metadata %q: %v is not a JSON number", k, v)
			}
		case wire.MetadataNone:
			return fmt.Errorf("metadata %q: no value (it would be sent as null)", k)
		default:
			return fmt.Errorf("metadata %q: %s; the spec allows string, integer, number and boolean", k, v)
		}
	}
	return nil
}

// ListPaymentsParams filters GET /payments. Empty fields are not sent.
type ListPaymentsParams struct {
	CustomerID     string
	SubscriptionID string
	// Status is an IntentStatus: succeeded, failed, cancelled, processing,
	// requires_customer_action, ...
	Status       string
	CreatedAtGte *time.Time
	CreatedAtLte *time.Time
	// PageSize is 1 to 100; 0 sends none (Dodo's default is 10).
	PageSize int
	// PageNumber counts from 0.
	PageNumber int
}

// CheckoutRequest is the body of POST /checkouts (spec
// CreateCheckoutSessionRequest), the fields offerflow sends. Build the two
// forms offerflow uses with OneClickCheckout and FallbackCheckout.
type CheckoutRequest struct {
	ProductCart []ProductItem    `json:"product_cart"`
	Customer    *CustomerRequest `json:"customer,omitempty"`
	// PaymentMethodID charges a saved method of Customer at once: it needs
	// Confirm and an existing customer. Such a request moves money.
	PaymentMethodID string `json:"payment_method_id,omitempty"`
	// Confirm finalises the session at creation; missing data is then an
	// API error rather than a field on the checkout page.
	Confirm        bool                    `json:"confirm,omitempty"`
	BillingAddress *CheckoutBillingAddress `json:"billing_address,omitempty"`
	// MinimalAddress makes country and zipcode the only required address
	// fields when Confirm is set.
	MinimalAddress          bool          `json:"minimal_address,omitempty"`
	ReturnURL               string        `json:"return_url,omitempty"`
	CancelURL               string        `json:"cancel_url,omitempty"`
	ShowSavedPaymentMethods bool          `json:"show_saved_payment_methods,omitempty"`
	FeatureFlags            *FeatureFlags `json:"feature_flags,omitempty"`
	DiscountCodes           []string      `json:"discount_codes,omitempty"`
	// BillingCurrency is an ISO 4217 code.
	BillingCurrency string        `json:"billing_currency,omitempty"`
	Metadata        wire.Metadata `json:"metadata,omitempty"`

	// IdempotencyKey is offerflow's key for this charge. Dodo has no
	// idempotency key, so the client writes it into the metadata under
	// IdempotencyMetadataKey, where the resulting payment carries it, and
	// finds the payment by it when the answer to the POST is lost. A
	// money-moving request (PaymentMethodID or Confirm set) requires it.
	IdempotencyKey string `json:"-"`
}

// IdempotencyMetadataKey is the metadata key under which CreateCheckout
// stores CheckoutRequest.IdempotencyKey. Payments created by the checkout
// carry it in their metadata (and so do payment.* webhooks).
const IdempotencyMetadataKey = "offerflow_idempotency_key"

// CheckoutBillingAddress is the billing address of a checkout request
// (spec CheckoutSessionBillingAddress). It has the shape of
// wire.BillingAddress, but leaves out the fields it does not know instead
// of sending null. Country is an ISO 3166-1 alpha-2 code.
type CheckoutBillingAddress struct {
	Country string  `json:"country"`
	State   *string `json:"state,omitempty"`
	City    *string `json:"city,omitempty"`
	Street  *string `json:"street,omitempty"`
	Zipcode *string `json:"zipcode,omitempty"`
}

// ProductItem is one line of a checkout cart (spec ProductItemReq).
type ProductItem struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
	// Amount is the price for a pay-what-you-want product only.
	Amount *int64         `json:"amount,omitempty"`
	Addons []AddonRequest `json:"addons,omitempty"`
}

// AddonRequest attaches an addon (spec AttachAddonReq).
type AddonRequest struct {
	AddonID  string `json:"addon_id"`
	Quantity int    `json:"quantity"`
}

// CustomerRequest is the spec's untagged oneOf of AttachExistingCustomer
// ({customer_id}) and NewCustomer ({email, name?, phone_number?}): set
// CustomerID or Email, not both. ExistingCustomer and NewCustomer build it.
type CustomerRequest struct {
	CustomerID  string `json:"customer_id,omitempty"`
	Email       string `json:"email,omitempty"`
	Name        string `json:"name,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
}

// ExistingCustomer attaches the checkout to customer id.
func ExistingCustomer(id string) *CustomerRequest { return &CustomerRequest{CustomerID: id} }

// NewCustomer creates (or finds) a customer by email at checkout.
func NewCustomer(email, name string) *CustomerRequest {
	return &CustomerRequest{Email: email, Name: name}
}

func (c *CustomerRequest) validate() error {
	switch {
	case c.CustomerID != "" && (c.Email != "" || c.Name != "" || c.PhoneNumber != ""):
		return fmt.Errorf("customer: set customer_id or email/name/phone_number, not both (the spec's oneOf)")
	case c.CustomerID == "" && c.Email == "":
		return fmt.Errorf("customer: customer_id or email is required")
	}
	return nil
}

// FeatureFlags are checkout options (spec CheckoutSessionFlags).
type FeatureFlags struct {
	// RedirectImmediately skips Dodo's success page and goes straight to
	// the return URL.
	RedirectImmediately bool `json:"redirect_immediately"`
}

// CheckoutSession is the answer to POST /checkouts (spec
// CreateSessionResponse), plus Recovered.
type CheckoutSession struct {
	wire.CheckoutSession

	// Recovered is true when the answer to the POST was lost and the client
	// found the payment it created by its idempotency key instead. Then only
	// PaymentID (and SessionID, if the payment names its session) is set.
	Recovered bool `json:"-"`
}

// EffectiveAt is when a plan change applies (spec EffectiveAt).
type EffectiveAt string

// The two times a plan change can take effect.
const (
	// EffectiveImmediately changes the plan now.
	EffectiveImmediately EffectiveAt = "immediately"
	// EffectiveNextBillingDate schedules the change; it shows in
	// wire.Subscription.ScheduledChange until then.
	EffectiveNextBillingDate EffectiveAt = "next_billing_date"
)

// OnPaymentFailure is what a plan change does when its charge fails (spec
// OnPaymentFailure). Omitted, the business's default would apply, so the
// client always sends it.
type OnPaymentFailure string

// The two answers to a failed plan-change charge.
const (
	// PreventChange keeps the old plan until the payment succeeds; the
	// change stays pending and a second change gets 409
	// PENDING_PLAN_CHANGE_EXISTS.
	PreventChange OnPaymentFailure = "prevent_change"
	// ApplyChange switches the plan at once; the subscription may go
	// on_hold if the charge fails.
	ApplyChange OnPaymentFailure = "apply_change"
)

// ChangePlanRequest is the body of both change-plan calls (spec
// UpdateSubscriptionPlanReq). ProrationBillingMode, EffectiveAt and
// OnPaymentFailure must be set: the client sends all three explicitly rather
// than let a business default decide how a customer is billed.
type ChangePlanRequest struct {
	ProductID            string           `json:"product_id"`
	Quantity             int              `json:"quantity"`
	ProrationBillingMode offers.Proration `json:"proration_billing_mode"`
	EffectiveAt          EffectiveAt      `json:"effective_at"`
	OnPaymentFailure     OnPaymentFailure `json:"on_payment_failure"`
	// Addons replaces the subscription's addons; empty removes them all.
	Addons []AddonRequest `json:"addons,omitempty"`
	// DiscountCodes nil sends null, which keeps the discounts marked
	// preserve_on_plan_change; an empty non-nil slice sends [], which
	// removes every discount.
	DiscountCodes []string `json:"discount_codes"`
	// Metadata is for the plan-change payment; omitted, Dodo copies the
	// subscription's.
	Metadata wire.Metadata `json:"metadata,omitempty"`
}
