package wire

import "time"

// Refund is the data of the refund.* events (spec RefundResponse).
type Refund struct {
	// PayloadType is "Refund" when present; see Payment.PayloadType.
	PayloadType string `json:"payload_type,omitempty"`

	RefundID   string `json:"refund_id"`
	PaymentID  string `json:"payment_id"`
	BusinessID string `json:"business_id"`
	BrandID    string `json:"brand_id"`
	Status     string `json:"status"` // succeeded, failed, pending or review
	// IsPartial is false for a refund of the whole payment.
	IsPartial bool `json:"is_partial"`
	// Amount is in the smallest unit of Currency; both are null when
	// unknown.
	Amount    *int64                 `json:"amount"`
	Currency  *string                `json:"currency"`
	Reason    *string                `json:"reason"`
	Customer  CustomerLimitedDetails `json:"customer"`
	Metadata  Metadata               `json:"metadata"`
	CreatedAt time.Time              `json:"created_at"`
}

// CustomerID returns the id of the refunded customer, "" if r is nil.
func (r *Refund) CustomerID() string {
	if r == nil {
		return ""
	}
	return r.Customer.CustomerID
}
