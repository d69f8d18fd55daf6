package wire

import "time"

// The statuses of a subscription (spec SubscriptionStatus).
const (
	SubscriptionPending   = "pending"
	SubscriptionActive    = "active"
	SubscriptionOnHold    = "on_hold"
	SubscriptionPaused    = "paused"
	SubscriptionCancelled = "cancelled"
	SubscriptionFailed    = "failed"
	SubscriptionExpired   = "expired"
	// SubscriptionPastDue is not in the spec (v1.113.0): Dodo added it
	// later (docs/dodo-drift.md). A renewal failed and Dodo retries within
	// a grace period (PastDueEndsAt); then the subscription goes on_hold
	// or cancelled.
	SubscriptionPastDue = "past_due"
)

// Subscription is a subscription (spec SubscriptionResponse): the data of
// the subscription.* events, where it is the subscription's latest state
// when the webhook was delivered, and the answer to GET
// /subscriptions/{subscription_id}. After a plan change it holds the new
// plan. It carries no charge: charges are payments with SubscriptionID set.
type Subscription struct {
	// PayloadType is "Subscription" when present; see Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	SubscriptionID string `json:"subscription_id"`
	BrandID        string `json:"brand_id"`
	// Status is pending, active, on_hold, paused, cancelled, failed or
	// expired; or past_due, from Dodo's later API.
	Status    string          `json:"status"`
	ProductID string          `json:"product_id"`
	Quantity  int             `json:"quantity"`
	Addons    []AddonCartItem `json:"addons"`

	Customer CustomerLimitedDetails `json:"customer"`
	Billing  BillingAddress         `json:"billing"`
	Metadata Metadata               `json:"metadata"`

	Currency string `json:"currency"`
	// RecurringPreTaxAmount is charged each period, before tax, in the
	// currency's smallest unit.
	RecurringPreTaxAmount int64 `json:"recurring_pre_tax_amount"`
	TaxInclusive          bool  `json:"tax_inclusive"`
	// PaymentFrequencyInterval and SubscriptionPeriodInterval are Day,
	// Week, Month or Year.
	PaymentFrequencyCount      int    `json:"payment_frequency_count"`
	PaymentFrequencyInterval   string `json:"payment_frequency_interval"`
	SubscriptionPeriodCount    int    `json:"subscription_period_count"`
	SubscriptionPeriodInterval string `json:"subscription_period_interval"`

	// PreviousBillingDate and NextBillingDate are the start and the end
	// of the current period.
	PreviousBillingDate time.Time `json:"previous_billing_date"`
	NextBillingDate     time.Time `json:"next_billing_date"`
	CreatedAt           time.Time `json:"created_at"`

	TrialPeriodDays int    `json:"trial_period_days"`
	TrialAmount     *int64 `json:"trial_amount"`
	OnDemand        bool   `json:"on_demand"`

	// PaymentMethodID is the saved payment method renewals charge.
	PaymentMethodID *string `json:"payment_method_id"`
	// ScheduledChange is a plan change waiting for its effective date.
	ScheduledChange *ScheduledPlanChange `json:"scheduled_change"`

	CancelAtNextBillingDate bool       `json:"cancel_at_next_billing_date"`
	CancelledAt             *time.Time `json:"cancelled_at"`
	// CancellationFeedback is too_expensive, missing_features,
	// switched_service, unused, customer_service, low_quality, too_complex
	// or other.
	CancellationFeedback *string    `json:"cancellation_feedback"`
	CancellationComment  *string    `json:"cancellation_comment"`
	ExpiresAt            *time.Time `json:"expires_at"`
	PausedAt             *time.Time `json:"paused_at"`

	Discounts []Discount `json:"discounts"`
	// DiscountID and DiscountCyclesRemaining are deprecated in the spec in
	// favour of Discounts.
	DiscountID              *string `json:"discount_id"`
	DiscountCyclesRemaining *int    `json:"discount_cycles_remaining"`

	TaxID                *string               `json:"tax_id"`
	CustomerBusinessName *string               `json:"customer_business_name"`
	CustomFieldResponses []CustomFieldResponse `json:"custom_field_responses"`

	Meters                     []Meter                      `json:"meters"`
	CreditEntitlementCart      []CreditEntitlementCartItem  `json:"credit_entitlement_cart"`
	MeterCreditEntitlementCart []MeterCreditEntitlementItem `json:"meter_credit_entitlement_cart"`

	// The fields below came after spec v1.113.0 (docs/dodo-drift.md). An
	// object from before lacks them: nil means "not said", never false.

	// HasPaymentMethod says whether a payment method is on file; false
	// while a card-optional subscription waits for one.
	HasPaymentMethod *bool `json:"has_payment_method,omitzero"`
	// PastDueEndsAt is when the grace period of a past_due subscription
	// ends (webhooks only).
	PastDueEndsAt *time.Time `json:"past_due_ends_at,omitzero"`
}

// ChargeableOffSession reports whether Dodo can charge s without the
// customer: false only when s says it has no payment method on file. An
// object from before has_payment_method existed says nothing, and the
// saved payment method decides as it did.
func (s *Subscription) ChargeableOffSession() bool {
	return s == nil || s.HasPaymentMethod == nil || *s.HasPaymentMethod
}

// CustomerID returns the id of the subscribed customer, "" if s is nil.
func (s *Subscription) CustomerID() string {
	if s == nil {
		return ""
	}
	return s.Customer.CustomerID
}

// SubscriptionListItem is a subscription as GET /subscriptions lists it
// (spec SubscriptionListResponseItem): a Subscription without addons,
// brand_id, expires_at, the cancellation feedback, custom fields, meters
// and credit carts, with product_name, and with Discounts required and
// lighter.
type SubscriptionListItem struct {
	SubscriptionID string `json:"subscription_id"`
	// Status is a SubscriptionStatus, as in Subscription.
	Status      string  `json:"status"`
	ProductID   string  `json:"product_id"`
	ProductName *string `json:"product_name"`
	Quantity    int     `json:"quantity"`

	Customer CustomerLimitedDetails `json:"customer"`
	Billing  BillingAddress         `json:"billing"`
	Metadata Metadata               `json:"metadata"`

	Currency                   string `json:"currency"`
	RecurringPreTaxAmount      int64  `json:"recurring_pre_tax_amount"`
	TaxInclusive               bool   `json:"tax_inclusive"`
	PaymentFrequencyCount      int    `json:"payment_frequency_count"`
	PaymentFrequencyInterval   string `json:"payment_frequency_interval"`
	SubscriptionPeriodCount    int    `json:"subscription_period_count"`
	SubscriptionPeriodInterval string `json:"subscription_period_interval"`

	PreviousBillingDate time.Time `json:"previous_billing_date"`
	NextBillingDate     time.Time `json:"next_billing_date"`
	CreatedAt           time.Time `json:"created_at"`

	TrialPeriodDays int    `json:"trial_period_days"`
	TrialAmount     *int64 `json:"trial_amount"`
	OnDemand        bool   `json:"on_demand"`

	PaymentMethodID *string              `json:"payment_method_id"`
	ScheduledChange *ScheduledPlanChange `json:"scheduled_change"`

	CancelAtNextBillingDate bool       `json:"cancel_at_next_billing_date"`
	CancelledAt             *time.Time `json:"cancelled_at"`
	PausedAt                *time.Time `json:"paused_at"`

	Discounts               []DiscountListItem `json:"discounts"`
	DiscountID              *string            `json:"discount_id"`
	DiscountCyclesRemaining *int               `json:"discount_cycles_remaining"`

	TaxID                *string `json:"tax_id"`
	CustomerBusinessName *string `json:"customer_business_name"`

	// HasPaymentMethod is Subscription.HasPaymentMethod (after v1.113.0).
	HasPaymentMethod *bool `json:"has_payment_method,omitzero"`
}

// DiscountListItem is a discount of a listed subscription (spec
// DiscountListItem); the list's order is the discounts' position.
type DiscountListItem struct {
	DiscountID              string `json:"discount_id"`
	DiscountCyclesRemaining *int   `json:"discount_cycles_remaining"`
}

// AddonCartItem is an addon on a subscription (spec
// AddonCartResponseItem).
type AddonCartItem struct {
	AddonID  string `json:"addon_id"`
	Quantity int    `json:"quantity"`
}

// ScheduledPlanChange is a plan change scheduled for a later date (spec
// ScheduledPlanChangeResponse).
type ScheduledPlanChange struct {
	ID                 string           `json:"id"`
	ProductID          string           `json:"product_id"`
	ProductName        *string          `json:"product_name"`
	ProductDescription *string          `json:"product_description"`
	Quantity           int              `json:"quantity"`
	Addons             []ScheduledAddon `json:"addons"`
	EffectiveAt        time.Time        `json:"effective_at"`
	CreatedAt          time.Time        `json:"created_at"`
}

// ScheduledAddon is an addon of a scheduled plan change (spec
// ScheduledAddonResponse).
type ScheduledAddon struct {
	AddonID  string `json:"addon_id"`
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
}

// Meter is a usage meter on a subscription (spec MeterCartResponseItem).
// PricePerUnit is a decimal string.
type Meter struct {
	MeterID         string  `json:"meter_id"`
	Name            string  `json:"name"`
	Description     *string `json:"description"`
	MeasurementUnit string  `json:"measurement_unit"`
	Currency        string  `json:"currency"`
	FreeThreshold   int64   `json:"free_threshold"`
	PricePerUnit    *string `json:"price_per_unit"`
}

// CreditEntitlementCartItem is a credit entitlement of a subscription
// (spec CreditEntitlementCartResponse). Credit amounts and balances are
// decimal strings.
type CreditEntitlementCartItem struct {
	CreditEntitlementID   string `json:"credit_entitlement_id"`
	CreditEntitlementName string `json:"credit_entitlement_name"`
	ProductID             string `json:"product_id"`
	Unit                  string `json:"unit"`
	CreditsAmount         string `json:"credits_amount"`
	RemainingBalance      string `json:"remaining_balance"`
	OverageBalance        string `json:"overage_balance"`
	OverageEnabled        bool   `json:"overage_enabled"`
	// OverageBehavior is forgive_at_reset, invoice_at_billing,
	// carry_deficit or carry_deficit_auto_repay.
	OverageBehavior            string  `json:"overage_behavior"`
	OverageLimit               *string `json:"overage_limit"`
	RolloverEnabled            bool    `json:"rollover_enabled"`
	RolloverPercentage         *int    `json:"rollover_percentage"`
	RolloverTimeframeCount     *int    `json:"rollover_timeframe_count"`
	RolloverTimeframeInterval  *string `json:"rollover_timeframe_interval"`
	MaxRolloverCount           *int    `json:"max_rollover_count"`
	ExpiresAfterDays           *int    `json:"expires_after_days"`
	LowBalanceThresholdPercent *int    `json:"low_balance_threshold_percent"`
}

// MeterCreditEntitlementItem links a meter of a subscription to a credit
// entitlement (spec MeterCreditEntitlementCartResponse).
type MeterCreditEntitlementItem struct {
	MeterID             string `json:"meter_id"`
	MeterName           string `json:"meter_name"`
	CreditEntitlementID string `json:"credit_entitlement_id"`
	ProductID           string `json:"product_id"`
	MeterUnitsPerCredit string `json:"meter_units_per_credit"` // a decimal string
}

// SubscriptionCharge is the answer to POST
// /subscriptions/{subscription_id}/charge (spec
// CreateSubscriptionChargeResponse): the payment it created, whose outcome
// arrives as payment.succeeded or payment.failed.
type SubscriptionCharge struct {
	PaymentID string `json:"payment_id"`
}

// ChangePlanResult is the answer to POST
// /subscriptions/{subscription_id}/change-plan since Dodo gave it one
// (SubscriptionChangePlanResponse of Dodo's TypeScript SDK 2.52.0; the
// spec, v1.113.0, documents no body): the payment that settles the
// change, and a hosted page for it when the customer must pay there.
// Every field may be null, and an answer from before has no body at all:
// the zero ChangePlanResult.
type ChangePlanResult struct {
	PaymentID    *string    `json:"payment_id"`
	PaymentLink  *string    `json:"payment_link"`
	ClientSecret *string    `json:"client_secret"`
	ExpiresOn    *time.Time `json:"expires_on"`
}
