package worker

import (
	"context"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

// Confirmer sends one confirmation per business key, exactly once
// (*confirm.Service).
type Confirmer interface {
	Send(ctx context.Context, c confirm.Confirmation) error
}

// OfferSettler tells which offer an event settled (*offering.Engine).
type OfferSettler interface {
	SettledOffer(ctx context.Context, ev events.Event) (*offers.Offer, error)
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
func (w *Worker) WithConfirmations(c Confirmer, names func(productID string) string) *Worker {
	w.confirmer, w.names = c, names
	return w
}

// confirmations returns what to confirm for one webhook: its access
// changes, and the offer it settled.
//
// Left out, so that one business change makes one confirmation: access
// changes caused by an offer's charge (the offer's confirmation covers
// them), those of subscription.plan_changed (a plan change through an
// offer is confirmed as the change, with its amount; Dodo confirms changes
// made in its own portal), and revokes that take no feature away (Basic
// replaced by Pro).
func (w *Worker) confirmations(ctx context.Context, ev events.Event, changes []access.Change, doc access.Doc) ([]confirm.Confirmation, error) {
	contact := contactOf(ev, doc)
	var out []confirm.Confirmation
	for _, c := range changes {
		if c.OfferID != "" || c.EventType == events.TypeSubscriptionPlanChanged || (c.Kind() == access.ChangeRevoked && len(c.Features) == 0) {
			continue
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
	settler, ok := w.offers.(OfferSettler)
	if w.offers == nil || !ok {
		return out, nil
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

func (w *Worker) confirmation(c confirm.Confirmation, contact access.Contact) confirm.Confirmation {
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
	var cust events.Customer
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
