package dodo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
)

// fakeSubscriptionItem is a spec SubscriptionListResponseItem: a
// SubscriptionResponse without the fields the list leaves out, with the
// two it adds.
func fakeSubscriptionItem(id, productID string) map[string]any {
	s := fakeSubscription(id, productID, 1, nil)
	for _, k := range []string{"addons", "brand_id", "meters", "credit_entitlement_cart", "meter_credit_entitlement_cart"} {
		delete(s, k)
	}
	s["discounts"] = []any{}
	s["product_name"] = "Basic"
	return s
}

func TestSubscriptionFakesKeepToSpec(t *testing.T) {
	spec, _ := loadSpec(t)
	b, _ := json.Marshal(map[string]any{"items": []any{fakeSubscriptionItem("sub_1", "pdt_basic")}})
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := spec.checkValue(spec.schema(t, "GetSubscriptionsListResponse"), v, "GetSubscriptionsListResponse"); len(got) > 0 {
		t.Fatalf("fake subscription list against the spec: got problems %q, want none", got)
	}
}

func TestListSubscriptionsQuery(t *testing.T) {
	var got atomic.Value
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RawQuery)
		if r.URL.Path != "/subscriptions" {
			t.Errorf("path: got %q, want /subscriptions", r.URL.Path)
		}
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	c, _ := testClient(t, srv.URL)
	gte := time.Date(2026, 8, 20, 12, 0, 0, 500, time.FixedZone("CEST", 2*3600))
	lte := gte.Add(time.Hour)
	yes, no := true, false
	tests := []struct {
		name string
		p    ListSubscriptionsParams
		want url.Values
	}{
		{name: "none", p: ListSubscriptionsParams{}, want: url.Values{}},
		{name: "customer", p: ListSubscriptionsParams{CustomerID: "cus_1"}, want: url.Values{"customer_id": {"cus_1"}}},
		{name: "status", p: ListSubscriptionsParams{Status: wire.SubscriptionOnHold}, want: url.Values{"status": {"on_hold"}}},
		{name: "product and brand", p: ListSubscriptionsParams{ProductID: "pdt_1", BrandID: "brd_1"}, want: url.Values{"product_id": {"pdt_1"}, "brand_id": {"brd_1"}}},
		{name: "cancelling", p: ListSubscriptionsParams{CancelAtNextBillingDate: &yes}, want: url.Values{"cancel_at_next_billing_date": {"true"}}},
		{name: "not cancelling", p: ListSubscriptionsParams{CancelAtNextBillingDate: &no}, want: url.Values{"cancel_at_next_billing_date": {"false"}}},
		{name: "dates in UTC", p: ListSubscriptionsParams{CreatedAtGte: &gte, CreatedAtLte: &lte}, want: url.Values{"created_at_gte": {"2026-08-20T10:00:00.0000005Z"}, "created_at_lte": {"2026-08-20T11:00:00.0000005Z"}}},
		{name: "paging", p: ListSubscriptionsParams{PageSize: 100, PageNumber: 3}, want: url.Values{"page_size": {"100"}, "page_number": {"3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.ListSubscriptions(context.Background(), tt.p); err != nil {
				t.Fatal(err)
			}
			if got, want := got.Load(), tt.want.Encode(); got != want {
				t.Fatalf("query: got %q, want %q", got, want)
			}
		})
	}
	for _, p := range []ListSubscriptionsParams{{PageSize: 101}, {PageSize: -1}, {PageNumber: -1}, {Status: "live"}} {
		if _, err := c.ListSubscriptions(context.Background(), p); !fault.IsPermanent(err) {
			t.Errorf("ListSubscriptions(%+v): got %v, want a permanent error", p, err)
		}
	}
}

func TestListSubscriptionsDecodes(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{fakeSubscriptionItem("sub_1", "pdt_basic")}})
	}))
	c, _ := testClient(t, srv.URL)
	got, err := c.ListSubscriptions(context.Background(), ListSubscriptionsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d subscriptions, want 1", len(got))
	}
	s := got[0]
	if s.SubscriptionID != "sub_1" || s.Status != wire.SubscriptionActive || s.ProductID != "pdt_basic" || s.Customer.CustomerID != "cus_1" || s.CreatedAt.IsZero() || s.PreviousBillingDate.IsZero() {
		t.Fatalf("decoded %+v, want sub_1 active on pdt_basic of cus_1 with its dates", s)
	}
}

func TestListAllSubscriptions(t *testing.T) {
	pages := func(n int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			page, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
			if r.URL.Query().Get("page_size") != "100" {
				t.Errorf("page_size: got %q, want 100", r.URL.Query().Get("page_size"))
			}
			items := []any{}
			if page < n {
				items = append(items, fakeSubscriptionItem(fmt.Sprintf("sub_%d", page), "pdt_basic"))
			}
			writeJSON(w, http.StatusOK, map[string]any{"items": items})
		})
	}
	t.Run("until an empty page", func(t *testing.T) {
		c, _ := testClient(t, serve(t, pages(3)).URL)
		got, err := c.ListAllSubscriptions(context.Background(), ListSubscriptionsParams{CustomerID: "cus_1"})
		if err != nil || len(got) != 3 || got[2].SubscriptionID != "sub_2" {
			t.Fatalf("ListAllSubscriptions: got %d subscriptions, %v; want sub_0..sub_2", len(got), err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c, _ := testClient(t, serve(t, pages(1000)).URL)
		got, err := c.ListAllSubscriptions(context.Background(), ListSubscriptionsParams{})
		if !errors.Is(err, ErrTooManyPages) || len(got) != maxListPages {
			t.Fatalf("ListAllSubscriptions: got %d subscriptions, %v; want %d and ErrTooManyPages", len(got), err, maxListPages)
		}
	})
	t.Run("a failing page", func(t *testing.T) {
		var n atomic.Int32
		c, _ := testClient(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) > 1 {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"code": "INVALID_REQUEST_BODY", "message": "no"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"items": []any{fakeSubscriptionItem("sub_0", "pdt_basic")}})
		})).URL)
		got, err := c.ListAllSubscriptions(context.Background(), ListSubscriptionsParams{})
		if err == nil || !fault.IsPermanent(err) || len(got) != 1 {
			t.Fatalf("ListAllSubscriptions: got %d subscriptions, %v; want the first page and a permanent error", len(got), err)
		}
	})
}

func TestGetSubscriptionJSONKeepsEveryField(t *testing.T) {
	sub := fakeSubscription("sub_1", "pdt_basic", 1, nil)
	sub["a_field_offerflow_does_not_model"] = map[string]any{"x": 1}
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/subscriptions/sub_1":
			writeJSON(w, http.StatusOK, sub)
		case "/payments/pay_1":
			writeJSON(w, http.StatusOK, fakePayment("pay_1", "cus_1", time.Now(), nil))
		case "/subscriptions/sub_array":
			_, _ = io.WriteString(w, `[1,2]`)
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"code": "NOT_FOUND", "message": r.URL.Path})
		}
	}))
	c, _ := testClient(t, srv.URL)
	ctx := context.Background()

	raw, err := c.GetSubscriptionJSON(ctx, "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["a_field_offerflow_does_not_model"]; !ok || got["subscription_id"] != "sub_1" {
		t.Fatalf("GetSubscriptionJSON: got %s, want every field Dodo sent", raw)
	}
	if raw, err := c.GetPaymentJSON(ctx, "pay_1"); err != nil || !json.Valid(raw) {
		t.Fatalf("GetPaymentJSON: got %s, %v; want the payment", raw, err)
	}
	for _, tt := range []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"not an object", func() error { _, err := c.GetSubscriptionJSON(ctx, "sub_array"); return err }, fault.IsPermanent},
		{"not found", func() error { _, err := c.GetSubscriptionJSON(ctx, "sub_nothing"); return err }, func(err error) bool {
			var ae *APIError
			return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound && fault.IsPermanent(err)
		}},
		{"empty id", func() error { _, err := c.GetPaymentJSON(ctx, " "); return err }, fault.IsPermanent},
	} {
		if err := tt.call(); err == nil || !tt.want(err) {
			t.Errorf("%s: got %v", tt.name, err)
		}
	}
}

// TestContractSubscriptions sends the subscription reads to Steady on
// Dodo's spec (see TestContract).
func TestContractSubscriptions(t *testing.T) {
	c, rec := contractClient(t)
	ctx := context.Background()
	gte := time.Date(2026, 8, 20, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	lte := gte.Add(24 * time.Hour)
	yes := true

	t.Run("list subscriptions with every filter", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			p    ListSubscriptionsParams
		}{
			{name: "none", p: ListSubscriptionsParams{}},
			{name: "customer", p: ListSubscriptionsParams{CustomerID: "cus_1"}},
			{name: "status", p: ListSubscriptionsParams{Status: wire.SubscriptionCancelled}},
			{name: "product and brand", p: ListSubscriptionsParams{ProductID: "pdt_1", BrandID: "brd_1"}},
			{name: "cancelling", p: ListSubscriptionsParams{CancelAtNextBillingDate: &yes}},
			{name: "created after", p: ListSubscriptionsParams{CreatedAtGte: &gte}},
			{name: "created before", p: ListSubscriptionsParams{CreatedAtLte: &lte}},
			{name: "paging", p: ListSubscriptionsParams{PageSize: 100, PageNumber: 2}},
			{name: "all together", p: ListSubscriptionsParams{CustomerID: "cus_1", Status: wire.SubscriptionOnHold, ProductID: "pdt_1", BrandID: "brd_1", CancelAtNextBillingDate: &yes, CreatedAtGte: &gte, CreatedAtLte: &lte, PageSize: 1, PageNumber: 1}},
		} {
			got, err := c.ListSubscriptions(ctx, tt.p)
			expect(t, tt.name+": ListSubscriptions", err, len(got) > 0 && got[0].SubscriptionID != "" && got[0].Status != "" && got[0].Customer.CustomerID != "" && !got[0].CreatedAt.IsZero(), got)
			rec.requireSpecValid(t, 1)
		}
	})

	t.Run("list all subscriptions stops at an empty page", func(t *testing.T) {
		rec.steer = func(r *http.Request) http.Header {
			if n, _ := strconv.Atoi(r.URL.Query().Get("page_number")); n >= 2 {
				return http.Header{"X-Steady-Array-Size": {"0"}}
			}
			return nil
		}
		defer func() { rec.steer = nil }()
		got, err := c.ListAllSubscriptions(ctx, ListSubscriptionsParams{Status: wire.SubscriptionActive, CreatedAtGte: &gte})
		expect(t, "ListAllSubscriptions (pages 0 and 1, then an empty page)", err, len(got) == 2, got)
		rec.requireSpecValid(t, 3)
	})

	t.Run("raw reads", func(t *testing.T) {
		raw, err := c.GetSubscriptionJSON(ctx, "sub_Iuaq622bbmmfOGrVTqdXv")
		var s wire.Subscription
		ok := err == nil && json.Unmarshal(raw, &s) == nil && s.SubscriptionID != "" && s.Status != ""
		expect(t, "GetSubscriptionJSON", err, ok, string(raw))
		raw, err = c.GetPaymentJSON(ctx, "pay_gr4RizvMOXFJ6xca3y2tU")
		var p wire.Payment
		ok = err == nil && json.Unmarshal(raw, &p) == nil && p.PaymentID != "" && !p.CreatedAt.IsZero()
		expect(t, "GetPaymentJSON", err, ok, string(raw))
		rec.requireSpecValid(t, 2)
	})
}
