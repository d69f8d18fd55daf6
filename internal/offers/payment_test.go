package offers

import (
	"errors"
	"testing"
	"time"
)

func TestNotePayment(t *testing.T) {
	note := func(id string) func(Offer) (Offer, error) {
		return func(o Offer) (Offer, error) { return NotePayment(o, id) }
	}
	tests := []struct {
		name    string
		setup   []func(Offer) (Offer, error)
		payment string
		want    string // the payment recorded after
		wantErr error
	}{
		{"accepted records it", []func(Offer) (Offer, error){accept}, "pay_7", "pay_7", nil},
		{"the same again is a no-op", []func(Offer) (Offer, error){accept, note("pay_7")}, "pay_7", "pay_7", nil},
		{"another payment is refused", []func(Offer) (Offer, error){accept, note("pay_7")}, "pay_8", "pay_7", ErrPaymentMismatch},
		{"charged without a payment records it", []func(Offer) (Offer, error){accept, func(o Offer) (Offer, error) { return Convert(o, "", after) }}, "pay_7", "pay_7", nil},
		{"charged with another payment is refused", []func(Offer) (Offer, error){accept, convert}, "pay_7", "pay_1", ErrPaymentMismatch},
		{"charged with this payment is a no-op", []func(Offer) (Offer, error){accept, convert}, "pay_1", "pay_1", nil},
		{"open is refused", nil, "pay_7", "", ErrNotAccepted},
		{"declined is refused", []func(Offer) (Offer, error){decline}, "pay_7", "", ErrNotAccepted},
		{"empty is refused", []func(Offer) (Offer, error){accept}, "", "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := in(t, tt.setup...)
			got, err := NotePayment(o, tt.payment)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NotePayment: got error %v, want %v", err, tt.wantErr)
			}
			if got.PaymentID != tt.want || got.State != o.State || len(got.History) != len(o.History) {
				t.Errorf("got payment %q state %s history %d, want %q %s %d", got.PaymentID, got.State, len(got.History), tt.want, o.State, len(o.History))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	// A noted payment then settles the offer, and only it does.
	o := in(t, accept, note("pay_7"))
	if _, err := Convert(o, "pay_8", t0.Add(3*time.Minute)); !errors.Is(err, ErrPaymentMismatch) {
		t.Errorf("Convert with another payment: got %v, want ErrPaymentMismatch", err)
	}
	c, err := Convert(o, "", t0.Add(3*time.Minute))
	if err != nil || c.State != Charged || c.PaymentID != "pay_7" {
		t.Errorf("Convert without a payment: got %s %q %v, want charged pay_7", c.State, c.PaymentID, err)
	}
}
