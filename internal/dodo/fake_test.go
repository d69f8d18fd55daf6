package dodo

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// The behaviour tests answer with httptest handlers: the outside edge where
// failures are injected. What those handlers answer keeps to the spec
// (TestFakesKeepToSpec checks every body built here against it).

const testKey = "sk_test_0123456789abcdef"

// fakePayment is a spec GetPaymentsListResponseItem.
func fakePayment(id, customerID string, created time.Time, metadata map[string]any) map[string]any {
	if metadata == nil {
		metadata = map[string]any{}
	}
	return map[string]any{
		"payment_id":   id,
		"status":       "succeeded",
		"total_amount": 1900,
		"currency":     "USD",
		"customer": map[string]any{
			"customer_id": customerID, "email": "ana@example.com", "name": "Ana Ruiz",
			"phone_number": nil, "metadata": map[string]any{},
		},
		"created_at":                 created.UTC().Format(time.RFC3339Nano),
		"brand_id":                   "bus_P3SXLcppjXgagmHS",
		"digital_products_delivered": false,
		"has_license_key":            false,
		"metadata":                   metadata,
		"payment_provider":           "dodo",
		"payment_method":             "card",
		"payment_method_type":        nil,
		"subscription_id":            nil,
		"card_last_four":             "4242",
		"card_network":               "VISA",
		"invoice_id":                 nil,
		"invoice_url":                nil,
		"refund_status":              nil,
		"dispute_status":             nil,
	}
}

// fakeSubscription is a spec SubscriptionResponse.
func fakeSubscription(id, productID string, quantity int, scheduled map[string]any) map[string]any {
	var sc any
	if scheduled != nil {
		sc = scheduled
	}
	return map[string]any{
		"subscription_id":          id,
		"status":                   "active",
		"product_id":               productID,
		"quantity":                 quantity,
		"addons":                   []any{},
		"brand_id":                 "bus_P3SXLcppjXgagmHS",
		"customer":                 map[string]any{"customer_id": "cus_1", "email": "ana@example.com", "name": "Ana Ruiz", "phone_number": nil, "metadata": map[string]any{}},
		"currency":                 "USD",
		"recurring_pre_tax_amount": 3000,
		"tax_inclusive":            false,
		"payment_frequency_count":  1, "payment_frequency_interval": "Month",
		"subscription_period_count": 10, "subscription_period_interval": "Year",
		"previous_billing_date":         "2026-08-20T10:20:05.506021Z",
		"next_billing_date":             "2026-09-20T10:20:05.506021Z",
		"created_at":                    "2026-08-20T10:19:40.125145Z",
		"trial_period_days":             0,
		"on_demand":                     false,
		"cancel_at_next_billing_date":   false,
		"scheduled_change":              sc,
		"payment_method_id":             nil,
		"billing":                       map[string]any{"country": "US", "zipcode": "94102"},
		"metadata":                      map[string]any{},
		"meters":                        []any{},
		"credit_entitlement_cart":       []any{},
		"meter_credit_entitlement_cart": []any{},
	}
}

// fakeScheduledChange is a spec ScheduledPlanChangeResponse.
func fakeScheduledChange(productID string, quantity int) map[string]any {
	return map[string]any{
		"id": "spc_1", "product_id": productID, "quantity": quantity,
		"effective_at": "2026-09-20T10:20:05.506021Z", "created_at": "2026-08-21T10:00:00Z",
		"addons": []any{}, "product_name": "Pro",
	}
}

// fakeSession is a spec CreateSessionResponse of a one-click charge.
func fakeSession(paymentID string) map[string]any {
	return map[string]any{"session_id": "cks_1", "checkout_url": nil, "payment_id": paymentID, "client_secret": nil, "publishable_key": nil}
}

// fakePaymentMethods is a spec ListCustomerPaymentMethodsResponse.
func fakePaymentMethods() map[string]any {
	return map[string]any{"items": []any{map[string]any{
		"payment_method_id": "pm_1", "payment_method": "card", "payment_method_type": "credit",
		"recurring_enabled": true, "last_used_at": "2026-08-20T10:15:28Z",
		"card": map[string]any{
			"last4_digits": "4242", "expiry_month": "06", "expiry_year": "32", "card_network": "VISA",
			"card_type": "CREDIT", "card_holder_name": nil, "card_issuing_country": "US",
		},
	}}}
}

// TestFakesKeepToSpec checks the bodies the fake handlers answer with
// against the spec's response schemas.
func TestFakesKeepToSpec(t *testing.T) {
	spec, _ := loadSpec(t)
	now := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		schema string
		body   any
	}{
		{name: "payments list", schema: "GetPaymentsListResponse", body: map[string]any{"items": []any{fakePayment("pay_1", "cus_1", now, map[string]any{IdempotencyMetadataKey: "k"})}}},
		{name: "subscription", schema: "SubscriptionResponse", body: fakeSubscription("sub_1", "pdt_pro", 1, nil)},
		{name: "subscription with a scheduled change", schema: "SubscriptionResponse", body: fakeSubscription("sub_1", "pdt_basic", 1, fakeScheduledChange("pdt_pro", 1))},
		{name: "checkout session", schema: "CreateSessionResponse", body: fakeSession("pay_1")},
		{name: "payment methods", schema: "ListCustomerPaymentMethodsResponse", body: fakePaymentMethods()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if got := spec.checkValue(spec.schema(t, tt.schema), v, tt.schema); len(got) > 0 {
				t.Fatalf("fake %s against the spec: got problems %q, want none", tt.schema, got)
			}
		})
	}
}

// fakeDodo is a stateful fake of the endpoints the money-moving tests
// touch. Its knobs say what happens to each POST.
type fakeDodo struct {
	t  *testing.T
	mu sync.Mutex

	// onPost decides each POST (n counts from 1): whether to record the
	// effect (a payment, a plan change), and what to answer.
	onPost func(n int, w http.ResponseWriter, r *http.Request, apply func())

	posts      int
	lookups    int
	payments   []map[string]any
	sub        map[string]any
	listStatus int // non-zero: GET /payments answers this status
}

func newFakeDodo(t *testing.T) (*fakeDodo, *httptest.Server) {
	f := &fakeDodo{t: t, sub: fakeSubscription("sub_1", "pdt_basic", 1, nil)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeDodo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": "UNAUTHORIZED", "message": "bad key"})
		return
	}
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/checkouts" || r.URL.Path == "/subscriptions/sub_1/change-plan"):
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posts++
		n := f.posts
		f.mu.Unlock()
		apply := func() { f.apply(r.URL.Path, body) }
		f.onPost(n, w, r, apply)
	case r.Method == http.MethodGet && r.URL.Path == "/payments":
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lookups++
		if f.listStatus != 0 {
			writeJSON(w, f.listStatus, map[string]any{"code": "INTERNAL", "message": "list failed"})
			return
		}
		q := r.URL.Query()
		gte, err := time.Parse(time.RFC3339Nano, q.Get("created_at_gte"))
		if err != nil {
			f.t.Errorf("GET /payments: created_at_gte %q: %v", q.Get("created_at_gte"), err)
		}
		items := []any{}
		if q.Get("page_number") == "" || q.Get("page_number") == "0" {
			for _, p := range f.payments {
				created, _ := time.Parse(time.RFC3339Nano, p["created_at"].(string))
				if p["customer"].(map[string]any)["customer_id"] == q.Get("customer_id") && !created.Before(gte) {
					items = append(items, p)
				}
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case r.Method == http.MethodGet && r.URL.Path == "/subscriptions/sub_1":
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lookups++
		writeJSON(w, http.StatusOK, f.sub)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"code": "NOT_FOUND", "message": r.Method + " " + r.URL.Path})
	}
}

// apply records the effect of a POST: a payment carrying the checkout's
// metadata, or the plan change.
func (f *fakeDodo) apply(path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake: POST %s body: %v", path, err)
		return
	}
	if path == "/checkouts" {
		customer, _ := req["customer"].(map[string]any)
		md, _ := req["metadata"].(map[string]any)
		f.payments = append(f.payments, fakePayment("pay_new", customer["customer_id"].(string), time.Now(), maps.Clone(md)))
		return
	}
	q := int(req["quantity"].(float64))
	if req["effective_at"] == string(EffectiveNextBillingDate) {
		f.sub = fakeSubscription("sub_1", "pdt_basic", 1, fakeScheduledChange(req["product_id"].(string), q))
		return
	}
	f.sub = fakeSubscription("sub_1", req["product_id"].(string), q, nil)
}

func (f *fakeDodo) counts() (posts, lookups int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts, f.lookups
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// stall holds a request until the client gives up on it.
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}
