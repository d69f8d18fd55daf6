package offers

import "github.com/offerflow/offerflow/internal/events"

// Event is what happened to an offer: the fourth level of its subject.
type Event string

// The offer events, one subject each.
const (
	EventCreated   Event = "created"   // New: the offer is open
	EventAccepted  Event = "accepted"  // Accept: the charge is requested
	EventDeclined  Event = "declined"  // Decline
	EventFailed    Event = "failed"    // Fail: the customer gets the fallback
	EventExpired   Event = "expired"   // Expire
	EventConverted Event = "converted" // Convert: the charge succeeded
)

// Events lists the six offer events in lifecycle order.
func Events() []Event {
	return []Event{EventCreated, EventAccepted, EventDeclined, EventFailed, EventExpired, EventConverted}
}

// SubjectPrefix starts every offer subject:
// offerflow.offers.{created,accepted,declined,failed,expired,converted}.<customer_id>.
const SubjectPrefix = events.OffersPrefix

// Subject returns the subject of event ev for a customer, for example
// offerflow.offers.created.cus_123. customerToken must already be a single
// subject token: pass natsbus.Token(customerID). The escaping stays in
// natsbus, the one place that knows NATS's token rules, instead of a copy
// here that could drift from it and split one customer's messages across
// two subjects.
func Subject(ev Event, customerToken string) string {
	return SubjectPrefix + string(ev) + "." + customerToken
}

// EventOf returns the event that moving into state s publishes: open is
// created, charged is converted, and every other state its own name.
func EventOf(s State) Event {
	switch s {
	case Open:
		return EventCreated
	case Charged:
		return EventConverted
	}
	return Event(s)
}
