package service

import (
	"context"
	"fmt"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
)

// Signals: the merchant's app publishes an offerengine.Signal as JSON to
// offerflow.signals.<customer_id> (or POSTs it to ingest, which publishes
// it there), with Nats-Msg-Id = offerengine.SignalMsgID (the signal's id,
// scoped by its customer). Workers share one durable
// consumer on those subjects.
const (
	SignalsSubjectPrefix = events.SignalsPrefix
	SignalsSubjects      = SignalsSubjectPrefix + ">"
	SignalsConsumer      = "offerflow-signals"
	// OffersConsumer is the workers' second durable consumer of
	// DODO_EVENTS: it makes the offers webhooks trigger, apart from their
	// access effects (worker.Worker.HandleOffers).
	OffersConsumer = "offerflow-offers"
)

// SignalSubject is where a customer's signals go.
func SignalSubject(customerID string) string {
	return SignalsSubjectPrefix + natsbus.Token(customerID)
}

// signalHandler decodes a signal and runs the rules it triggers. A signal
// that does not decode or validate is dead-lettered with the reason.
func signalHandler(e *offerengine.Engine) natsbus.Handler {
	return func(ctx context.Context, d natsbus.Delivery) error {
		s, err := offerengine.DecodeSignal(d.Data)
		if err != nil {
			return fault.Permanent(err)
		}
		if want := SignalSubject(s.CustomerID); d.Subject != want {
			return fault.Permanent(fmt.Errorf("signal for customer %s on subject %s, want %s", s.CustomerID, d.Subject, want))
		}
		_, err = e.OnSignal(ctx, s)
		return err
	}
}
