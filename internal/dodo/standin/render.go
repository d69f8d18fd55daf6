package standin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// The stand-in renders its records as Dodo's wire types (internal/dodo/wire),
// the same Go types offerflow's client and webhook decoder read, with every
// field the spec lists written out, null included, as Dodo sends them.
// What the spec requires and a zero Go value would not give (a metadata
// object, empty arrays rather than null) is filled in here. PayloadType is
// set only in webhooks (data.payload_type); API answers leave it out. The
// caller of each builder holds s.mu.

func ptr[T any](v T) *T { return &v }

// optional returns nil for "", so empty strings go out as null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// metadataOf decodes metadata the stand-in accepted (parseMetadata checked
// it is an object of values), so it cannot fail; an empty object stands in
// for the impossible.
func metadataOf(raw json.RawMessage) wire.Metadata {
	m := wire.Metadata{}
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return wire.Metadata{}
	}
	return m
}

func (s *Server) customerLimited(id string) wire.CustomerLimitedDetails {
	c := s.customers[id]
	return wire.CustomerLimitedDetails{CustomerID: c.ID, Email: c.Email, Name: c.Name, PhoneNumber: optional(c.Phone), Metadata: metadataOf(c.metadata)}
}

func (s *Server) customer(c *customerRec) wire.Customer {
	return wire.Customer{
		CustomerID: c.ID, BusinessID: s.cfg.BusinessID, Email: c.Email, Name: c.Name,
		PhoneNumber: optional(c.Phone), Metadata: metadataOf(c.metadata), CreatedAt: c.CreatedAt,
	}
}

func paymentMethod(c *Card) wire.CustomerPaymentMethod {
	out := wire.CustomerPaymentMethod{
		PaymentMethodID: c.ID,
		PaymentMethod:   "card",
		Card: &wire.CardSummary{
			CardHolderName:     optional(c.HolderName),
			CardIssuingCountry: optional(c.IssuingCountry),
			CardNetwork:        optional(c.Network),
			CardType:           optional(c.Type),
			// Judgement: the spec gives the expiry as strings without an
			// example; two-digit month and four-digit year.
			ExpiryMonth: ptr(twoDigits(c.ExpMonth)),
			ExpiryYear:  ptr(itoa(c.ExpYear)),
			Last4Digits: ptr(last4(c.Number)),
		},
		RecurringEnabled: c.RecurringEnabled,
	}
	// payment_method_type is one of the spec's PaymentMethodTypes, which
	// has "credit" and "debit".
	if t := strings.ToLower(c.Type); t == "credit" || t == "debit" {
		out.PaymentMethodType = &t
	}
	if !c.LastUsedAt.IsZero() {
		out.LastUsedAt = ptr(c.LastUsedAt.UTC())
	}
	return out
}

func (s *Server) product(p *Product) wire.Product {
	price := wire.Price{Type: wire.PriceOneTime, Price: ptr(p.Price), Currency: p.Currency, TaxInclusive: ptr(false)}
	if p.Recurring {
		price.Type = wire.PriceRecurring
		price.PaymentFrequencyCount, price.PaymentFrequencyInterval = ptr(p.IntervalCount), ptr(p.Interval)
		price.SubscriptionPeriodCount, price.SubscriptionPeriodInterval = ptr(p.PeriodCount), ptr(p.PeriodInterval)
		price.TrialPeriodDays = ptr(0)
	}
	return wire.Product{
		ProductID: p.ID, BusinessID: s.cfg.BusinessID, BrandID: s.cfg.BusinessID,
		Name: optional(p.Name), Description: optional(p.Description), IsRecurring: p.Recurring,
		Price: price, TaxCategory: p.TaxCategory, Metadata: wire.Metadata{},
		CreditEntitlements: []json.RawMessage{}, Entitlements: []json.RawMessage{},
		CreatedAt: p.CreatedAt, UpdatedAt: p.CreatedAt,
	}
}

func (s *Server) payment(p *payRec) wire.Payment {
	out := wire.Payment{
		PaymentID: p.ID, Status: ptr(p.Status), BusinessID: s.cfg.BusinessID, BrandID: s.cfg.BusinessID,
		PaymentProvider: "dodo", CheckoutSessionID: optional(p.CheckoutSessionID), SubscriptionID: optional(p.SubscriptionID),
		Customer: s.customerLimited(p.CustomerID), TotalAmount: p.TotalAmount, Currency: p.Currency,
		SettlementAmount: p.TotalAmount, SettlementCurrency: p.Currency, Billing: p.billing,
		PaymentMethod: ptr("card"), PaymentMethodID: optional(p.PaymentMethodID),
		ErrorCode: optional(p.ErrorCode), ErrorMessage: optional(p.ErrorMessage), Metadata: metadataOf(p.metadataRaw),
		Disputes: []wire.DisputeSummary{}, Refunds: []wire.RefundSummary{}, CreatedAt: p.CreatedAt, UpdatedAt: ptr(p.updatedAt),
		RetryAttempt:        p.retryAttempt,
		IsMultiSubscription: ptr(false), SubscriptionIDs: subscriptionIDs(p.SubscriptionID),
	}
	if p.ProductCart != nil {
		out.ProductCart = []wire.ProductCartItem{}
		for _, it := range p.ProductCart {
			out.ProductCart = append(out.ProductCart, wire.ProductCartItem(it))
		}
	}
	if c := p.card; c != nil {
		out.CardLastFour, out.CardNetwork, out.CardType = ptr(last4(c.Number)), optional(c.Network), optional(c.Type)
		out.CardIssuingCountry, out.CardHolderName = optional(c.IssuingCountry), optional(c.HolderName)
	}
	if p.Status == PaymentSucceeded {
		inv := "inv_" + strings.TrimPrefix(p.ID, "pay_")
		out.InvoiceID, out.InvoiceURL = &inv, ptr(testHost+"/invoices/payments/"+p.ID)
	}
	for _, r := range p.refunds {
		out.Refunds = append(out.Refunds, wire.RefundSummary{
			RefundID: r.id, PaymentID: p.ID, BusinessID: s.cfg.BusinessID, Status: "succeeded", IsPartial: r.partial,
			Amount: ptr(r.amount), Currency: ptr(p.Currency), Reason: optional(r.reason), CreatedAt: r.createdAt,
		})
	}
	out.RefundStatus = p.refundStatus()
	if d := p.discount; d != nil {
		out.Discounts, out.DiscountID = []wire.Discount{d.wire(s.cfg.BusinessID)}, &d.ID
	}
	return out
}

// refundStatus is the payment's refund_status: null before any refund,
// "full" once the refunds add up to the total, "partial" before.
func (p *payRec) refundStatus() *string {
	if len(p.refunds) == 0 {
		return nil
	}
	if p.refunded() >= p.TotalAmount {
		return ptr("full")
	}
	return ptr("partial")
}

// refunded is the sum of the payment's refunds.
func (p *payRec) refunded() int64 {
	var n int64
	for _, r := range p.refunds {
		n += r.amount
	}
	return n
}

func (s *Server) refund(r *refundRec) wire.Refund {
	p := r.payment
	return wire.Refund{
		RefundID: r.id, PaymentID: p.ID, BusinessID: s.cfg.BusinessID, BrandID: s.cfg.BusinessID, Status: "succeeded",
		IsPartial: r.partial, Amount: ptr(r.amount), Currency: ptr(p.Currency), Reason: optional(r.reason),
		Customer: s.customerLimited(p.CustomerID), Metadata: metadataOf(r.metadata), CreatedAt: r.createdAt,
	}
}

func (s *Server) paymentListItem(p *payRec) wire.PaymentListItem {
	full := s.payment(p)
	return wire.PaymentListItem{
		PaymentID: full.PaymentID, Status: full.Status, BrandID: full.BrandID, PaymentProvider: full.PaymentProvider,
		SubscriptionID: full.SubscriptionID, Customer: full.Customer, TotalAmount: full.TotalAmount, Currency: full.Currency,
		PaymentMethod: full.PaymentMethod, PaymentMethodType: full.PaymentMethodType,
		CardLastFour: full.CardLastFour, CardNetwork: full.CardNetwork, Metadata: full.Metadata,
		InvoiceID: full.InvoiceID, InvoiceURL: full.InvoiceURL, RefundStatus: full.RefundStatus, CreatedAt: full.CreatedAt,
		IsMultiSubscription: full.IsMultiSubscription, SubscriptionIDs: full.SubscriptionIDs,
	}
}

// subscriptionIDs is a payment's subscription_ids: its one subscription,
// or none. The stand-in makes no multi-subscription payments (carts of
// several subscription products), so is_multi_subscription is false.
func subscriptionIDs(id string) []string {
	if id == "" {
		return []string{}
	}
	return []string{id}
}

// subscription renders sub as it is, or as it would be on product p with
// quantity qty (a preview's new_plan) when p is not sub's product.
func (s *Server) subscription(sub *subRec, p *Product, qty int) wire.Subscription {
	out := wire.Subscription{
		SubscriptionID: sub.ID, Status: sub.Status, ProductID: p.ID, Quantity: qty,
		Addons: []wire.AddonCartItem{}, BrandID: s.cfg.BusinessID, Customer: s.customerLimited(sub.CustomerID),
		Currency: p.Currency, RecurringPreTaxAmount: p.Price * int64(qty),
		PaymentFrequencyCount: p.IntervalCount, PaymentFrequencyInterval: p.Interval,
		SubscriptionPeriodCount: p.PeriodCount, SubscriptionPeriodInterval: p.PeriodInterval,
		PreviousBillingDate: sub.PeriodStart, NextBillingDate: sub.PeriodEnd, CreatedAt: sub.CreatedAt,
		CancelAtNextBillingDate: sub.CancelAtNextBillingDate, PaymentMethodID: optional(sub.PaymentMethodID),
		Billing:  s.subBilling(sub),
		Metadata: metadataOf(sub.metadata), Meters: []wire.Meter{}, CreditEntitlementCart: []wire.CreditEntitlementCartItem{},
		MeterCreditEntitlementCart: []wire.MeterCreditEntitlementItem{},
		CancelledAt:                sub.cancelledAt, PausedAt: sub.pausedAt, TrialPeriodDays: sub.trialDays,
		CancellationFeedback: sub.cancelFeedback, CancellationComment: sub.cancelComment,
		HasPaymentMethod: ptr(s.hasCard(sub)), PastDueEndsAt: sub.pastDueEndsAt,
	}
	if c := sub.ScheduledChange; c != nil {
		np := s.products[c.ProductID]
		out.ScheduledChange = &wire.ScheduledPlanChange{
			ID: c.ID, ProductID: c.ProductID, ProductName: optional(np.Name), ProductDescription: optional(np.Description),
			Quantity: c.Quantity, Addons: []wire.ScheduledAddon{}, EffectiveAt: c.EffectiveAt, CreatedAt: c.CreatedAt,
		}
	}
	return out
}

// testHost is where the stand-in pretends to live, for the URLs it hands out.
const testHost = "https://test.dodopayments.com"

func last4(number string) string { return number[len(number)-4:] }

func itoa(n int) string { return strconv.Itoa(n) }

func twoDigits(n int) string { return fmt.Sprintf("%02d", n) }
