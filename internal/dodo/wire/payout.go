package wire

import (
	"encoding/json"
	"time"
)

// Payout is the data of the payout.* events (spec PayoutsResponse).
// Amounts are in the smallest unit of Currency.
type Payout struct {
	// PayloadType is "Payout" when present; see Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	PayoutID   string `json:"payout_id"`
	BusinessID string `json:"business_id"`
	// Status is not_initiated, in_progress, on_hold, failed or success.
	Status        string `json:"status"`
	PaymentMethod string `json:"payment_method"` // e.g. "bank_transfer"
	Currency      string `json:"currency"`
	Amount        int64  `json:"amount"`
	Fee           int64  `json:"fee"`
	// Tax, Refunds and Chargebacks are deprecated in the spec.
	Tax               int64     `json:"tax"`
	Refunds           int64     `json:"refunds"`
	Chargebacks       int64     `json:"chargebacks"`
	Name              *string   `json:"name"`
	Remarks           *string   `json:"remarks"`
	PayoutDocumentURL *string   `json:"payout_document_url"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// AdditionalDocs is in the spec's examples (always []) but not in its
	// schema, so the element type is unknown and kept as JSON.
	AdditionalDocs []json.RawMessage `json:"additional_docs"`
}
