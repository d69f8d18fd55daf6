package standin

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// createCustomerRequest is the spec's CreateCustomerRequest.
type createCustomerRequest struct {
	Email       *string         `json:"email"`
	Name        *string         `json:"name"`
	PhoneNumber *string         `json:"phone_number"`
	Metadata    json.RawMessage `json:"metadata"`
}

// createCustomer is POST /customers. Judgement: Dodo does not document
// what a second customer with the same email gets; the stand-in creates
// one, as the spec's request carries nothing that would say otherwise.
func (s *Server) createCustomer(r *http.Request) (any, error) {
	var req createCustomerRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Email == nil || !strings.Contains(*req.Email, "@") {
		return nil, invalidf("email: want an email address")
	}
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return nil, invalidf("name is required")
	}
	meta, err := parseMetadata(req.Metadata)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &customerRec{Customer: Customer{
		ID: s.newID("cus"), Email: *req.Email, Name: *req.Name, Country: "US", CreatedAt: s.now(),
	}, metadata: meta}
	if req.PhoneNumber != nil {
		c.Phone = *req.PhoneNumber
	}
	s.customers[c.ID] = c
	return s.customer(c), nil
}

// page is the page_size and page_number of a list query: page_size
// defaults to 10 and Dodo caps it at 100.
type page struct{ size, number int }

func parsePage(q url.Values) (page, error) {
	p := page{size: 10}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"page_size", &p.size}, {"page_number", &p.number}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return p, invalidf("%s %q: want an integer >= 0", f.name, v)
			}
			*f.dst = int(n)
		}
	}
	p.size = min(p.size, 100)
	return p, nil
}

// of returns the page's part of n items, as slice bounds.
func (p page) of(n int) (from, to int) {
	from = min(p.number*p.size, n)
	return from, min(from+p.size, n)
}

// listCustomers is GET /customers: email and name match partially and
// without regard to case (api-facts E11), the dates bound created_at;
// oldest first (judgement: Dodo does not document the order).
func (s *Server) listCustomers(r *http.Request) (any, error) {
	q := r.URL.Query()
	gte, lte, size, number, err := parseListQuery(q)
	if err != nil {
		return nil, err
	}
	email, name := strings.ToLower(q.Get("email")), strings.ToLower(q.Get("name"))
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*customerRec
	for _, c := range s.customers {
		switch {
		case email != "" && !strings.Contains(strings.ToLower(c.Email), email),
			name != "" && !strings.Contains(strings.ToLower(c.Name), name),
			gte != nil && c.CreatedAt.Before(*gte),
			lte != nil && c.CreatedAt.After(*lte):
			continue
		}
		matched = append(matched, c)
	}
	slices.SortFunc(matched, func(a, b *customerRec) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	out := wire.List[wire.Customer]{Items: []wire.Customer{}}
	from, to := page{size, number}.of(len(matched))
	for _, c := range matched[from:to] {
		out.Items = append(out.Items, s.customer(c))
	}
	return out, nil
}

// listProducts is GET /products: recurring filters on is_recurring;
// archived=true lists nothing, as the stand-in archives no product;
// brand_id matches the stand-in's one brand. Oldest first (judgement).
func (s *Server) listProducts(r *http.Request) (any, error) {
	q := r.URL.Query()
	pg, err := parsePage(q)
	if err != nil {
		return nil, err
	}
	var recurring, archived *bool
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"recurring", &recurring}, {"archived", &archived}} {
		if v := q.Get(f.name); v != "" {
			if v != "true" && v != "false" {
				return nil, invalidf("%s %q: want true or false", f.name, v)
			}
			b := v == "true"
			*f.dst = &b
		}
	}
	brand := q.Get("brand_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*Product
	for _, p := range s.products {
		switch {
		case recurring != nil && p.Recurring != *recurring,
			archived != nil && *archived,
			brand != "" && brand != s.cfg.BusinessID:
			continue
		}
		matched = append(matched, p)
	}
	slices.SortFunc(matched, func(a, b *Product) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	out := wire.List[wire.ProductListItem]{Items: []wire.ProductListItem{}}
	from, to := pg.of(len(matched))
	for _, p := range matched[from:to] {
		full := s.product(p)
		out.Items = append(out.Items, wire.ProductListItem{
			ProductID: p.ID, BusinessID: full.BusinessID, Name: full.Name, Description: full.Description,
			IsRecurring: p.Recurring, Price: ptr(p.Price), Currency: ptr(p.Currency), PriceDetail: &full.Price,
			TaxCategory: full.TaxCategory, TaxInclusive: full.Price.TaxInclusive, Metadata: full.Metadata,
			Entitlements: []json.RawMessage{}, CreatedAt: full.CreatedAt, UpdatedAt: full.UpdatedAt,
		})
	}
	return out, nil
}

// createPortalSession is POST /customers/{customer_id}/customer-portal/session:
// a link to a portal the stand-in does not serve (judgement: a link in
// Dodo's test host's form, so a merchant's test can check it was handed on).
func (s *Server) createPortalSession(r *http.Request) (any, error) {
	q := r.URL.Query()
	if v := q.Get("send_email"); v != "" && v != "true" && v != "false" {
		return nil, invalidf("send_email %q: want true or false", v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return nil, notFoundf("customer %s not found", r.PathValue("customer_id"))
	}
	link := testHost + "/customer-portal/" + url.PathEscape(c.ID) + "?session=" + s.newID("cps")
	if ru := q.Get("return_url"); ru != "" {
		link += "&return_url=" + url.QueryEscape(ru)
	}
	return wire.CustomerPortalSession{Link: link}, nil
}
