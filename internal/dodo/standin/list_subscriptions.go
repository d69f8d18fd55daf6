package standin

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// subscriptionListItem renders sub as an item of GET /subscriptions. The
// caller holds s.mu.
func (s *Server) subscriptionListItem(sub *subRec) wire.SubscriptionListItem {
	p := s.products[sub.ProductID]
	full := s.subscription(sub, p, sub.Quantity)
	return wire.SubscriptionListItem{
		SubscriptionID: full.SubscriptionID, Status: full.Status, ProductID: full.ProductID, ProductName: optional(p.Name),
		Quantity: full.Quantity, Customer: full.Customer, Currency: full.Currency,
		RecurringPreTaxAmount: full.RecurringPreTaxAmount, TaxInclusive: full.TaxInclusive,
		PaymentFrequencyCount: full.PaymentFrequencyCount, PaymentFrequencyInterval: full.PaymentFrequencyInterval,
		SubscriptionPeriodCount: full.SubscriptionPeriodCount, SubscriptionPeriodInterval: full.SubscriptionPeriodInterval,
		PreviousBillingDate: full.PreviousBillingDate, NextBillingDate: full.NextBillingDate, CreatedAt: full.CreatedAt,
		TrialPeriodDays: full.TrialPeriodDays, TrialAmount: full.TrialAmount, OnDemand: full.OnDemand,
		CancelAtNextBillingDate: full.CancelAtNextBillingDate, CancelledAt: full.CancelledAt, PausedAt: full.PausedAt,
		ScheduledChange: full.ScheduledChange, PaymentMethodID: full.PaymentMethodID, Billing: full.Billing,
		// Discounts is required (and not nullable) in the list item, unlike
		// in SubscriptionResponse.
		Metadata: full.Metadata, Discounts: []wire.DiscountListItem{},
		HasPaymentMethod: full.HasPaymentMethod,
	}
}

// subscriptionFilter is the query of GET /subscriptions.
type subscriptionFilter struct {
	customerID, status, productID, brandID string
	cancelAtNextBillingDate                *bool
	gte, lte                               *time.Time
	pageSize, pageNumber                   int
}

func (s *Server) parseSubscriptionFilter(r *http.Request) (subscriptionFilter, error) {
	q := r.URL.Query()
	// The dates and the paging are parsed as GET /payments parses them
	// (the spec gives both endpoints the same parameters).
	f := subscriptionFilter{
		customerID: q.Get("customer_id"), status: q.Get("status"), productID: q.Get("product_id"), brandID: q.Get("brand_id"),
	}
	var err error
	if f.gte, f.lte, f.pageSize, f.pageNumber, err = parseListQuery(q); err != nil {
		return f, err
	}
	if f.status != "" && !slices.Contains(statuses, f.status) {
		return f, invalidf("status %q: want one of %v", f.status, statuses)
	}
	if v := q.Get("cancel_at_next_billing_date"); v != "" {
		// The spec's boolean: true or false, nothing looser.
		if v != "true" && v != "false" {
			return f, invalidf("cancel_at_next_billing_date %q: want true or false", v)
		}
		b, _ := strconv.ParseBool(v)
		f.cancelAtNextBillingDate = &b
	}
	return f, nil
}

// match reports whether sub passes the filter. brandID is the stand-in's
// only brand (its business id). The caller holds s.mu.
func (f subscriptionFilter) match(sub *subRec, brandID string) bool {
	switch {
	case f.customerID != "" && sub.CustomerID != f.customerID,
		f.status != "" && sub.Status != f.status,
		f.productID != "" && sub.ProductID != f.productID,
		f.brandID != "" && f.brandID != brandID,
		f.cancelAtNextBillingDate != nil && sub.CancelAtNextBillingDate != *f.cancelAtNextBillingDate,
		f.gte != nil && sub.CreatedAt.Before(*f.gte),
		f.lte != nil && sub.CreatedAt.After(*f.lte):
		return false
	}
	return true
}

// listSubscriptions is GET /subscriptions: the subscriptions that match the
// query, newest first, a page at a time (judgement: as for payments, Dodo
// does not document the order). Like Dodo's, the date filters are on
// created_at: nothing filters on when a subscription last changed.
func (s *Server) listSubscriptions(r *http.Request) (any, error) {
	f, err := s.parseSubscriptionFilter(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*subRec
	for _, sub := range s.subs {
		if f.match(sub, s.cfg.BusinessID) {
			matched = append(matched, sub)
		}
	}
	// Newest first; generated ids grow with time, so the id breaks ties in
	// creation order too.
	slices.SortFunc(matched, func(a, b *subRec) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	out := wire.List[wire.SubscriptionListItem]{Items: []wire.SubscriptionListItem{}}
	from := min(f.pageNumber*f.pageSize, len(matched))
	for _, sub := range matched[from:min(from+f.pageSize, len(matched))] {
		out.Items = append(out.Items, s.subscriptionListItem(sub))
	}
	return out, nil
}
