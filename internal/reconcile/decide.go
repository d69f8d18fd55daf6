package reconcile

import (
	"fmt"
	"slices"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

// The pure half of reconcile: what event an object implies, when it
// happened, and whether offerflow's state already shows it. No I/O.

// Reasons an object was processed, fed or skipped (Item.Reason).
const (
	// Processed: the customer's access document has the object's source
	// in the state the object implies.
	ReasonAccess = "access"
	// Processed: a charge of a subscription that offerflow tracks; its
	// effect on access is the subscription's, reconciled on its own.
	ReasonCovered = "covered"
	// Processed: the offer the payment names has settled as the payment
	// says (charged, or failed).
	ReasonOffer = "offer"

	// Fed: offerflow has no trace of the object.
	ReasonMissing = "missing"
	// Fed: offerflow has the object's source in an older, different state.
	ReasonDiffers = "differs"
	// Fed: nothing offerflow stores can show whether the event was
	// handled (a failed one-time payment, say); feeding is idempotent.
	ReasonNoEvidence = "no_evidence"

	// Skipped: a payment still processing or waiting for the customer, a
	// subscription still pending: no final webhook exists yet.
	ReasonNotFinal = "not_final"
	// Skipped: the object names no customer.
	ReasonNoCustomer = "no_customer"
	// Skipped: a fully refunded payment offerflow never granted; granting
	// it now would be wrong, and revoking it changes nothing.
	ReasonRefunded = "refunded"
	// Skipped, needs a person: offerflow grants a payment Dodo has fully
	// refunded. The refund.succeeded webhook was missed; reconcile does
	// not build refunds, so redeliver it from Dodo's dashboard.
	ReasonRefundNotProcessed = "refund_not_processed"
	// Skipped, needs a person if it persists: offerflow recorded an event
	// for the object during this run, newer than what reconcile saw. The
	// next run decides again.
	ReasonConflict = "conflict"

	// Failed: reading, building or publishing went wrong (Item.Detail).
	ReasonError = "error"
)

// How a fed event's time was chosen (Item.Stamp).
const (
	// StampObject: the object's own latest date (see paymentTime and
	// subscriptionTime). Deterministic, so re-runs feed the same message.
	StampObject = "object"
	// StampObserved: the time this run started. Used when offerflow holds
	// an event of the object at or after the object's latest date with a
	// different state, which an event at the object's date would not
	// overturn. Dodo's answer, read after that time, is the newer truth.
	StampObserved = "observed"
)

// paymentEventType is the webhook a payment in status has sent: its final
// statuses only. A payment that is processing or waits for the customer
// (requires_*) will send its final webhook later.
func paymentEventType(status string) (string, bool) {
	switch status {
	case "succeeded":
		return events.TypePaymentSucceeded, true
	case "failed":
		return events.TypePaymentFailed, true
	case "cancelled":
		return events.TypePaymentCancelled, true
	}
	return "", false
}

// subscriptionEventType is the webhook that moved a subscription into
// status. A pending subscription has sent none.
func subscriptionEventType(status string) (string, bool) {
	switch status {
	case wire.SubscriptionActive:
		return events.TypeSubscriptionActive, true
	case wire.SubscriptionOnHold:
		return events.TypeSubscriptionOnHold, true
	case wire.SubscriptionPastDue:
		return events.TypeSubscriptionPastDue, true
	case wire.SubscriptionPaused:
		return events.TypeSubscriptionPaused, true
	case wire.SubscriptionCancelled:
		return events.TypeSubscriptionCancelled, true
	case wire.SubscriptionExpired:
		return events.TypeSubscriptionExpired, true
	case wire.SubscriptionFailed:
		return events.TypeSubscriptionFailed, true
	}
	return "", false
}

// paymentTime is a payment's event time: updated_at, when Dodo last changed
// it (its final status, for a payment in one), else created_at.
func paymentTime(p wire.Payment) time.Time {
	if p.UpdatedAt != nil && p.UpdatedAt.After(p.CreatedAt) {
		return p.UpdatedAt.UTC()
	}
	return p.CreatedAt.UTC()
}

// subscriptionTime is a subscription's event time: the latest moment, not
// after now, at which Dodo's object shows a change. Those are created_at,
// previous_billing_date (a period started: a renewal, a plan change that
// resets the cycle), cancelled_at, paused_at, expires_at, and the creation
// of each of its charges (renewals, plan changes, failed renewals that put
// it on hold, the charge that recovers it). Dodo's subscription has no
// updated_at, so this is a lower bound of when it reached its status: a
// time at or after the real change (up to now) would do, a time before it
// could let an older webhook of another state, delivered late, win over
// the fed one. next_billing_date is left out: for a live subscription it
// is in the future.
func subscriptionTime(s wire.Subscription, charges []time.Time, now time.Time) time.Time {
	t := s.CreatedAt
	consider := func(x time.Time) {
		if !x.After(now) && x.After(t) {
			t = x
		}
	}
	consider(s.PreviousBillingDate)
	for _, p := range []*time.Time{s.CancelledAt, s.PausedAt, s.ExpiresAt} {
		if p != nil {
			consider(*p)
		}
	}
	for _, c := range charges {
		consider(c)
	}
	return t.UTC()
}

// touched reports whether any date of s falls in [since, until]: the test
// for subscriptions listed by status, which Dodo cannot filter by when they
// changed. next_billing_date counts here (unlike in subscriptionTime): a
// scheduled cancellation or a failed renewal happens on it.
func touched(s wire.Subscription, since, until time.Time) bool {
	in := func(t time.Time) bool { return !t.Before(since) && !t.After(until) }
	for _, t := range []time.Time{s.CreatedAt, s.PreviousBillingDate, s.NextBillingDate} {
		if in(t) {
			return true
		}
	}
	for _, p := range []*time.Time{s.CancelledAt, s.PausedAt, s.ExpiresAt} {
		if p != nil && in(*p) {
			return true
		}
	}
	return false
}

// verdict is what offerflow's state says about one object.
type verdict struct {
	action Action // ActionProcessed, ActionSkipped, or ActionFed: feed it
	reason string
	detail string
}

func feed(reason, format string, args ...any) verdict {
	return verdict{action: ActionFed, reason: reason, detail: fmt.Sprintf(format, args...)}
}

func skip(reason, format string, args ...any) verdict {
	return verdict{action: ActionSkipped, reason: reason, detail: fmt.Sprintf(format, args...)}
}

func sourceKey(kind, id string) string { return kind + ":" + id }

// offerID is the offer a payment's metadata names (under the key the
// worker's offer engine reads, access.MetadataOfferID), or "".
func offerID(p wire.Payment) string {
	id, _ := p.Metadata.Text(access.MetadataOfferID)
	return id
}

// offerSettled reports whether offer o already shows payment paymentID's
// event: charged for a payment.succeeded; failed, or charged (a failed
// charge converts later), for payment.failed and payment.cancelled. An
// offer naming another payment shows nothing about this one.
func offerSettled(o offers.Offer, paymentID, eventType string) bool {
	if o.PaymentID != "" && o.PaymentID != paymentID {
		return false
	}
	if eventType == events.TypePaymentSucceeded {
		return o.State == offers.Charged
	}
	return o.State == offers.Failed || o.State == offers.Charged
}

// judgePayment decides whether payment p's event eventType shows in
// offerflow's state: doc is the customer's access document, offer the
// offer p names (nil when it names none, the store does not know it, or no
// store was given).
//
// The evidence, by kind of payment:
//   - a one-time payment.succeeded grants its products: its source
//     payment:<id> in the document (in any state: a refund revokes it
//     later, never earlier) proves it was handled. A fully refunded one is
//     never fed (see ReasonRefunded, ReasonRefundNotProcessed).
//   - a charge of a subscription grants nothing itself: if offerflow
//     tracks the subscription (subscription:<id> in the document; each of
//     them, for a payment that starts several), its access is the
//     subscription's, which reconcile checks on its own.
//   - a payment naming an offer: the offer must have settled as the
//     payment says (offerSettled); this alone decides for a charge of a
//     subscription (a plan change offer).
//   - anything else (a failed or cancelled one-time payment without an
//     offer) leaves no trace in offerflow: it is fed, which is harmless.
func judgePayment(p wire.Payment, eventType string, doc access.Doc, offer *offers.Offer) verdict {
	oid := offerID(p)
	subs := p.Subscriptions()
	var evidence []string
	switch {
	case len(subs) == 0 && eventType == events.TypePaymentSucceeded:
		src, has := doc.Sources[sourceKey(access.KindPayment, p.PaymentID)]
		refunded := p.RefundStatus != nil && *p.RefundStatus == "full"
		switch {
		case refunded && !has:
			return skip(ReasonRefunded, "fully refunded, and offerflow never granted it")
		case refunded && src.State != access.Revoked:
			return skip(ReasonRefundNotProcessed, "fully refunded, but offerflow still grants it (%s): its refund.succeeded webhook was missed; redeliver it from Dodo's dashboard", src.State)
		case !has:
			return feed(ReasonMissing, "offerflow has no source %s", sourceKey(access.KindPayment, p.PaymentID))
		}
		evidence = append(evidence, ReasonAccess)
	case len(subs) > 0 && oid == "":
		for _, subID := range subs {
			if _, has := doc.Sources[sourceKey(access.KindSubscription, subID)]; !has {
				return feed(ReasonNoEvidence, "a charge of subscription %s, which offerflow does not track", subID)
			}
		}
		evidence = append(evidence, ReasonCovered)
	}
	if oid != "" {
		switch {
		case offer == nil:
			return feed(ReasonNoEvidence, "offer %s: not in the offer store (or none was given)", oid)
		case !offerSettled(*offer, p.PaymentID, eventType):
			return feed(ReasonDiffers, "offer %s is %s", oid, offer.State)
		}
		evidence = append(evidence, ReasonOffer)
	}
	if len(evidence) == 0 {
		return feed(ReasonNoEvidence, "nothing offerflow stores records a %s of a one-time payment", eventType)
	}
	return verdict{action: ActionProcessed, reason: evidence[0], detail: fmt.Sprint(evidence)}
}

// subscriptionUpdate is the access update the worker makes of a
// subscription event: access.FromEvent on the fields it reads.
func subscriptionUpdate(webhookID, eventType string, at time.Time, s wire.Subscription) (access.Update, bool) {
	return access.FromEvent(webhookID, events.Event{Type: eventType, Timestamp: at, Payload: &events.Subscription{
		SubscriptionID: s.SubscriptionID, Status: s.Status, ProductID: s.ProductID,
		Customer: wire.CustomerLimitedDetails{CustomerID: s.Customer.CustomerID},
	}})
}

// judgeSubscription decides whether subscription s shows in doc, and which
// event would feed it: the status's event, or subscription.plan_changed
// for an active subscription that offerflow has active on another product.
// Processed means the source subscription:<id> has the state and the
// product the subscription implies, whenever it got them.
func judgeSubscription(s wire.Subscription, doc access.Doc) (string, verdict) {
	typ, ok := subscriptionEventType(s.Status)
	if !ok {
		return "", skip(ReasonNotFinal, "status %s", s.Status)
	}
	if s.Customer.CustomerID == "" {
		return typ, skip(ReasonNoCustomer, "no customer id")
	}
	u, ok := subscriptionUpdate("", typ, time.Time{}, s)
	if !ok {
		return typ, skip(ReasonNoCustomer, "no access update for %s", typ)
	}
	key := sourceKey(access.KindSubscription, s.SubscriptionID)
	src, has := doc.Sources[key]
	switch {
	case !has:
		return typ, feed(ReasonMissing, "offerflow has no source %s", key)
	case src.State == u.State && slices.Equal(src.Products, u.Products):
		return typ, verdict{action: ActionProcessed, reason: ReasonAccess, detail: fmt.Sprintf("%s %s since %s", key, src.State, src.EventType)}
	case typ == events.TypeSubscriptionActive && src.State == access.Active:
		typ = events.TypeSubscriptionPlanChanged
	}
	return typ, feed(ReasonDiffers, "offerflow has %s %s %v (%s at %s)", key, src.State, src.Products, src.EventType, src.EventAt.Format(time.RFC3339Nano))
}

// placement says how to stamp the update u (made with the object's own
// time) so that the worker applies it: StampObject if access.Apply would
// apply it to doc as it is; StampObserved if doc's event for the source is
// older than observedAt, the start of this run, so an update stamped then
// wins; "" (a conflict) if doc's event is from this run or later, when
// Dodo's answer may already be stale.
func placement(doc access.Doc, u access.Update, observedAt time.Time) string {
	if _, _, dirty := access.Apply(doc, u, nil, observedAt, nil); dirty {
		return StampObject
	}
	if src, ok := doc.Sources[sourceKey(u.Kind, u.ID)]; !ok || src.EventAt.Before(observedAt) {
		return StampObserved
	}
	return ""
}
