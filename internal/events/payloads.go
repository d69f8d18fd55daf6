package events

import "github.com/offerflow/offerflow/internal/dodo/wire"

// The payloads of the event types, by the names the rest of offerflow
// knows them under. Each is the wire type of its spec schema, declared
// once in internal/dodo/wire (where its spec test is) and shared with the
// API client and the stand-in: a Payment from a webhook and one from GET
// /payments/{id} are the same Go type.
type (
	// Payment is the payload of the payment.* events.
	Payment = wire.Payment
	// Subscription is the payload of the subscription.* events.
	Subscription = wire.Subscription
	// Refund is the payload of the refund.* events.
	Refund = wire.Refund
	// Dispute is the payload of the dispute.* events.
	Dispute = wire.Dispute
	// LicenseKey is the payload of the license_key.created event.
	LicenseKey = wire.LicenseKey
	// Payout is the payload of the payout.* events.
	Payout = wire.Payout
	// CreditLedgerEntry is the payload of the credit.* events other than
	// credit.balance_low.
	CreditLedgerEntry = wire.CreditLedgerEntry
	// CreditBalanceLow is the payload of the credit.balance_low event.
	CreditBalanceLow = wire.CreditBalanceLow
	// AbandonedCheckout is the payload of the abandoned_checkout.* events.
	AbandonedCheckout = wire.AbandonedCheckout
	// DunningAttempt is the payload of the dunning.* events.
	DunningAttempt = wire.DunningAttempt
	// EntitlementGrant is the payload of the entitlement_grant.* events.
	EntitlementGrant = wire.EntitlementGrant
)
