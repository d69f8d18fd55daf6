package wire

import "time"

// AbandonedCheckout is the data of the abandoned_checkout.* events (spec
// AbandonedCheckoutPayload).
type AbandonedCheckout struct {
	// PayloadType is "AbandonedCheckout" when present; see
	// Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	PaymentID  string `json:"payment_id"`
	CustomerID string `json:"customer_id"`
	BrandID    string `json:"brand_id"`
	// AbandonmentReason is payment_failed or checkout_incomplete.
	AbandonmentReason string `json:"abandonment_reason"`
	// Status is abandoned, recovering, recovered, exhausted or opted_out.
	Status             string    `json:"status"`
	RecoveredPaymentID *string   `json:"recovered_payment_id"`
	AbandonedAt        time.Time `json:"abandoned_at"`
}
