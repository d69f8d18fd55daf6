package wire

import "time"

// EntitlementGrant is the data of the entitlement_grant.* events (spec
// EntitlementGrantResponse): an entitlement (license key, file, Discord
// role...) granted to a customer.
type EntitlementGrant struct {
	// PayloadType is "EntitlementGrant" when present; see
	// Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	ID             string  `json:"id"`
	BusinessID     string  `json:"business_id"`
	BrandID        string  `json:"brand_id"`
	EntitlementID  string  `json:"entitlement_id"`
	CustomerID     string  `json:"customer_id"`
	PaymentID      *string `json:"payment_id"`
	SubscriptionID *string `json:"subscription_id"`
	// Status is Pending, Delivered, Failed or Revoked in the spec's enum,
	// but the spec's examples send "delivered": compare case-insensitively.
	Status string `json:"status"`
	// IntegrationType is discord, telegram, github, figma, framer, notion,
	// digital_files, license_key or feature_flag.
	IntegrationType string   `json:"integration_type"`
	Metadata        Metadata `json:"metadata"`
	// ExternalID is in the spec's examples but not in its schema.
	ExternalID *string `json:"external_id"`

	DigitalProductDelivery *DigitalProductDelivery `json:"digital_product_delivery"`
	Feature                *Feature                `json:"feature"`
	LicenseKey             *LicenseKeyGrant        `json:"license_key"`
	OAuthURL               *string                 `json:"oauth_url"`
	OAuthExpiresAt         *time.Time              `json:"oauth_expires_at"`

	ErrorCode        *string    `json:"error_code"`
	ErrorMessage     *string    `json:"error_message"`
	RevocationReason *string    `json:"revocation_reason"`
	DeliveredAt      *time.Time `json:"delivered_at"`
	RevokedAt        *time.Time `json:"revoked_at"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// DigitalProductDelivery is what a digital_files grant delivers (spec
// DigitalProductDelivery).
type DigitalProductDelivery struct {
	Files        []DeliveryFile `json:"files"`
	ExternalURL  *string        `json:"external_url"`
	Instructions *string        `json:"instructions"`
}

// DeliveryFile is a downloadable file of a digital product (spec
// DigitalProductDeliveryFile).
type DeliveryFile struct {
	FileID      string  `json:"file_id"`
	Filename    string  `json:"filename"`
	ContentType *string `json:"content_type"`
	FileSize    *int64  `json:"file_size"`
	DownloadURL string  `json:"download_url"`
	ExpiresIn   int64   `json:"expires_in"` // seconds
}

// Feature is the feature flag a feature_flag grant turns on (spec
// Feature). FeatureType is "boolean".
type Feature struct {
	FeatureID   string `json:"feature_id"`
	FeatureType string `json:"feature_type"`
}

// LicenseKeyGrant is the license key a license_key grant issued (spec
// LicenseKeyGrant).
type LicenseKeyGrant struct {
	Key              string     `json:"key"`
	ActivationsUsed  int        `json:"activations_used"`
	ActivationsLimit *int       `json:"activations_limit"`
	ExpiresAt        *time.Time `json:"expires_at"`
}
