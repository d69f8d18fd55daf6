package offerengine

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/offers"
)

// notePlanPayment records on accepted plan change o the payment Dodo's
// change-plan answer named (docs/dodo-drift.md), so that only that payment
// settles it and offers.converted carries it, and returns the offer as
// stored. A refusal (the offer records another payment already: the
// webhook came first) keeps the stored offer. A failed write is only
// logged, and the offer returned has the payment all the same: the
// webhook's payment settles the offer as before, matched by its metadata.
func (e *Engine) notePlanPayment(ctx context.Context, o offers.Offer, paymentID string) offers.Offer {
	noted, err := e.store.Transition(ctx, o.ID, func(cur offers.Offer) (offers.Offer, error) {
		return offers.NotePayment(cur, paymentID)
	})
	var te *offers.TransitionError
	switch {
	case err == nil:
		return noted
	case errors.As(err, &te):
		e.log.Warn("plan change's payment not recorded", zap.String("offer_id", o.ID), zap.String("payment_id", paymentID), zap.Error(err))
		return noted
	}
	e.log.Warn("record the plan change's payment", zap.String("offer_id", o.ID), zap.String("payment_id", paymentID), zap.Error(err))
	if o.PaymentID == "" {
		o.PaymentID = paymentID
	}
	return o
}
