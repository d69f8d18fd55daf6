package wire

import (
	"encoding/json"
	"time"
)

// Product is a product of the catalogue, as GET /products/{id} answers it
// (spec GetProductResponse).
type Product struct {
	ProductID   string  `json:"product_id"`
	BusinessID  string  `json:"business_id"`
	BrandID     string  `json:"brand_id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Image       *string `json:"image"`
	IsRecurring bool    `json:"is_recurring"`
	// Price holds the amount and the currency: a product has no top-level
	// currency.
	Price Price `json:"price"`
	// PricingMode is by_currency or by_country; nil means the base price
	// only.
	PricingMode *string `json:"pricing_mode"`
	// TaxCategory is digital_products, saas, e_book, edtech or
	// live_tutoring.
	TaxCategory string `json:"tax_category"`
	// Addons are the ids of the addons a subscription product offers.
	Addons   []string `json:"addons"`
	Metadata Metadata `json:"metadata"`

	LicenseKeyEnabled           bool                `json:"license_key_enabled"`
	LicenseKeyActivationsLimit  *int                `json:"license_key_activations_limit"`
	LicenseKeyActivationMessage *string             `json:"license_key_activation_message"`
	LicenseKeyDuration          *LicenseKeyDuration `json:"license_key_duration"`

	DigitalProductDelivery *DigitalProductDelivery `json:"digital_product_delivery"`
	ProductCollectionID    *string                 `json:"product_collection_id"`
	// CreditEntitlements and Entitlements (spec
	// CreditEntitlementMappingResponse and ProductEntitlementSummary, the
	// latter a deep union of integration configs) are kept as JSON:
	// offerflow sells no entitlements and reads neither.
	CreditEntitlements []json.RawMessage `json:"credit_entitlements"`
	Entitlements       []json.RawMessage `json:"entitlements"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LicenseKeyDuration is how long a product's license keys stay valid
// (spec LicenseKeyDuration). Interval is Day, Week, Month or Year.
type LicenseKeyDuration struct {
	Count    int    `json:"count"`
	Interval string `json:"interval"`
}

// The three kinds of Price (the spec's discriminator "type").
const (
	PriceOneTime    = "one_time_price"
	PriceRecurring  = "recurring_price"
	PriceUsageBased = "usage_based_price"
)

// Price is the spec's Price, a union of OneTimePrice, RecurringPrice and
// UsageBasedPrice, flattened: Type says which fields are set. A field that
// some kind lacks is a pointer (or slice) left out of the JSON when nil.
type Price struct {
	Type     string `json:"type"`
	Currency string `json:"currency"`
	// Discount is a percentage, 0 to 100.
	Discount              int64 `json:"discount"`
	PurchasingPowerParity bool  `json:"purchasing_power_parity"`
	TaxInclusive          *bool `json:"tax_inclusive"`

	// Price is the amount of a one-time or recurring price; for a
	// pay-what-you-want price, the minimum.
	Price          *int64 `json:"price,omitempty"`
	PayWhatYouWant *bool  `json:"pay_what_you_want,omitempty"`
	SuggestedPrice *int64 `json:"suggested_price,omitempty"`

	// FixedPrice is the fixed part of a usage-based price, and Meters its
	// metered part.
	FixedPrice *int64       `json:"fixed_price,omitempty"`
	Meters     []PriceMeter `json:"meters,omitempty"`

	// The billing cycle of recurring and usage-based prices; the
	// intervals are Day, Week, Month or Year.
	PaymentFrequencyCount      *int    `json:"payment_frequency_count,omitempty"`
	PaymentFrequencyInterval   *string `json:"payment_frequency_interval,omitempty"`
	SubscriptionPeriodCount    *int    `json:"subscription_period_count,omitempty"`
	SubscriptionPeriodInterval *string `json:"subscription_period_interval,omitempty"`

	// The trial of a recurring price.
	TrialPeriodDays     *int   `json:"trial_period_days,omitempty"`
	TrialAmount         *int64 `json:"trial_amount,omitempty"`
	TrialApplyDiscounts *bool  `json:"trial_apply_discounts,omitempty"`
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

// PriceMeter is a meter of a usage-based price (spec AddMeterToPrice).
// PricePerUnit and MeterUnitsPerCredit are decimal strings.
type PriceMeter struct {
	MeterID             string  `json:"meter_id"`
	Name                *string `json:"name"`
	Description         *string `json:"description"`
	MeasurementUnit     *string `json:"measurement_unit"`
	FreeThreshold       *int64  `json:"free_threshold"`
	PricePerUnit        *string `json:"price_per_unit"`
	CreditEntitlementID *string `json:"credit_entitlement_id"`
	MeterUnitsPerCredit *string `json:"meter_units_per_credit"`
}

// ProductListItem is a product as GET /products lists it (spec
// GetProductsListResponseItem): a flat price and currency, with the full
// Price in PriceDetail.
type ProductListItem struct {
	ProductID   string  `json:"product_id"`
	BusinessID  string  `json:"business_id"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Image       *string `json:"image"`
	IsRecurring bool    `json:"is_recurring"`
	// Price is in the smallest unit of Currency.
	Price        *int64   `json:"price"`
	Currency     *string  `json:"currency"`
	PriceDetail  *Price   `json:"price_detail"`
	PricingMode  *string  `json:"pricing_mode"`
	TaxCategory  string   `json:"tax_category"`
	TaxInclusive *bool    `json:"tax_inclusive"`
	Metadata     Metadata `json:"metadata"`
	// Entitlements is kept as JSON, as in Product.
	Entitlements []json.RawMessage `json:"entitlements"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}
