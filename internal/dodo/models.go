package dodo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/offerflow/offerflow/internal/offers"
)

// The types below carry the spec's field names (openapi.json v1.113.0) as
// JSON tags, for the fields offerflow reads. Responses decode leniently:
// unknown fields are ignored, a field the spec marks nullable is a pointer.
// Money is an int64 in the currency's smallest unit (cents).

// Metadata is the merchant's key-value data on a checkout, payment,
// subscription or customer. The spec allows string, integer, number and
// boolean values. Decoded numbers are json.Number (no float64 rounding of
// large integers); values to send must be a string, a bool, an integer or
// float type, or a json.Number.
type Metadata map[string]any

// UnmarshalJSON decodes an object keeping numbers as json.Number. A null
// decodes as a nil Metadata.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*m = v
	return nil
}

// Text returns the value under key and whether it is a string.
func (m Metadata) Text(key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// maxMetadataKeys is Dodo's limit on metadata keys (docs error code
// MAXIMUM_KEYS_REACHED).
const maxMetadataKeys = 50

// validate checks what the spec and docs allow in metadata to send.
func (m Metadata) validate() error {
	if len(m) > maxMetadataKeys {
		return fmt.Errorf("metadata has %d keys, Dodo allows at most %d", len(m), maxMetadataKeys)
	}
	for k, v := range m {
		switch v := v.(type) {
		case string, bool, json.Number,
			int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		case float32:
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("metadata %q: %v is not a JSON number", k, v)
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("metadata %q: %v is not a JSON number", k, v)
			}
		default:
			return fmt.Errorf("metadata %q: a %s value; the spec allows string, integer, number and boolean", k, reflect.TypeOf(v))
		}
	}
	return nil
}

// PaymentMethod is one saved payment method of a customer (spec
// CustomerPaymentMethodItem).
type PaymentMethod struct {
	PaymentMethodID string `json:"payment_method_id"`
	// PaymentMethod is the family: card, wallet, upi, bank_debit, ...
	PaymentMethod string `json:"payment_method"`
	// PaymentMethodType is the precise kind: credit, debit, apple_pay, ...
	PaymentMethodType *string      `json:"payment_method_type"`
	Card              *CardSummary `json:"card"`
	LastUsedAt        *time.Time   `json:"last_used_at"`
	// RecurringEnabled is whether the method may be charged off-session;
	// nil when Dodo does not say (open question Q3 of api-facts.md).
	RecurringEnabled *bool `json:"recurring_enabled"`
}

// CardSummary describes a saved card (spec CustomerPaymentMethodCardSummary);
// every field may be null.
type CardSummary struct {
	CardHolderName     *string `json:"card_holder_name"`
	CardIssuingCountry *string `json:"card_issuing_country"`
	CardNetwork        *string `json:"card_network"`
	CardType           *string `json:"card_type"`
	// ExpiryMonth and ExpiryYear are strings in the spec.
	ExpiryMonth *string `json:"expiry_month"`
	ExpiryYear  *string `json:"expiry_year"`
	Last4Digits *string `json:"last4_digits"`
}

// Product is a product of the catalogue (spec GetProductResponse).
type Product struct {
	ProductID   string  `json:"product_id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	IsRecurring bool    `json:"is_recurring"`
	// Price holds the amount and the currency: a product has no top-level
	// currency.
	Price       Price     `json:"price"`
	TaxCategory string    `json:"tax_category"`
	Addons      []string  `json:"addons"`
	Metadata    Metadata  `json:"metadata"`
	BusinessID  string    `json:"business_id"`
	BrandID     string    `json:"brand_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// The three kinds of Price (the spec's discriminator "type").
const (
	PriceOneTime    = "one_time_price"
	PriceRecurring  = "recurring_price"
	PriceUsageBased = "usage_based_price"
)

// Price is the spec's Price union flattened: Type says which fields are set.
type Price struct {
	Type     string `json:"type"`
	Currency string `json:"currency"`
	// Price is the amount of a one-time or recurring price.
	Price *int64 `json:"price"`
	// FixedPrice is the fixed part of a usage-based price.
	FixedPrice            *int64 `json:"fixed_price"`
	Discount              int64  `json:"discount"`
	PurchasingPowerParity bool   `json:"purchasing_power_parity"`
	PayWhatYouWant        *bool  `json:"pay_what_you_want"`
	TaxInclusive          *bool  `json:"tax_inclusive"`
	// The billing cycle of recurring and usage-based prices.
	PaymentFrequencyCount      *int    `json:"payment_frequency_count"`
	PaymentFrequencyInterval   *string `json:"payment_frequency_interval"`
	SubscriptionPeriodCount    *int    `json:"subscription_period_count"`
	SubscriptionPeriodInterval *string `json:"subscription_period_interval"`
	TrialPeriodDays            *int    `json:"trial_period_days"`
}

// Amount returns the price in minor units: Price, or FixedPrice for a
// usage-based price; false if neither is set.
func (p Price) Amount() (int64, bool) {
	switch {
	case p.Price != nil:
		return *p.Price, true
	case p.FixedPrice != nil:
		return *p.FixedPrice, true
	}
	return 0, false
}

// Customer is a customer (spec CustomerResponse).
type Customer struct {
	CustomerID  string    `json:"customer_id"`
	BusinessID  string    `json:"business_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	PhoneNumber *string   `json:"phone_number"`
	Metadata    Metadata  `json:"metadata"`
	CreatedAt   time.Time `json:"created_at"`
}

// CustomerSummary is the customer embedded in payments and subscriptions
// (spec CustomerLimitedDetailsResponse).
type CustomerSummary struct {
	CustomerID  string   `json:"customer_id"`
	Email       string   `json:"email"`
	Name        string   `json:"name"`
	PhoneNumber *string  `json:"phone_number"`
	Metadata    Metadata `json:"metadata"`
}

// BillingAddress is an address (spec BillingAddress, and
// CheckoutSessionBillingAddress in requests). Country is an ISO 3166-1
// alpha-2 code.
type BillingAddress struct {
	Country string  `json:"country"`
	State   *string `json:"state,omitempty"`
	City    *string `json:"city,omitempty"`
	Street  *string `json:"street,omitempty"`
	Zipcode *string `json:"zipcode,omitempty"`
}

// Payment is a payment. GetPayment fills it from the spec's PaymentResponse;
// ListPayments from GetPaymentsListResponseItem, which lacks some fields
// (business_id, settlement, billing, checkout_session_id, product_cart,
// payment_method_id, error_code, ...): those stay zero.
type Payment struct {
	PaymentID  string `json:"payment_id"`
	BusinessID string `json:"business_id"`
	BrandID    string `json:"brand_id"`
	// Status is an IntentStatus (succeeded, failed, processing,
	// requires_customer_action, ...); the spec allows null.
	Status             *string         `json:"status"`
	TotalAmount        int64           `json:"total_amount"`
	Tax                *int64          `json:"tax"`
	Currency           string          `json:"currency"`
	SettlementAmount   int64           `json:"settlement_amount"`
	SettlementCurrency string          `json:"settlement_currency"`
	Customer           CustomerSummary `json:"customer"`
	// SubscriptionID is set on renewal and plan-change charges.
	SubscriptionID    *string           `json:"subscription_id"`
	CheckoutSessionID *string           `json:"checkout_session_id"`
	ProductCart       []ProductCartItem `json:"product_cart"`
	PaymentMethod     *string           `json:"payment_method"`
	PaymentMethodType *string           `json:"payment_method_type"`
	PaymentMethodID   *string           `json:"payment_method_id"`
	CardLastFour      *string           `json:"card_last_four"`
	CardNetwork       *string           `json:"card_network"`
	ErrorCode         *string           `json:"error_code"`
	ErrorMessage      *string           `json:"error_message"`
	RefundStatus      *string           `json:"refund_status"`
	Billing           *BillingAddress   `json:"billing"`
	Metadata          Metadata          `json:"metadata"`
	RetryAttempt      int               `json:"retry_attempt"`
	// IsUpdatePaymentMethod marks a zero or setup charge made only to
	// change a subscription's payment method.
	IsUpdatePaymentMethod bool       `json:"is_update_payment_method"`
	PaymentProvider       string     `json:"payment_provider"`
	CreatedAt             time.Time  `json:"created_at"`
	UpdatedAt             *time.Time `json:"updated_at"`
}

// ProductCartItem is a product of a one-time payment.
type ProductCartItem struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// The statuses of a subscription (spec SubscriptionStatus).
const (
	SubscriptionPending   = "pending"
	SubscriptionActive    = "active"
	SubscriptionOnHold    = "on_hold"
	SubscriptionPaused    = "paused"
	SubscriptionCancelled = "cancelled"
	SubscriptionFailed    = "failed"
	SubscriptionExpired   = "expired"
)

// Subscription is a subscription (spec SubscriptionResponse). It carries no
// charged amount: charges are payments with SubscriptionID set.
type Subscription struct {
	SubscriptionID string          `json:"subscription_id"`
	Status         string          `json:"status"`
	ProductID      string          `json:"product_id"`
	Quantity       int             `json:"quantity"`
	Addons         []AddonItem     `json:"addons"`
	Customer       CustomerSummary `json:"customer"`
	Currency       string          `json:"currency"`
	// RecurringPreTaxAmount is the price per period, before tax.
	RecurringPreTaxAmount      int64  `json:"recurring_pre_tax_amount"`
	TaxInclusive               bool   `json:"tax_inclusive"`
	PaymentFrequencyCount      int    `json:"payment_frequency_count"`
	PaymentFrequencyInterval   string `json:"payment_frequency_interval"`
	SubscriptionPeriodCount    int    `json:"subscription_period_count"`
	SubscriptionPeriodInterval string `json:"subscription_period_interval"`
	// PreviousBillingDate and NextBillingDate bound the current period.
	PreviousBillingDate     time.Time      `json:"previous_billing_date"`
	NextBillingDate         time.Time      `json:"next_billing_date"`
	CreatedAt               time.Time      `json:"created_at"`
	TrialPeriodDays         int            `json:"trial_period_days"`
	OnDemand                bool           `json:"on_demand"`
	CancelAtNextBillingDate bool           `json:"cancel_at_next_billing_date"`
	CancelledAt             *time.Time     `json:"cancelled_at"`
	ExpiresAt               *time.Time     `json:"expires_at"`
	PausedAt                *time.Time     `json:"paused_at"`
	PaymentMethodID         *string        `json:"payment_method_id"`
	ScheduledChange         *PlanChange    `json:"scheduled_change"`
	Billing                 BillingAddress `json:"billing"`
	Metadata                Metadata       `json:"metadata"`
	BrandID                 string         `json:"brand_id"`
}

// AddonItem is an addon of a subscription.
type AddonItem struct {
	AddonID  string `json:"addon_id"`
	Quantity int    `json:"quantity"`
}

// PlanChange is a plan change scheduled for the next billing date (spec
// ScheduledPlanChangeResponse).
type PlanChange struct {
	ID          string           `json:"id"`
	ProductID   string           `json:"product_id"`
	ProductName *string          `json:"product_name"`
	Quantity    int              `json:"quantity"`
	EffectiveAt time.Time        `json:"effective_at"`
	CreatedAt   time.Time        `json:"created_at"`
	Addons      []ScheduledAddon `json:"addons"`
}

// ScheduledAddon is an addon of a scheduled plan change.
type ScheduledAddon struct {
	AddonID  string `json:"addon_id"`
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
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
	Confirm        bool            `json:"confirm,omitempty"`
	BillingAddress *BillingAddress `json:"billing_address,omitempty"`
	// MinimalAddress makes country and zipcode the only required address
	// fields when Confirm is set.
	MinimalAddress          bool          `json:"minimal_address,omitempty"`
	ReturnURL               string        `json:"return_url,omitempty"`
	CancelURL               string        `json:"cancel_url,omitempty"`
	ShowSavedPaymentMethods bool          `json:"show_saved_payment_methods,omitempty"`
	FeatureFlags            *FeatureFlags `json:"feature_flags,omitempty"`
	DiscountCodes           []string      `json:"discount_codes,omitempty"`
	// BillingCurrency is an ISO 4217 code.
	BillingCurrency string   `json:"billing_currency,omitempty"`
	Metadata        Metadata `json:"metadata,omitempty"`

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
	SessionID string `json:"session_id"`
	// CheckoutURL is the hosted page; null for a one-click charge.
	CheckoutURL *string `json:"checkout_url"`
	// PaymentID is the payment a confirmed session created: for a one-click
	// charge, the charge. Its outcome arrives as payment.succeeded or
	// payment.failed; this answer carries no status.
	PaymentID      *string `json:"payment_id"`
	ClientSecret   *string `json:"client_secret"`
	PublishableKey *string `json:"publishable_key"`

	// Recovered is true when the answer to the POST was lost and the client
	// found the payment it created by its idempotency key instead. Then only
	// PaymentID is set.
	Recovered bool `json:"-"`
}

// EffectiveAt is when a plan change applies (spec EffectiveAt).
type EffectiveAt string

// The two times a plan change can take effect.
const (
	// EffectiveImmediately changes the plan now.
	EffectiveImmediately EffectiveAt = "immediately"
	// EffectiveNextBillingDate schedules the change; it shows in
	// Subscription.ScheduledChange until then.
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
	Metadata Metadata `json:"metadata,omitempty"`
}

// ChangePlanPreview is what a plan change would do (spec
// ChangePlanPreviewResponse).
type ChangePlanPreview struct {
	// NewPlan is the subscription as it would be after the change.
	NewPlan         Subscription    `json:"new_plan"`
	ImmediateCharge ImmediateCharge `json:"immediate_charge"`
}

// ImmediateCharge is the charge a plan change makes now.
type ImmediateCharge struct {
	EffectiveAt time.Time     `json:"effective_at"`
	Summary     ChargeSummary `json:"summary"`
	LineItems   []LineItem    `json:"line_items"`
}

// ChargeSummary totals an immediate charge (spec LineItemSummary).
type ChargeSummary struct {
	TotalAmount        int64  `json:"total_amount"`
	Currency           string `json:"currency"`
	SettlementAmount   int64  `json:"settlement_amount"`
	SettlementCurrency string `json:"settlement_currency"`
	// CustomerCredits is the net credit movement: negative when credits
	// paid part of the charge, positive when the change added credit (a
	// downgrade).
	CustomerCredits int64  `json:"customer_credits"`
	Tax             *int64 `json:"tax"`
	SettlementTax   *int64 `json:"settlement_tax"`
}

// LineItem is one line of an immediate charge: the spec's union of
// subscription, addon and meter lines, flattened; Type says which.
type LineItem struct {
	Type            string   `json:"type"`
	ID              string   `json:"id"`
	ProductID       *string  `json:"product_id"`
	Name            *string  `json:"name"`
	Description     *string  `json:"description"`
	Quantity        *int     `json:"quantity"`
	UnitPrice       *int64   `json:"unit_price"`
	Currency        string   `json:"currency"`
	ProrationFactor *float64 `json:"proration_factor"`
	TaxInclusive    bool     `json:"tax_inclusive"`
	Tax             *int64   `json:"tax"`
	TaxRate         *float64 `json:"tax_rate"`
	// Subtotal is set on meter lines.
	Subtotal *int64 `json:"subtotal"`
}
