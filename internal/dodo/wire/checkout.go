package wire

import "time"

// CheckoutSession is the answer to POST /checkouts (spec
// CreateSessionResponse).
type CheckoutSession struct {
	SessionID string `json:"session_id"`
	// CheckoutURL is the hosted page; null for a one-click charge.
	CheckoutURL *string `json:"checkout_url"`
	// PaymentID is the payment a confirmed session created: for a one-click
	// charge, the charge. Its outcome arrives as payment.succeeded or
	// payment.failed; this answer carries no status.
	PaymentID      *string `json:"payment_id"`
	ClientSecret   *string `json:"client_secret"`
	PublishableKey *string `json:"publishable_key"`
}

// CheckoutSessionStatus is the answer to GET /checkouts/{id} (spec
// GetCheckoutSessionsStatus). PaymentID and PaymentStatus (an
// IntentStatus) are null while the customer is still filling in the page.
type CheckoutSessionStatus struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	PaymentID     *string   `json:"payment_id"`
	PaymentStatus *string   `json:"payment_status"`
	CustomerEmail *string   `json:"customer_email"`
	CustomerName  *string   `json:"customer_name"`
}
