package standin

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

func (s *Server) getCustomer(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return nil, notFoundf("customer %s not found", r.PathValue("customer_id"))
	}
	return s.customer(c), nil
}

// listPaymentMethods lists every saved card, the expired and the
// non-recurring ones too: choosing one is the caller's job.
func (s *Server) listPaymentMethods(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return nil, notFoundf("customer %s not found", r.PathValue("customer_id"))
	}
	out := wire.List[wire.CustomerPaymentMethod]{Items: []wire.CustomerPaymentMethod{}}
	for _, card := range c.cards {
		out.Items = append(out.Items, paymentMethod(card))
	}
	return out, nil
}

func (s *Server) getProduct(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[r.PathValue("id")]
	if !ok {
		return nil, notFoundf("product %s not found", r.PathValue("id"))
	}
	return s.product(p), nil
}

func (s *Server) getPayment(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[r.PathValue("payment_id")]
	if !ok {
		return nil, notFoundf("payment %s not found", r.PathValue("payment_id"))
	}
	return s.payment(p), nil
}

func (s *Server) getSubscription(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[r.PathValue("subscription_id")]
	if !ok {
		return nil, notFoundf("subscription %s not found", r.PathValue("subscription_id"))
	}
	return s.subscription(sub, s.products[sub.ProductID], sub.Quantity), nil
}

func (s *Server) getCheckout(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[r.PathValue("id")]
	if !ok {
		return nil, notFoundf("checkout session %s not found", r.PathValue("id"))
	}
	return s.checkoutStatus(cs), nil
}

// paymentFilter is the query of GET /payments.
type paymentFilter struct {
	customerID, subscriptionID, productID, status, currency, brandID string
	gte, lte                                                         *time.Time
	pageSize, pageNumber                                             int
}

func parsePaymentFilter(q url.Values) (paymentFilter, error) {
	f := paymentFilter{
		customerID: q.Get("customer_id"), subscriptionID: q.Get("subscription_id"),
		productID: q.Get("product_id"), status: q.Get("status"), currency: q.Get("currency"),
		brandID: q.Get("brand_id"), pageSize: 10,
	}
	var err error
	if f.gte, f.lte, f.pageSize, f.pageNumber, err = parseListQuery(q); err != nil {
		return f, err
	}
	if f.status != "" && !slices.Contains(intentStatuses, f.status) {
		return f, invalidf("status %q: want one of %v", f.status, intentStatuses)
	}
	if f.currency != "" && !isCurrency(f.currency) {
		return f, invalidf("currency %q: want an ISO 4217 code", f.currency)
	}
	return f, nil
}

// parseListQuery parses what the spec's list endpoints share: the
// created_at bounds and the paging.
func parseListQuery(q url.Values) (gte, lte *time.Time, pageSize, pageNumber int, err error) {
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"created_at_gte", &gte}, {"created_at_lte", &lte}} {
		name, dst := p.name, p.dst
		if v := q.Get(name); v != "" {
			t, perr := time.Parse(time.RFC3339Nano, v)
			if perr != nil {
				return nil, nil, 0, 0, invalidf("%s %q: want an RFC 3339 date-time", name, v)
			}
			*dst = &t
		}
	}
	// page_size and page_number are the spec's int32s >= 0.
	pg, err := parsePage(q)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	return gte, lte, pg.size, pg.number, nil
}

// intentStatuses is the spec's IntentStatus, the statuses of a payment.
var intentStatuses = []string{
	"succeeded", "failed", "cancelled", "processing", "requires_customer_action", "requires_merchant_action",
	"requires_payment_method", "requires_confirmation", "requires_capture", "partially_captured", "partially_captured_and_capturable",
}

// match reports whether p passes the filter; brandID is the stand-in's only
// brand (its business id).
func (f paymentFilter) match(p *payRec, brandID string) bool {
	switch {
	case f.customerID != "" && p.CustomerID != f.customerID,
		f.subscriptionID != "" && p.SubscriptionID != f.subscriptionID,
		f.status != "" && p.Status != f.status,
		f.currency != "" && p.Currency != f.currency,
		f.brandID != "" && f.brandID != brandID,
		f.productID != "" && !slices.ContainsFunc(p.ProductCart, func(it CartItem) bool { return it.ProductID == f.productID }),
		f.gte != nil && p.CreatedAt.Before(*f.gte),
		f.lte != nil && p.CreatedAt.After(*f.lte):
		return false
	}
	return true
}

// listPayments pages through the payments that match the query, newest
// first (judgement: Dodo does not document the order).
func (s *Server) listPayments(r *http.Request) (any, error) {
	f, err := parsePaymentFilter(r.URL.Query())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*payRec
	for _, p := range slices.Backward(s.paymentsL) {
		if f.match(p, s.cfg.BusinessID) {
			matched = append(matched, p)
		}
	}
	slices.SortStableFunc(matched, func(a, b *payRec) int { return b.CreatedAt.Compare(a.CreatedAt) })
	out := wire.List[wire.PaymentListItem]{Items: []wire.PaymentListItem{}}
	from := min(f.pageNumber*f.pageSize, len(matched))
	for _, p := range matched[from:min(from+f.pageSize, len(matched))] {
		out.Items = append(out.Items, s.paymentListItem(p))
	}
	return out, nil
}
