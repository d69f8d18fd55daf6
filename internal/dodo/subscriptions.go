package dodo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
)

// ListSubscriptionsParams filters GET /subscriptions. Empty fields are not
// sent. Dodo's API has no "updated since" filter: the dates filter on
// created_at only.
type ListSubscriptionsParams struct {
	CustomerID string
	// Status is a SubscriptionStatus: pending, active, on_hold, paused,
	// cancelled, failed or expired; or past_due (after spec v1.113.0).
	Status    string
	ProductID string
	BrandID   string
	// CancelAtNextBillingDate, if set, keeps only subscriptions that are
	// (or are not) scheduled to cancel at their next billing date.
	CancelAtNextBillingDate *bool
	CreatedAtGte            *time.Time
	CreatedAtLte            *time.Time
	// PageSize is 1 to 100; 0 sends none (Dodo's default is 10).
	PageSize int
	// PageNumber counts from 0.
	PageNumber int
}

// subscriptionStatuses is the spec's SubscriptionStatus enum, and past_due,
// which Dodo added after it (docs/dodo-drift.md).
var subscriptionStatuses = []string{
	wire.SubscriptionPending, wire.SubscriptionActive, wire.SubscriptionOnHold, wire.SubscriptionPaused,
	wire.SubscriptionCancelled, wire.SubscriptionFailed, wire.SubscriptionExpired, wire.SubscriptionPastDue,
}

// ListSubscriptions returns one page of subscriptions (GET /subscriptions),
// in Dodo's order. The items are the spec's SubscriptionListResponseItem
// (wire.SubscriptionListItem) decoded into wire.Subscription: the fields of
// GetSubscription's answer that a list item lacks (addons, brand_id,
// expires_at, meters and the credit carts) stay zero, its discounts keep
// only their ids, and its product_name is not read.
func (c *Client) ListSubscriptions(ctx context.Context, p ListSubscriptionsParams) ([]wire.Subscription, error) {
	const ep = "GET /subscriptions"
	q, err := p.query()
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("dodo %s: %w", ep, err))
	}
	var out wire.List[wire.Subscription]
	if err := c.do(ctx, request{endpoint: ep, method: http.MethodGet, path: "/subscriptions", query: q}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// ListAllSubscriptions reads pages from p.PageNumber on until a page is
// empty, 100 subscriptions a page unless p.PageSize says otherwise, as
// ListAllPayments does. It stops after 50 pages with the subscriptions
// read so far and an error wrapping ErrTooManyPages: narrow the filter
// instead.
func (c *Client) ListAllSubscriptions(ctx context.Context, p ListSubscriptionsParams) ([]wire.Subscription, error) {
	if p.PageSize == 0 {
		p.PageSize = 100
	}
	return pages(ctx, "GET /subscriptions", p.PageNumber, maxListPages, func(ctx context.Context, n int) ([]wire.Subscription, error) {
		p.PageNumber = n
		return c.ListSubscriptions(ctx, p)
	}, nil)
}

// query encodes the filters; the dates in UTC, RFC 3339 with the fraction.
func (p ListSubscriptionsParams) query() (url.Values, error) {
	if p.PageSize < 0 || p.PageSize > 100 {
		return nil, fmt.Errorf("page size %d: want 1 to 100, or 0 for Dodo's default", p.PageSize)
	}
	if p.PageNumber < 0 {
		return nil, fmt.Errorf("page number %d: want 0 or more", p.PageNumber)
	}
	// The spec's enum: Dodo would refuse another value, so say it here.
	if p.Status != "" && !slices.Contains(subscriptionStatuses, p.Status) {
		return nil, fmt.Errorf("status %q: want one of %v", p.Status, subscriptionStatuses)
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("customer_id", p.CustomerID)
	set("status", p.Status)
	set("product_id", p.ProductID)
	set("brand_id", p.BrandID)
	if p.CancelAtNextBillingDate != nil {
		q.Set("cancel_at_next_billing_date", strconv.FormatBool(*p.CancelAtNextBillingDate))
	}
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

// GetPaymentJSON returns a payment (GET /payments/{payment_id}) as the
// bytes Dodo sent: the spec's PaymentResponse, which is also the data of
// the payment.* webhooks, with every field, including any wire.Payment does
// not model. It is a read, retried like GetPayment. The answer must be a
// JSON object.
func (c *Client) GetPaymentJSON(ctx context.Context, paymentID string) (json.RawMessage, error) {
	const ep = "GET /payments/{payment_id}"
	id, err := pathID(ep, "payment_id", paymentID)
	if err != nil {
		return nil, err
	}
	return c.getObject(ctx, request{endpoint: ep, method: http.MethodGet, path: "/payments/" + id})
}

// GetSubscriptionJSON returns a subscription (GET
// /subscriptions/{subscription_id}) as the bytes Dodo sent: the spec's
// SubscriptionResponse, which is also the data of the subscription.*
// webhooks. It is a read, retried like GetSubscription. The answer must be
// a JSON object.
func (c *Client) GetSubscriptionJSON(ctx context.Context, subscriptionID string) (json.RawMessage, error) {
	const ep = "GET /subscriptions/{subscription_id}"
	id, err := pathID(ep, "subscription_id", subscriptionID)
	if err != nil {
		return nil, err
	}
	return c.getObject(ctx, request{endpoint: ep, method: http.MethodGet, path: "/subscriptions/" + id})
}

// getObject reads r's answer as raw JSON and refuses anything but an
// object, permanently: Dodo answered, and asking again gets the same.
func (c *Client) getObject(ctx context.Context, r request) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, r, &raw); err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fault.Permanent(fmt.Errorf("dodo %s: answer is not a JSON object (body %q)", r.endpoint, snippet(raw)))
	}
	return raw, nil
}
