package wire

import "time"

// Dispute is the data of the dispute.* events. The spec's event schemas
// reference DisputeResponse, but its examples and OutgoingWebhookData use
// the wider GetDisputeResponse (with customer, brand, reason and payment
// provider), which Dispute models; the extra fields are simply empty if
// Dodo sends the narrow shape.
type Dispute struct {
	// PayloadType is "Dispute" when present; see Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	DisputeID  string `json:"dispute_id"`
	PaymentID  string `json:"payment_id"`
	BusinessID string `json:"business_id"`
	BrandID    string `json:"brand_id"`
	// Amount is a string in the spec (e.g. "400"), unlike every other
	// amount; it is kept as sent.
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	// DisputeStage is pre_dispute, dispute or pre_arbitration.
	DisputeStage string `json:"dispute_stage"`
	// DisputeStatus is dispute_opened, dispute_expired, dispute_accepted,
	// dispute_cancelled, dispute_challenged, dispute_won or dispute_lost.
	DisputeStatus   string                 `json:"dispute_status"`
	PaymentProvider string                 `json:"payment_provider"` // stripe, adyen or dodo
	Reason          *string                `json:"reason"`
	Remarks         *string                `json:"remarks"`
	IsResolvedByRDR *bool                  `json:"is_resolved_by_rdr"`
	Customer        CustomerLimitedDetails `json:"customer"`
	CreatedAt       time.Time              `json:"created_at"`
}

// CustomerID returns the id of the disputing customer, "" if d is nil or
// the payload had no customer.
func (d *Dispute) CustomerID() string {
	if d == nil {
		return ""
	}
	return d.Customer.CustomerID
}
