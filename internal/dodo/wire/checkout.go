package wire

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
