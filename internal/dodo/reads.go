package dodo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
)

// maxListPages bounds ListAllPayments: 50 pages of up to 100 payments.
const maxListPages = 50

// ListPaymentMethods returns a customer's saved payment methods (GET
// /customers/{customer_id}/payment-methods; the answer is {items: [...]},
// not a bare array). A 502, which the spec documents for an unavailable
// payment-method service, is transient and retried.
func (c *Client) ListPaymentMethods(ctx context.Context, customerID string) ([]wire.CustomerPaymentMethod, error) {
	const ep = "GET /customers/{customer_id}/payment-methods"
	id, err := pathID(ep, "customer_id", customerID)
	if err != nil {
		return nil, err
	}
	var out wire.List[wire.CustomerPaymentMethod]
	if err := c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/customers/" + id + "/payment-methods"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// GetProduct returns a product (GET /products/{id}).
func (c *Client) GetProduct(ctx context.Context, productID string) (wire.Product, error) {
	const ep = "GET /products/{id}"
	var p wire.Product
	id, err := pathID(ep, "id", productID)
	if err != nil {
		return p, err
	}
	err = c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/products/" + id}, &p)
	return p, err
}

// GetCustomer returns a customer (GET /customers/{customer_id}).
func (c *Client) GetCustomer(ctx context.Context, customerID string) (wire.Customer, error) {
	const ep = "GET /customers/{customer_id}"
	var cu wire.Customer
	id, err := pathID(ep, "customer_id", customerID)
	if err != nil {
		return cu, err
	}
	err = c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/customers/" + id}, &cu)
	return cu, err
}

// GetPayment returns a payment (GET /payments/{payment_id}).
func (c *Client) GetPayment(ctx context.Context, paymentID string) (wire.Payment, error) {
	const ep = "GET /payments/{payment_id}"
	var p wire.Payment
	id, err := pathID(ep, "payment_id", paymentID)
	if err != nil {
		return p, err
	}
	err = c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/payments/" + id}, &p)
	return p, err
}

// GetSubscription returns a subscription (GET
// /subscriptions/{subscription_id}).
func (c *Client) GetSubscription(ctx context.Context, subscriptionID string) (wire.Subscription, error) {
	const ep = "GET /subscriptions/{subscription_id}"
	var s wire.Subscription
	id, err := pathID(ep, "subscription_id", subscriptionID)
	if err != nil {
		return s, err
	}
	err = c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/subscriptions/" + id}, &s)
	return s, err
}

// ListPayments returns one page of payments (GET /payments), in Dodo's
// order. The items are the spec's GetPaymentsListResponseItem
// (wire.PaymentListItem) decoded into wire.Payment, so that callers handle
// one type: the fields a list item lacks (business_id, settlement,
// billing, checkout_session_id, product_cart, payment_method_id,
// error_code, ...) stay zero, and its dispute_status and has_license_key
// are not read.
func (c *Client) ListPayments(ctx context.Context, p ListPaymentsParams) ([]wire.Payment, error) {
	const ep = "GET /payments"
	q, err := p.query()
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("dodo %s: %w", ep, err))
	}
	var out wire.List[wire.Payment]
	if err := c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/payments", query: q}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// ListAllPayments reads pages from p.PageNumber on until a page is empty
// (Dodo's page-number pagination has no total or has-more field; this is
// how its SDKs iterate), 100 payments a page unless p.PageSize says
// otherwise. It stops after 50 pages with the payments read so far and an
// error wrapping ErrTooManyPages: narrow the filter instead.
func (c *Client) ListAllPayments(ctx context.Context, p ListPaymentsParams) ([]wire.Payment, error) {
	return c.listPages(ctx, p, maxListPages, func([]wire.Payment) bool { return false })
}

// listPages reads pages until an empty page, until stop returns true for a
// page, or until maxPages pages were read (then with ErrTooManyPages).
func (c *Client) listPages(ctx context.Context, p ListPaymentsParams, maxPages int, stop func([]wire.Payment) bool) ([]wire.Payment, error) {
	if p.PageSize == 0 {
		p.PageSize = 100
	}
	return pages(ctx, "GET /payments", p.PageNumber, maxPages, func(ctx context.Context, n int) ([]wire.Payment, error) {
		p.PageNumber = n
		return c.ListPayments(ctx, p)
	}, stop)
}

// pages reads pages first, first+1, ... with fetch until one is empty,
// until stop returns true for one, or until maxPages were read (then with
// ErrTooManyPages), and returns what it read.
func pages[T any](ctx context.Context, ep string, first, maxPages int, fetch func(context.Context, int) ([]T, error), stop func([]T) bool) ([]T, error) {
	var all []T
	for n := first; n < first+maxPages; n++ {
		page, err := fetch(ctx, n)
		if err != nil {
			return all, fmt.Errorf("page %d: %w", n, err)
		}
		if len(page) == 0 {
			return all, nil
		}
		all = append(all, page...)
		if stop != nil && stop(page) {
			return all, nil
		}
	}
	return all, fmt.Errorf("dodo %s: stopped after %d pages: %w", ep, maxPages, ErrTooManyPages)
}

// query encodes the filters; the dates in UTC, RFC 3339 with the
// fraction.
func (p ListPaymentsParams) query() (url.Values, error) {
	if p.PageSize < 0 || p.PageSize > 100 {
		return nil, fmt.Errorf("page size %d: want 1 to 100, or 0 for Dodo's default", p.PageSize)
	}
	if p.PageNumber < 0 {
		return nil, fmt.Errorf("page number %d: want 0 or more", p.PageNumber)
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("customer_id", p.CustomerID)
	set("subscription_id", p.SubscriptionID)
	set("status", p.Status)
	if p.CreatedAtGte != nil {
		q.Set("created_at_gte", p.CreatedAtGte.UTC().Format(time.RFC3339Nano))
	}
	if p.CreatedAtLte != nil {
		q.Set("created_at_lte", p.CreatedAtLte.UTC().Format(time.RFC3339Nano))
	}
	if p.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(p.PageSize))
	}
	if p.PageNumber > 0 {
		q.Set("page_number", strconv.Itoa(p.PageNumber))
	}
	return q, nil
}
