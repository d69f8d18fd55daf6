package wire

import "time"

// DunningAttempt is the data of the dunning.* events (spec
// DunningAttemptPayload): Dodo's attempt to recover a subscription whose
// renewal failed.
type DunningAttempt struct {
	// PayloadType is "DunningAttempt" when present; see
	// Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	SubscriptionID string  `json:"subscription_id"`
	CustomerID     string  `json:"customer_id"`
	BrandID        string  `json:"brand_id"`
	PaymentID      *string `json:"payment_id"`
	// TriggerState is on_hold or cancelled.
	TriggerState string `json:"trigger_state"`
	// Status is recovering, recovered or exhausted.
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}
