package wire

import (
	"slices"
	"time"
)

// Payment is a payment (spec PaymentResponse): the data of the payment.*
// events, where it is the payment's latest state when the webhook was
// delivered (not when it was emitted), and the answer to GET
// /payments/{payment_id}. Amounts are in the currency's smallest unit.
type Payment struct {
	// PayloadType is "Payment" in a webhook and absent from an API answer.
	// The spec's webhook examples carry it; its schemas do not.
	// events.Decode dispatches on the event type, not on this.
	PayloadType string `json:"payload_type,omitempty"`

	PaymentID  string `json:"payment_id"`
	BusinessID string `json:"business_id"`
	BrandID    string `json:"brand_id"`
	// Status is an IntentStatus: succeeded, failed, cancelled, processing,
	// requires_customer_action, requires_merchant_action,
	// requires_payment_method, requires_confirmation, requires_capture,
	// partially_captured or partially_captured_and_capturable.
	Status *string `json:"status"`

	TotalAmount        int64  `json:"total_amount"` // including tax
	Tax                *int64 `json:"tax"`
	Currency           string `json:"currency"`
	SettlementAmount   int64  `json:"settlement_amount"`
	SettlementCurrency string `json:"settlement_currency"`
	SettlementTax      *int64 `json:"settlement_tax"`

	Customer CustomerLimitedDetails `json:"customer"`
	Billing  BillingAddress         `json:"billing"`
	Metadata Metadata               `json:"metadata"`

	// SubscriptionID is set on the charges of a subscription (first
	// payment, renewals, plan changes).
	SubscriptionID    *string `json:"subscription_id"`
	CheckoutSessionID *string `json:"checkout_session_id"`
	// ProductCart lists the products of a one-time payment.
	ProductCart []ProductCartItem `json:"product_cart"`

	PaymentProvider   string  `json:"payment_provider"`    // stripe, adyen or dodo
	PaymentMethod     *string `json:"payment_method"`      // e.g. "card"
	PaymentMethodType *string `json:"payment_method_type"` // e.g. "visa"
	// PaymentMethodID is the saved payment method used, if any.
	PaymentMethodID    *string `json:"payment_method_id"`
	CardLastFour       *string `json:"card_last_four"`
	CardNetwork        *string `json:"card_network"`
	CardType           *string `json:"card_type"`
	CardHolderName     *string `json:"card_holder_name"`
	CardIssuingCountry *string `json:"card_issuing_country"` // ISO 3166-1 alpha-2

	// ErrorCode and ErrorMessage say why a payment failed.
	ErrorCode    *string `json:"error_code"`
	ErrorMessage *string `json:"error_message"`

	InvoiceID   *string `json:"invoice_id"`
	InvoiceURL  *string `json:"invoice_url"`
	PaymentLink *string `json:"payment_link"`

	Disputes     []DisputeSummary `json:"disputes"`
	Refunds      []RefundSummary  `json:"refunds"`
	RefundStatus *string          `json:"refund_status"` // partial or full

	Discounts []Discount `json:"discounts"`
	// DiscountID is deprecated in the spec in favour of Discounts.
	DiscountID           *string               `json:"discount_id"`
	CustomFieldResponses []CustomFieldResponse `json:"custom_field_responses"`

	DigitalProductsDelivered bool `json:"digital_products_delivered"`
	// IsUpdatePaymentMethod is true for a zero or setup amount charge made
	// only to update a subscription's payment method.
	IsUpdatePaymentMethod bool `json:"is_update_payment_method"`
	// RetryAttempt is 0 for the original attempt, 1 and up for retries of
	// a renewal.
	RetryAttempt int `json:"retry_attempt"`

	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`

	// The fields below came after spec v1.113.0 (docs/dodo-drift.md); an
	// object from before lacks them. Read them through Subscriptions.

	// IsMultiSubscription is true when one payment starts several
	// subscriptions (a cart of them); SubscriptionID is then null.
	IsMultiSubscription *bool `json:"is_multi_subscription,omitzero"`
	// SubscriptionIDs lists every subscription the payment starts or
	// charges; empty for a one-time payment.
	SubscriptionIDs []string `json:"subscription_ids,omitzero"`
}

// Subscriptions returns the ids of the subscriptions p charges: its
// subscription_ids, or its subscription_id for an object that predates
// them (or names only that); nil for a one-time payment. A payment that
// charges a subscription grants nothing itself: the subscription does.
func (p *Payment) Subscriptions() []string {
	if p == nil {
		return nil
	}
	return subscriptionsOf(p.SubscriptionID, p.SubscriptionIDs)
}

// ChargesSubscription reports whether p charges subscription id.
func (p *Payment) ChargesSubscription(id string) bool {
	return id != "" && slices.Contains(p.Subscriptions(), id)
}

func subscriptionsOf(one *string, many []string) []string {
	var out []string
	for _, id := range many {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if one != nil && *one != "" && !slices.Contains(out, *one) {
		out = append(out, *one)
	}
	return out
}

// CustomerID returns the id of the paying customer, "" if p is nil. A
// payment has no top-level customer_id: the id is in its customer object.
func (p *Payment) CustomerID() string {
	if p == nil {
		return ""
	}
	return p.Customer.CustomerID
}

// PaymentListItem is a payment as GET /payments lists it (spec
// GetPaymentsListResponseItem): fewer fields than Payment, plus
// dispute_status and has_license_key.
type PaymentListItem struct {
	PaymentID string `json:"payment_id"`
	BrandID   string `json:"brand_id"`
	// Status is an IntentStatus, as in Payment.
	Status          *string                `json:"status"`
	TotalAmount     int64                  `json:"total_amount"`
	Currency        string                 `json:"currency"`
	Customer        CustomerLimitedDetails `json:"customer"`
	Metadata        Metadata               `json:"metadata"`
	SubscriptionID  *string                `json:"subscription_id"`
	PaymentProvider string                 `json:"payment_provider"`

	PaymentMethod     *string `json:"payment_method"`
	PaymentMethodType *string `json:"payment_method_type"`
	CardLastFour      *string `json:"card_last_four"`
	CardNetwork       *string `json:"card_network"`

	InvoiceID     *string `json:"invoice_id"`
	InvoiceURL    *string `json:"invoice_url"`
	RefundStatus  *string `json:"refund_status"`
	DisputeStatus *string `json:"dispute_status"` // the latest dispute's, if any

	DigitalProductsDelivered bool      `json:"digital_products_delivered"`
	HasLicenseKey            bool      `json:"has_license_key"`
	CreatedAt                time.Time `json:"created_at"`

	// IsMultiSubscription and SubscriptionIDs are Payment's (after
	// v1.113.0).
	IsMultiSubscription *bool    `json:"is_multi_subscription,omitzero"`
	SubscriptionIDs     []string `json:"subscription_ids,omitzero"`
}

// Subscriptions is Payment.Subscriptions for a listed payment.
func (p *PaymentListItem) Subscriptions() []string {
	if p == nil {
		return nil
	}
	return subscriptionsOf(p.SubscriptionID, p.SubscriptionIDs)
}

// ProductCartItem is a product bought in a one-time payment (spec
// OneTimeProductCartItemResponse).
type ProductCartItem struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// RefundSummary is a refund listed on a payment (spec RefundListItem): a
// Refund without customer, metadata and brand.
type RefundSummary struct {
	RefundID   string    `json:"refund_id"`
	PaymentID  string    `json:"payment_id"`
	BusinessID string    `json:"business_id"`
	Status     string    `json:"status"` // succeeded, failed, pending or review
	IsPartial  bool      `json:"is_partial"`
	Amount     *int64    `json:"amount"`
	Currency   *string   `json:"currency"`
	Reason     *string   `json:"reason"`
	CreatedAt  time.Time `json:"created_at"`
}

// DisputeSummary is a dispute listed on a payment (spec DisputeResponse): a
// Dispute without customer, brand, reason and provider.
type DisputeSummary struct {
	DisputeID       string    `json:"dispute_id"`
	PaymentID       string    `json:"payment_id"`
	BusinessID      string    `json:"business_id"`
	Amount          string    `json:"amount"` // a string in the spec, unlike other amounts
	Currency        string    `json:"currency"`
	DisputeStage    string    `json:"dispute_stage"`  // pre_dispute, dispute or pre_arbitration
	DisputeStatus   string    `json:"dispute_status"` // dispute_opened, dispute_won, ...
	IsResolvedByRDR *bool     `json:"is_resolved_by_rdr"`
	Remarks         *string   `json:"remarks"`
	CreatedAt       time.Time `json:"created_at"`
}

// Discount is a discount applied to a payment or subscription (spec
// DiscountDetailResponse). The spec says Amount is in basis points
// (540 = 5.4%) without distinguishing flat from percentage discounts.
type Discount struct {
	DiscountID           string     `json:"discount_id"`
	BusinessID           string     `json:"business_id"`
	Code                 string     `json:"code"`
	Name                 *string    `json:"name"`
	Type                 string     `json:"type"` // flat or percentage
	Amount               int64      `json:"amount"`
	Position             int        `json:"position"`
	TimesUsed            int        `json:"times_used"`
	UsageLimit           *int       `json:"usage_limit"`
	RestrictedTo         []string   `json:"restricted_to"`
	SubscriptionCycles   *int       `json:"subscription_cycles"`
	CyclesRemaining      *int       `json:"cycles_remaining"`
	PreserveOnPlanChange bool       `json:"preserve_on_plan_change"`
	Metadata             Metadata   `json:"metadata"`
	CreatedAt            time.Time  `json:"created_at"`
	ExpiresAt            *time.Time `json:"expires_at"`
}

// CustomFieldResponse is a customer's answer to a custom checkout field.
type CustomFieldResponse struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// OneTimePayment is the answer to POST /payments (spec
// CreateOneTimePaymentResponse). The payment's outcome arrives as
// payment.succeeded or payment.failed, or GET /payments/{payment_id}.
type OneTimePayment struct {
	PaymentID   string                 `json:"payment_id"`
	TotalAmount int64                  `json:"total_amount"`
	Customer    CustomerLimitedDetails `json:"customer"`
	Metadata    Metadata               `json:"metadata"`
	// ClientSecret completes the payment in Dodo's embedded checkout.
	ClientSecret string `json:"client_secret"`
	// PaymentLink is the hosted page, when the request asked for one.
	PaymentLink *string              `json:"payment_link"`
	ExpiresOn   *time.Time           `json:"expires_on"`
	ProductCart []OneTimeCartItemReq `json:"product_cart"`
	DiscountIDs []string             `json:"discount_ids"`
	// DiscountID is deprecated in the spec in favour of DiscountIDs.
	DiscountID *string `json:"discount_id"`
}

// OneTimeCartItemReq is a line of a one-time payment's cart as it was
// asked for (spec OneTimeProductCartItemReq). Amount is the price paid
// for a pay-what-you-want product.
type OneTimeCartItemReq struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
	Amount    *int64 `json:"amount"`
}
