package wire

import "time"

// ChangePlanPreview is what a plan change would do, the answer to POST
// /subscriptions/{subscription_id}/change-plan/preview (spec
// ChangePlanPreviewResponse).
type ChangePlanPreview struct {
	// NewPlan is the subscription as it would be after the change.
	NewPlan         Subscription    `json:"new_plan"`
	ImmediateCharge ImmediateCharge `json:"immediate_charge"`
}

// ImmediateCharge is the charge a plan change makes now (spec
// ImmediateCharge).
type ImmediateCharge struct {
	EffectiveAt time.Time       `json:"effective_at"`
	Summary     LineItemSummary `json:"summary"`
	LineItems   []LineItem      `json:"line_items"`
}

// LineItemSummary totals an immediate charge (spec LineItemSummary).
type LineItemSummary struct {
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

// LineItem is one line of an immediate charge: the spec's LineItem, a
// union of subscription, addon and meter lines, flattened; Type
// ("subscription", "addon" or "meter") says which fields are set. A field
// that some kind lacks is a pointer left out of the JSON when nil.
type LineItem struct {
	Type         string  `json:"type"`
	ID           string  `json:"id"`
	Currency     string  `json:"currency"`
	TaxInclusive bool    `json:"tax_inclusive"`
	Description  *string `json:"description"`
	Tax          *int64  `json:"tax"`
	// Name and TaxRate may be null on a subscription line only.
	Name    *string  `json:"name"`
	TaxRate *float64 `json:"tax_rate"`

	// ProductID is set on subscription lines.
	ProductID *string `json:"product_id,omitempty"`
	// Quantity, UnitPrice and ProrationFactor are set on subscription and
	// addon lines.
	Quantity        *int     `json:"quantity,omitempty"`
	UnitPrice       *int64   `json:"unit_price,omitempty"`
	ProrationFactor *float64 `json:"proration_factor,omitempty"`
	// TaxCategory is set on addon lines.
	TaxCategory *string `json:"tax_category,omitempty"`
	// The rest is set on meter lines; the unit counts and the price per
	// unit are decimal strings.
	Subtotal        *int64  `json:"subtotal,omitempty"`
	UnitsConsumed   *string `json:"units_consumed,omitempty"`
	ChargeableUnits *string `json:"chargeable_units,omitempty"`
	FreeThreshold   *int64  `json:"free_threshold,omitempty"`
	PricePerUnit    *string `json:"price_per_unit,omitempty"`
}
