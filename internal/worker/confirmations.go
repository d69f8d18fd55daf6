package worker

import (
	"context"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

// Confirmer sends one confirmation per business key, exactly once
// (*confirm.Service).
type Confirmer interface {
	Send(ctx context.Context, c confirm.Confirmation) error
}

// OfferSettler tells which offer an event settled, and which offer made a
// plan change (*offerengine.Engine).
type OfferSettler interface {
	SettledOffer(ctx context.Context, ev events.Event) (*offers.Offer, error)
	PlanChangeOffer(ctx context.Context, customerID, subscriptionID, productID string, at time.Time) (*offers.Offer, error)
}

// WithConfirmations makes the worker confirm each business change of a
// webhook to the customer: access granted or revoked, an offer bought, a
// plan changed, a one-click charge failed. names gives a product's name
// (the catalog's), or "" when unknown. Call it before the worker handles
// anything.
//
// The confirmations are part of the webhook's handling, before its ledger
// commit: a failed send (an SMTP outage) fails the webhook, which is
// redelivered with backoff and in the end dead-lettered, and a redrive
// sends what was not sent. Each confirmation's own business key (the
// access change's id, offer.<id>.<state>) makes a repeat send nothing.
// Kinds in off are not sent (the operator's choice).
func (w *Worker) WithConfirmations(c Confirmer, off []confirm.Kind, names func(productID string) string) *Worker {
	w.confirmer, w.names = c, names
	w.confirmOff = map[confirm.Kind]bool{}
	for _, k := range off {
		w.confirmOff[k] = true
	}
	return w
}

// confirmations returns what to confirm for one webhook: its access
// changes, and the offer it settled.
//
// One business change makes one confirmation, whichever of its webhooks
// comes first (Dodo's order is not guaranteed, and access moves on the
// first of them):
//   - the access an offer's one-click charge grants is covered by the
//     offer's own confirmation;
//   - a subscription moving from one product to another (a grant and a
//     revoke of the same subscription in one webhook) is one plan change:
//     covered by the offer's confirmation when an offer made it, else one
//     plan_changed confirmation of its own;
//   - any other grant is one access_granted, any other revoke that takes
//     a feature away one access_revoked.
func (w *Worker) confirmations(ctx context.Context, ev events.Event, changes []access.Change, doc access.Doc) ([]confirm.Confirmation, error) {
	contact := contactOf(ev, doc)
	settler, _ := w.offers.(OfferSettler)
	out, err := w.accessConfirmations(ctx, changes, settler, contact)
	if err != nil || settler == nil {
		return out, err
	}
	o, err := settler.SettledOffer(ctx, ev)
	if err != nil || o == nil {
		return out, err
	}
	c := confirm.Confirmation{
		CustomerID: o.CustomerID, ProductID: o.ProductID, ProductName: o.ProductName,
		Currency: o.Amounts.Currency, Amount: o.Amounts.DueNow, OfferID: o.ID, PaymentID: o.PaymentID,
		SubscriptionID: o.SubscriptionID, Features: o.Gains, At: o.History[len(o.History)-1].At,
	}
	switch {
	case o.State == offers.Failed:
		if o.Fallback.CheckoutURL == "" {
			// A plan change whose payment failed keeps the old plan
			// (prevent_change); Dodo tells the customer about the card.
			return out, nil
		}
		c.ID, c.Kind = "offer."+o.ID+".failed", confirm.ChargeFailed
		c.CheckoutURL, c.UpdatePaymentMethod = o.Fallback.CheckoutURL, o.Fallback.UpdatePaymentMethod
	case !o.ChangePlan:
		c.ID, c.Kind = "offer."+o.ID+".charged", confirm.OfferPurchased
	case o.Amounts.PriceDifference >= 0:
		c.ID, c.Kind = "offer."+o.ID+".charged", confirm.PlanUpgraded
		c.FromProductName = w.name(o.FromProductID)
	default:
		c.ID, c.Kind = "offer."+o.ID+".charged", confirm.PlanDowngraded
		c.FromProductName = w.name(o.FromProductID)
		c.Credit, c.Features = o.Amounts.CreditKept, o.Loses
	}
	return append(out, w.confirmation(c, contact)), nil
}

// accessConfirmations confirms one webhook's access changes (see
// confirmations).
func (w *Worker) accessConfirmations(ctx context.Context, changes []access.Change, settler OfferSettler, contact access.Contact) ([]confirm.Confirmation, error) {
	// A subscription that gained one product and lost another in this
	// webhook changed plan.
	type planChange struct{ to, from *access.Change }
	plans := map[string]*planChange{}
	for i := range changes {
		c := &changes[i]
		if c.Source.Kind != access.KindSubscription {
			continue
		}
		pc := plans[c.Source.ID]
		if pc == nil {
			pc = &planChange{}
			plans[c.Source.ID] = pc
		}
		if c.Kind() == access.ChangeGranted {
			pc.to = c
		} else {
			pc.from = c
		}
	}
	var out []confirm.Confirmation
	for _, c := range changes {
		if c.OfferID != "" {
			continue // an offer's one-click charge: the offer's confirmation covers it
		}
		if pc := plans[c.Source.ID]; c.Source.Kind == access.KindSubscription && pc.to != nil && pc.from != nil {
			if c.Kind() == access.ChangeRevoked {
				continue // confirmed with its grant, as one plan change
			}
			pcc, err := w.planConfirmation(ctx, *pc.to, *pc.from, settler)
			if err != nil {
				return nil, err
			}
			if pcc != nil {
				out = append(out, w.confirmation(*pcc, contact))
			}
			continue
		}
		if c.Kind() == access.ChangeRevoked && len(c.Features) == 0 {
			continue // nothing the customer can no longer use
		}
		kind := confirm.AccessGranted
		if c.Kind() == access.ChangeRevoked {
			kind = confirm.AccessRevoked
		}
		out = append(out, w.confirmation(confirm.Confirmation{
			ID: c.ID, Kind: kind, CustomerID: c.CustomerID, ProductID: c.ProductID,
			Features: c.Features, At: c.EventAt,
		}, contact))
	}
	return out, nil
}

// planConfirmation is the one confirmation of a subscription's move from
// one product to another, or nil when an offer made the change (its own
// confirmation covers it; an offer whose outcome is not recorded yet is a
// transient error, retried).
func (w *Worker) planConfirmation(ctx context.Context, to, from access.Change, settler OfferSettler) (*confirm.Confirmation, error) {
	if settler != nil {
		o, err := settler.PlanChangeOffer(ctx, to.CustomerID, to.Source.ID, to.ProductID, to.EventAt)
		if err != nil || o != nil {
			return nil, err
		}
	}
	return &confirm.Confirmation{
		// The access change that made the move is unique to this
		// webhook, and no other webhook of the same change makes it.
		ID:         "plan." + to.WebhookID + "." + to.Source.ID,
		Kind:       confirm.PlanChanged,
		CustomerID: to.CustomerID, ProductID: to.ProductID, FromProductName: w.name(from.ProductID),
		SubscriptionID: to.Source.ID, Features: to.Features, LostFeatures: from.Features, At: to.EventAt,
	}, nil
}

func (w *Worker) confirmation(c confirm.Confirmation, contact access.Contact) confirm.Confirmation {
	c.ID = confirm.BoundedID(c.ID)
	c.Email, c.Name, c.Language = contact.Email, contact.Name, contact.Language
	if c.ProductName == "" {
		c.ProductName = w.name(c.ProductID)
	}
	return c
}

func (w *Worker) name(productID string) string {
	if w.names != nil {
		if n := w.names(productID); n != "" {
			return n
		}
	}
	return productID
}

// contactOf is the customer's contact: the event's, else what the access
// document remembers.
func contactOf(ev events.Event, doc access.Doc) access.Contact {
	c := doc.Contact
	var cust wire.CustomerLimitedDetails
	switch p := ev.Payload.(type) {
	case *events.Payment:
		cust = p.Customer
	case *events.Subscription:
		cust = p.Customer
	default:
		return c
	}
	if cust.Email != "" {
		c.Email, c.Name = cust.Email, cust.Name
	}
	return c
}
