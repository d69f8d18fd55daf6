package dodo

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/offerflow/offerflow/internal/offers"
)

// opRecorder is a transport that records the operation of each request
// and answers 404, so that every call ends after one attempt.
type opRecorder struct {
	mu  sync.Mutex
	ops []string
}

func (o *opRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.ops = append(o.ops, Operation(r.Context()))
	o.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"code":"NOT_FOUND"}`)), Request: r}, nil
}

// Each method's requests carry its operation in their context, where a
// wrapping transport reads it.
func TestOperationOfEachMethod(t *testing.T) {
	ctx := context.Background()
	plan := ChangePlanRequest{ProductID: "p", Quantity: 1, ProrationBillingMode: offers.ProratedImmediately,
		EffectiveAt: EffectiveImmediately, OnPaymentFailure: PreventChange}
	for _, tc := range []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{"CreateCheckout", func(c *Client) error {
			_, err := c.CreateCheckout(ctx, FallbackCheckout(Fallback{ProductID: "p", CustomerID: "c"}))
			return err
		}, "create_checkout"},
		{"PreviewChangePlan", func(c *Client) error {
			_, err := c.PreviewChangePlan(ctx, "sub", plan)
			return err
		}, "preview_change_plan"},
		{"ChangePlan", func(c *Client) error { _, err := c.ChangePlan(ctx, "sub", plan); return err }, "change_plan"},
		{"ListPaymentMethods", func(c *Client) error { _, err := c.ListPaymentMethods(ctx, "c"); return err }, "list_payment_methods"},
		{"GetProduct", func(c *Client) error { _, err := c.GetProduct(ctx, "p"); return err }, "get_product"},
		{"GetCustomer", func(c *Client) error { _, err := c.GetCustomer(ctx, "c"); return err }, "get_customer"},
		{"GetPayment", func(c *Client) error { _, err := c.GetPayment(ctx, "pay"); return err }, "get_payment"},
		{"GetPaymentJSON", func(c *Client) error { _, err := c.GetPaymentJSON(ctx, "pay"); return err }, "get_payment"},
		{"GetSubscription", func(c *Client) error { _, err := c.GetSubscription(ctx, "sub"); return err }, "get_subscription"},
		{"GetSubscriptionJSON", func(c *Client) error { _, err := c.GetSubscriptionJSON(ctx, "sub"); return err }, "get_subscription"},
		{"ListPayments", func(c *Client) error { _, err := c.ListPayments(ctx, ListPaymentsParams{}); return err }, "list_payments"},
		{"ListSubscriptions", func(c *Client) error { _, err := c.ListSubscriptions(ctx, ListSubscriptionsParams{}); return err }, "list_subscriptions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &opRecorder{}
			c, err := New(Config{APIKey: "k", BaseURL: "http://dodo.invalid", RateLimit: -1, HTTPClient: &http.Client{Transport: rec}})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.call(c); err == nil {
				t.Fatal("got no error from a 404")
			}
			if len(rec.ops) == 0 || slices.ContainsFunc(rec.ops, func(op string) bool { return op != tc.want }) {
				t.Fatalf("operations %q, want only %q", rec.ops, tc.want)
			}
		})
	}
	if got := Operation(ctx); got != "" {
		t.Fatalf("Operation of a context no Client made: %q, want empty", got)
	}
}

// Every endpoint the client calls has a name of its own, never "other":
// a new endpoint fails here until operationOf names it.
func TestEveryEndpointHasAnOperation(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`const ep = "([^"]+)"`)
	seen := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			op := operationOf(m[1])
			if op == "other" {
				t.Errorf("%s: endpoint %q has no operation name", f, m[1])
			}
			seen[m[1]] = op
		}
	}
	if len(seen) < 10 {
		t.Fatalf("found %d endpoints, want at least 10: %v", len(seen), seen)
	}
}
