package standin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzServer is a stand-in without webhook delivery, seeded with the test
// catalogue and a subscription, for the fuzz targets: they call its
// handler in-process.
func fuzzServer(t *testing.T) (*Server, http.Handler) {
	t.Helper()
	clock := func() time.Time { return date(2026, 4, 16) }
	s := New(Config{BusinessID: "bus_test", APIKey: testAPIKey, Now: clock})
	t.Cleanup(s.Close)
	seed(t, s)
	if _, err := s.AddSubscription(Subscription{ID: "sub_fuzz", CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDiscount(Discount{Code: "TENOFF", Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	return s, s.Handler()
}

// serveFuzz sends one request and checks what every answer must be:
// never a 5xx, always JSON, and Dodo's error body for an error.
func serveFuzz(t *testing.T, h http.Handler, method, target, body string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code >= 500 {
		t.Fatalf("%s %s %q = %d %s", method, target, body, w.Code, w.Body)
	}
	var v map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s %q = %d, not a JSON object: %s", method, target, body, w.Code, w.Body)
	}
	if w.Code >= 400 {
		if c, _ := v["code"].(string); c == "" || v["message"] == nil {
			t.Fatalf("%s %s %q = %d without Dodo's error body: %s", method, target, body, w.Code, w.Body)
		}
	}
}

// bodyRoutes are the routes that read a JSON body from outside.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/customers"},
	{"POST", "/refunds"},
	{"POST", "/payments"},
	{"PATCH", "/subscriptions/sub_fuzz"},
	{"POST", "/subscriptions/sub_fuzz/charge"},
	{"POST", "/checkouts"},
	{"POST", "/_standin/customers/" + custAna + "/payment-methods"},
	{"POST", "/_standin/checkouts/cks_0000000001/complete"},
	{"POST", "/_standin/payments/pay_0000000001/complete"},
	{"POST", "/_standin/discounts"},
	{"POST", "/_standin/clock/advance"},
	{"PUT", "/_standin/webhooks/delivery"},
	{"POST", "/_standin/faults"},
}

// FuzzRequestBodies sends arbitrary bodies to every route that parses one.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{`, `null`, `[]`, `{"email":"a@b.c","name":"A"}`,
		`{"payment_id":"pay_0000000001","items":[{"item_id":"pdt_guide","amount":5}]}`,
		`{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"},"billing":{"country":"US"},"payment_method_id":"pm_visa"}`,
		`{"status":"cancelled","pause":true}`, `{"next_billing_date":"2026-06-01T00:00:00Z"}`,
		`{"product_price":100,"product_currency":"USD"}`, `{"test_card":"3ds"}`, `{"card_number":"4242 4242 4242 4242","exp_month":1,"exp_year":2030}`,
		`{"card":{"test_card":"decline"}}`, `{"authenticated":false}`, `{"code":"X","amount":1}`, `{"seconds":86400}`, `{"to":"2027-01-01T00:00:00Z"}`,
		`{"fail_next":3,"duplicate_next":1,"delay_ms":0}`, `{"metadata":{"a":{"b":1}}}`, `{"route":"POST /checkouts","n":1,"status":503,"code":"X"}`, `{"product_price":1e40}`,
	} {
		for i := range bodyRoutes {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		_, h := fuzzServer(t)
		// A checkout and a payment link first, for the routes that
		// complete them.
		serveFuzz(t, h, "POST", "/checkouts", `{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"}}`)
		serveFuzz(t, h, "POST", "/payments", `{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"},"billing":{"country":"US"}}`)
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		serveFuzz(t, h, r.method, r.path, body)
	})
}

// FuzzListQueries sends arbitrary queries to the list routes and the
// portal session, which parse theirs.
func FuzzListQueries(f *testing.F) {
	paths := []string{"/customers", "/products", "/payments", "/subscriptions", "/refunds"}
	for _, q := range []string{
		"", "page_size=5&page_number=1", "page_size=-1", "page_size=99999999999", "status=paid", "status=succeeded&brand_id=bus_test",
		"created_at_gte=2026-01-01T00:00:00Z", "created_at_lte=x", "recurring=true&archived=false", "email=%41NA&name=a", "currency=usd",
		"cancel_at_next_billing_date=1", "%zz",
	} {
		for i := range paths {
			f.Add(uint8(i), q)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		_, h := fuzzServer(t)
		target := paths[int(route)%len(paths)] + "?" + strings.Map(func(r rune) rune {
			if r == ' ' || r == '#' || r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, query)
		serveFuzz(t, h, "GET", target, "")
		serveFuzz(t, h, "POST", "/customers/"+custAna+"/customer-portal/session?"+target[strings.IndexByte(target, '?')+1:], "")
	})
}
