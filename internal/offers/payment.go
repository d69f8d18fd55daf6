package offers

// NotePayment records paymentID as the payment of offer o's charge before
// its outcome is known: the payment Dodo's answer to the charge named (a
// plan change's, since Dodo answers change-plan with one). A payment
// webhook for another payment then does not settle the offer (Convert and
// Fail refuse it), and the conversion carries the id even when the change
// is confirmed without its webhook. Noting the payment the offer already
// records is a no-op. It refuses an empty id (ErrInvalid), an offer that
// records another payment (ErrPaymentMismatch) and an offer never
// accepted (ErrNotAccepted).
func NotePayment(o Offer, paymentID string) (Offer, error) {
	switch {
	case paymentID == "":
		return o, refuse("note payment", o, ErrInvalid)
	case o.State != Accepted && o.State != Charged && o.State != Failed:
		return o, refuse("note payment", o, ErrNotAccepted)
	case o.PaymentID == paymentID:
		return o, nil
	case o.PaymentID != "":
		return o, refuse("note payment", o, ErrPaymentMismatch)
	}
	o.PaymentID = paymentID
	return o, nil
}
