package rules

import "time"

// Env is what a rule's condition sees; the expr tags are the names a
// merchant writes (customer.paid_currencies, signal.value, now). Fields a
// trigger does not provide are zero: a rule on payment.succeeded reads
// payment, a rule on a signal reads signal.
type Env struct {
	Event        EventFacts        `expr:"event"`
	Customer     CustomerFacts     `expr:"customer"`
	Subscription SubscriptionFacts `expr:"subscription"`
	Payment      PaymentFacts      `expr:"payment"`
	Signal       SignalFacts       `expr:"signal"`
	// Now is the evaluation time; conditions have no clock of their own.
	Now time.Time `expr:"now"`
}

// EventFacts describe the Dodo event that triggered the evaluation.
type EventFacts struct {
	// Type is set by Evaluate from the trigger.
	Type string `expr:"type"`
	// Timestamp is the event's own time, not the delivery time.
	Timestamp time.Time `expr:"timestamp"`
}

// CustomerFacts describe the customer the offer is for.
type CustomerFacts struct {
	ID string `expr:"id"`
	// PaidCurrencies are the currencies the customer has paid in; a
	// one-click charge in another currency is likely to fail.
	PaidCurrencies []string `expr:"paid_currencies"`
	// ActiveProducts are the products the customer owns now: active
	// subscriptions and one-time purchases that still grant access.
	ActiveProducts []string `expr:"active_products"`
	// PlanProduct is the product of the customer's current subscription
	// plan, empty without one.
	PlanProduct string `expr:"plan_product"`
	// PlanTier is set by Evaluate from the catalog when it lists
	// PlanProduct; the catalog is the one source of tiers.
	PlanTier int `expr:"plan_tier"`
	// Country is an ISO 3166 alpha-2 code, when known.
	Country string `expr:"country"`
	// Since is the customer's first payment or sign-up.
	Since time.Time `expr:"since"`
}

// SubscriptionFacts describe the subscription of the event, if any.
type SubscriptionFacts struct {
	ID        string `expr:"id"`
	Status    string `expr:"status"`
	ProductID string `expr:"product_id"`
	Currency  string `expr:"currency"`
	Quantity  int    `expr:"quantity"`
}

// PaymentFacts describe the payment of the event, if any.
type PaymentFacts struct {
	ID     string `expr:"id"`
	Status string `expr:"status"`
	// Amount is in the currency's minor units, as Dodo sends it.
	Amount     int64    `expr:"amount"`
	Currency   string   `expr:"currency"`
	ProductIDs []string `expr:"product_ids"`
}

// SignalFacts describe the app signal that triggered the evaluation.
type SignalFacts struct {
	// Name is set by Evaluate from the trigger.
	Name string `expr:"name"`
	// Value is the signal's measure: the milestone reached, or the share
	// of a plan limit used (0.9 for 90%).
	Value    float64           `expr:"value"`
	Metadata map[string]string `expr:"metadata"`
}
