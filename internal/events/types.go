package events

import "slices"

// The event types in Dodo's spec (v1.113.0), and the one Dodo added after
// it (TypeSubscriptionPastDue, docs/dodo-drift.md), grouped by payload.
// Each is the value of the envelope's "type" and, after SubjectPrefix, the
// NATS subject.
const (
	// TypePaymentCancelled is sent when a payment is cancelled; its payload is *Payment.
	TypePaymentCancelled = "payment.cancelled"
	// TypePaymentFailed is sent when a payment fails to process; its payload is *Payment.
	TypePaymentFailed = "payment.failed"
	// TypePaymentProcessing is sent when a payment is being processed; its payload is *Payment.
	TypePaymentProcessing = "payment.processing"
	// TypePaymentSucceeded is sent when a payment is successfully processed; its payload is *Payment.
	TypePaymentSucceeded = "payment.succeeded"

	// TypeSubscriptionActive is sent when a subscription becomes active; its payload is *Subscription.
	TypeSubscriptionActive = "subscription.active"
	// TypeSubscriptionCancelled is sent when a subscription is cancelled; its payload is *Subscription.
	TypeSubscriptionCancelled = "subscription.cancelled"
	// TypeSubscriptionExpired is sent when a subscription expires; its payload is *Subscription.
	TypeSubscriptionExpired = "subscription.expired"
	// TypeSubscriptionFailed is sent when a subscription fails; its payload is *Subscription.
	TypeSubscriptionFailed = "subscription.failed"
	// TypeSubscriptionOnHold is sent when a subscription is put on hold; its payload is *Subscription.
	TypeSubscriptionOnHold = "subscription.on_hold"
	// TypeSubscriptionPastDue is sent when a subscription's renewal fails
	// and Dodo retries it within a grace period; its payload is
	// *Subscription, status past_due. Not in spec v1.113.0: from Dodo's
	// TypeScript SDK 2.52.0 (docs/dodo-drift.md).
	TypeSubscriptionPastDue = "subscription.past_due"
	// TypeSubscriptionPaused is sent when a subscription is paused; its payload is *Subscription.
	TypeSubscriptionPaused = "subscription.paused"
	// TypeSubscriptionPlanChanged is sent when a subscription plan is changed; its payload is *Subscription.
	TypeSubscriptionPlanChanged = "subscription.plan_changed"
	// TypeSubscriptionRenewed is sent when a subscription is renewed; its payload is *Subscription.
	TypeSubscriptionRenewed = "subscription.renewed"
	// TypeSubscriptionUnpaused is sent when a subscription is unpaused; its payload is *Subscription.
	TypeSubscriptionUnpaused = "subscription.unpaused"
	// TypeSubscriptionUpdatePaymentMethod is sent when a subscription's payment method is updated; its payload is *Subscription.
	TypeSubscriptionUpdatePaymentMethod = "subscription.update_payment_method"
	// TypeSubscriptionUpdated is sent when a subscription is updated; its payload is *Subscription.
	TypeSubscriptionUpdated = "subscription.updated"

	// TypeRefundFailed is sent when a refund fails to process; its payload is *Refund.
	TypeRefundFailed = "refund.failed"
	// TypeRefundSucceeded is sent when a refund is successfully processed; its payload is *Refund.
	TypeRefundSucceeded = "refund.succeeded"

	// TypeDisputeAccepted is sent when a dispute is accepted; its payload is *Dispute.
	TypeDisputeAccepted = "dispute.accepted"
	// TypeDisputeCancelled is sent when a dispute is cancelled; its payload is *Dispute.
	TypeDisputeCancelled = "dispute.cancelled"
	// TypeDisputeChallenged is sent when a dispute is challenged; its payload is *Dispute.
	TypeDisputeChallenged = "dispute.challenged"
	// TypeDisputeExpired is sent when a dispute expires; its payload is *Dispute.
	TypeDisputeExpired = "dispute.expired"
	// TypeDisputeLost is sent when a dispute is lost; its payload is *Dispute.
	TypeDisputeLost = "dispute.lost"
	// TypeDisputeOpened is sent when a dispute is opened; its payload is *Dispute.
	TypeDisputeOpened = "dispute.opened"
	// TypeDisputeWon is sent when a dispute is won; its payload is *Dispute.
	TypeDisputeWon = "dispute.won"

	// TypeLicenseKeyCreated is sent when a license key is created; its payload is *LicenseKey.
	TypeLicenseKeyCreated = "license_key.created"

	// TypePayoutCreated is sent when a payout is created and queued for processing; its payload is *Payout.
	TypePayoutCreated = "payout.created"
	// TypePayoutFailed is sent when a payout attempt fails and the funds are credited back to the wallet; its payload is *Payout.
	TypePayoutFailed = "payout.failed"
	// TypePayoutInProgress is sent when a payout is handed to the banking rails; its payload is *Payout.
	TypePayoutInProgress = "payout.in_progress"
	// TypePayoutOnHold is sent when a payout is put on hold; its payload is *Payout.
	TypePayoutOnHold = "payout.on_hold"
	// TypePayoutSuccess is sent when a payout is paid out to the merchant's account; its payload is *Payout.
	TypePayoutSuccess = "payout.success"

	// TypeCreditAdded is sent when credits are granted to a customer; its payload is *CreditLedgerEntry.
	TypeCreditAdded = "credit.added"
	// TypeCreditDeducted is sent when credits are consumed by a customer; its payload is *CreditLedgerEntry.
	TypeCreditDeducted = "credit.deducted"
	// TypeCreditExpired is sent when credits expire; its payload is *CreditLedgerEntry.
	TypeCreditExpired = "credit.expired"
	// TypeCreditManualAdjustment is sent when a manual credit adjustment is made; its payload is *CreditLedgerEntry.
	TypeCreditManualAdjustment = "credit.manual_adjustment"
	// TypeCreditOverageCharged is sent when overage charges are applied; its payload is *CreditLedgerEntry.
	TypeCreditOverageCharged = "credit.overage_charged"
	// TypeCreditOverageReset is sent when overage is cleared at billing cycle reset; its payload is *CreditLedgerEntry.
	TypeCreditOverageReset = "credit.overage_reset"
	// TypeCreditRolledOver is sent when credits are rolled over to a new grant; its payload is *CreditLedgerEntry.
	TypeCreditRolledOver = "credit.rolled_over"
	// TypeCreditRolloverForfeited is sent when credits are forfeited at rollover limit; its payload is *CreditLedgerEntry.
	TypeCreditRolloverForfeited = "credit.rollover_forfeited"

	// TypeCreditBalanceLow is sent when credit balance drops below threshold; its payload is *CreditBalanceLow.
	TypeCreditBalanceLow = "credit.balance_low"

	// TypeAbandonedCheckoutDetected is sent when an abandoned checkout is detected; its payload is *AbandonedCheckout.
	TypeAbandonedCheckoutDetected = "abandoned_checkout.detected"
	// TypeAbandonedCheckoutRecovered is sent when an abandoned checkout is recovered; its payload is *AbandonedCheckout.
	TypeAbandonedCheckoutRecovered = "abandoned_checkout.recovered"

	// TypeDunningRecovered is sent when a subscription is recovered through dunning; its payload is *DunningAttempt.
	TypeDunningRecovered = "dunning.recovered"
	// TypeDunningStarted is sent when a dunning attempt is started for a subscription; its payload is *DunningAttempt.
	TypeDunningStarted = "dunning.started"

	// TypeEntitlementGrantCreated is sent when an entitlement grant is created for a customer; its payload is *EntitlementGrant.
	TypeEntitlementGrantCreated = "entitlement_grant.created"
	// TypeEntitlementGrantDelivered is sent when an entitlement grant is successfully delivered; its payload is *EntitlementGrant.
	TypeEntitlementGrantDelivered = "entitlement_grant.delivered"
	// TypeEntitlementGrantFailed is sent when an entitlement grant delivery fails; its payload is *EntitlementGrant.
	TypeEntitlementGrantFailed = "entitlement_grant.failed"
	// TypeEntitlementGrantRevoked is sent when an entitlement grant is revoked; its payload is *EntitlementGrant.
	TypeEntitlementGrantRevoked = "entitlement_grant.revoked"
)

// typeInfo describes a known event type.
type typeInfo struct {
	subject string     // SubjectPrefix + type, precomputed for the ingest
	payload func() any // returns a new payload to decode data into
}

// knownTypes lists every event type in the spec, and the drift types
// (DriftTypes). It is a constant-like table: nothing writes to it.
var knownTypes = map[string]typeInfo{
	TypePaymentCancelled:                {SubjectPrefix + TypePaymentCancelled, newOf[Payment]},
	TypePaymentFailed:                   {SubjectPrefix + TypePaymentFailed, newOf[Payment]},
	TypePaymentProcessing:               {SubjectPrefix + TypePaymentProcessing, newOf[Payment]},
	TypePaymentSucceeded:                {SubjectPrefix + TypePaymentSucceeded, newOf[Payment]},
	TypeSubscriptionActive:              {SubjectPrefix + TypeSubscriptionActive, newOf[Subscription]},
	TypeSubscriptionCancelled:           {SubjectPrefix + TypeSubscriptionCancelled, newOf[Subscription]},
	TypeSubscriptionExpired:             {SubjectPrefix + TypeSubscriptionExpired, newOf[Subscription]},
	TypeSubscriptionFailed:              {SubjectPrefix + TypeSubscriptionFailed, newOf[Subscription]},
	TypeSubscriptionOnHold:              {SubjectPrefix + TypeSubscriptionOnHold, newOf[Subscription]},
	TypeSubscriptionPastDue:             {SubjectPrefix + TypeSubscriptionPastDue, newOf[Subscription]},
	TypeSubscriptionPaused:              {SubjectPrefix + TypeSubscriptionPaused, newOf[Subscription]},
	TypeSubscriptionPlanChanged:         {SubjectPrefix + TypeSubscriptionPlanChanged, newOf[Subscription]},
	TypeSubscriptionRenewed:             {SubjectPrefix + TypeSubscriptionRenewed, newOf[Subscription]},
	TypeSubscriptionUnpaused:            {SubjectPrefix + TypeSubscriptionUnpaused, newOf[Subscription]},
	TypeSubscriptionUpdatePaymentMethod: {SubjectPrefix + TypeSubscriptionUpdatePaymentMethod, newOf[Subscription]},
	TypeSubscriptionUpdated:             {SubjectPrefix + TypeSubscriptionUpdated, newOf[Subscription]},
	TypeRefundFailed:                    {SubjectPrefix + TypeRefundFailed, newOf[Refund]},
	TypeRefundSucceeded:                 {SubjectPrefix + TypeRefundSucceeded, newOf[Refund]},
	TypeDisputeAccepted:                 {SubjectPrefix + TypeDisputeAccepted, newOf[Dispute]},
	TypeDisputeCancelled:                {SubjectPrefix + TypeDisputeCancelled, newOf[Dispute]},
	TypeDisputeChallenged:               {SubjectPrefix + TypeDisputeChallenged, newOf[Dispute]},
	TypeDisputeExpired:                  {SubjectPrefix + TypeDisputeExpired, newOf[Dispute]},
	TypeDisputeLost:                     {SubjectPrefix + TypeDisputeLost, newOf[Dispute]},
	TypeDisputeOpened:                   {SubjectPrefix + TypeDisputeOpened, newOf[Dispute]},
	TypeDisputeWon:                      {SubjectPrefix + TypeDisputeWon, newOf[Dispute]},
	TypeLicenseKeyCreated:               {SubjectPrefix + TypeLicenseKeyCreated, newOf[LicenseKey]},
	TypePayoutCreated:                   {SubjectPrefix + TypePayoutCreated, newOf[Payout]},
	TypePayoutFailed:                    {SubjectPrefix + TypePayoutFailed, newOf[Payout]},
	TypePayoutInProgress:                {SubjectPrefix + TypePayoutInProgress, newOf[Payout]},
	TypePayoutOnHold:                    {SubjectPrefix + TypePayoutOnHold, newOf[Payout]},
	TypePayoutSuccess:                   {SubjectPrefix + TypePayoutSuccess, newOf[Payout]},
	TypeCreditAdded:                     {SubjectPrefix + TypeCreditAdded, newOf[CreditLedgerEntry]},
	TypeCreditDeducted:                  {SubjectPrefix + TypeCreditDeducted, newOf[CreditLedgerEntry]},
	TypeCreditExpired:                   {SubjectPrefix + TypeCreditExpired, newOf[CreditLedgerEntry]},
	TypeCreditManualAdjustment:          {SubjectPrefix + TypeCreditManualAdjustment, newOf[CreditLedgerEntry]},
	TypeCreditOverageCharged:            {SubjectPrefix + TypeCreditOverageCharged, newOf[CreditLedgerEntry]},
	TypeCreditOverageReset:              {SubjectPrefix + TypeCreditOverageReset, newOf[CreditLedgerEntry]},
	TypeCreditRolledOver:                {SubjectPrefix + TypeCreditRolledOver, newOf[CreditLedgerEntry]},
	TypeCreditRolloverForfeited:         {SubjectPrefix + TypeCreditRolloverForfeited, newOf[CreditLedgerEntry]},
	TypeCreditBalanceLow:                {SubjectPrefix + TypeCreditBalanceLow, newOf[CreditBalanceLow]},
	TypeAbandonedCheckoutDetected:       {SubjectPrefix + TypeAbandonedCheckoutDetected, newOf[AbandonedCheckout]},
	TypeAbandonedCheckoutRecovered:      {SubjectPrefix + TypeAbandonedCheckoutRecovered, newOf[AbandonedCheckout]},
	TypeDunningRecovered:                {SubjectPrefix + TypeDunningRecovered, newOf[DunningAttempt]},
	TypeDunningStarted:                  {SubjectPrefix + TypeDunningStarted, newOf[DunningAttempt]},
	TypeEntitlementGrantCreated:         {SubjectPrefix + TypeEntitlementGrantCreated, newOf[EntitlementGrant]},
	TypeEntitlementGrantDelivered:       {SubjectPrefix + TypeEntitlementGrantDelivered, newOf[EntitlementGrant]},
	TypeEntitlementGrantFailed:          {SubjectPrefix + TypeEntitlementGrantFailed, newOf[EntitlementGrant]},
	TypeEntitlementGrantRevoked:         {SubjectPrefix + TypeEntitlementGrantRevoked, newOf[EntitlementGrant]},
}

// newOf returns a new *T as a payload to decode into.
func newOf[T any]() any { return new(T) }

// DriftTypes returns the event types Dodo sends that spec v1.113.0 lacks
// (docs/dodo-drift.md), sorted: known types too. The slice is new on every
// call.
func DriftTypes() []string { return []string{TypeSubscriptionPastDue} }

// KnownTypes returns the event types in Dodo's spec and DriftTypes, sorted.
// The slice is new on every call.
func KnownTypes() []string {
	ts := make([]string, 0, len(knownTypes))
	for t := range knownTypes {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// IsKnown reports whether t is an event type in Dodo's spec or a drift
// type, that is, whether Decode gives it a typed payload rather than
// *Unknown.
func IsKnown(t string) bool {
	_, ok := knownTypes[t]
	return ok
}
