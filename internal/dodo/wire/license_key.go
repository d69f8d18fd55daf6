package wire

import "time"

// LicenseKey is the data of the license_key.created event (spec
// LicenseKeyResponse).
type LicenseKey struct {
	// PayloadType is "LicenseKey" when present; see Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	ID               string     `json:"id"`
	BusinessID       string     `json:"business_id"`
	BrandID          string     `json:"brand_id"`
	Key              string     `json:"key"`
	Status           string     `json:"status"` // active, expired or disabled
	Source           string     `json:"source"` // auto, import or manual
	CustomerID       string     `json:"customer_id"`
	ProductID        string     `json:"product_id"`
	PaymentID        *string    `json:"payment_id"`
	SubscriptionID   *string    `json:"subscription_id"`
	InstancesCount   int        `json:"instances_count"`
	ActivationsLimit *int       `json:"activations_limit"`
	ExpiresAt        *time.Time `json:"expires_at"`
	CreatedAt        time.Time  `json:"created_at"`
}
