package standin

import (
	"github.com/offerflow/offerflow/internal/dodo/dodospec"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// specPath is Dodo's OpenAPI spec, v1.113.0 (the copy in internal/dodo/dodospec).
var specPath = dodospec.Path()

// spec validates the stand-in's traffic against Dodo's OpenAPI spec with
// kin-openapi, which loads the spec's OpenAPI 3.1 and validates with its
// JSON Schema 2020-12 validator. It records what it validated, for
// TestSpecCoverage.
type spec struct {
	doc    *openapi3.T
	routes []specRoute
	errSch *openapi3.Schema

	mu       sync.Mutex
	coverage map[string]string // "METHOD path status" -> how it was checked
}

type specRoute struct {
	re     *regexp.Regexp
	path   string
	params []string
}

var (
	specOnce sync.Once
	specVal  *spec
	specErr  error
)

// loadSpec loads the spec once per test binary.
func loadSpec(t *testing.T) *spec {
	t.Helper()
	specOnce.Do(func() { specVal, specErr = newSpec(specPath) })
	if specErr != nil {
		t.Fatalf("load Dodo's OpenAPI spec %s: %v", specPath, specErr)
	}
	return specVal
}

func newSpec(path string) (*spec, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("kin-openapi: %w", err)
	}
	// The spec's own examples break its schemas in places (for example
	// entitlement_grant.created's "delivered" where the enum says
	// "Delivered"), so they are not validated; everything else is.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("kin-openapi validate: %w", err)
	}
	// Dodo's API since v1.113.0, as its TypeScript SDK 2.52.0 types it.
	if err := applyDrift(doc); err != nil {
		return nil, err
	}
	s := &spec{doc: doc, coverage: map[string]string{}}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	quotedParam := regexp.MustCompile(`\\\{[^}]+\\\}`) // a {param} after regexp.QuoteMeta
	for path := range doc.Paths.Map() {
		var names []string
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			names = append(names, m[1])
		}
		re := quotedParam.ReplaceAllString("^"+regexp.QuoteMeta(path)+"$", `([^/]+)`)
		s.routes = append(s.routes, specRoute{re: regexp.MustCompile(re), path: path, params: names})
	}
	// Fewest parameters first, so that a literal segment beats a parameter
	// (as in /subscriptions/{id}/change-plan/scheduled, never ambiguous in
	// this spec, but cheap to get right).
	sort.Slice(s.routes, func(i, j int) bool { return len(s.routes[i].params) < len(s.routes[j].params) })
	// Dodo's error body (api-facts, D-ERR); the spec has no schema for it.
	s.errSch = &openapi3.Schema{
		Type:     &openapi3.Types{openapi3.TypeObject},
		Required: []string{"code", "message"},
		Properties: openapi3.Schemas{
			"code":    openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, Pattern: `^[A-Z][A-Z0-9_]*$`}),
			"message": openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, MinLength: 1}),
		},
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
	}
	return s, nil
}

// route finds the spec's operation for a request.
func (s *spec) route(r *http.Request) (*routers.Route, map[string]string, error) {
	for _, rt := range s.routes {
		m := rt.re.FindStringSubmatch(r.URL.Path)
		if m == nil {
			continue
		}
		item := s.doc.Paths.Value(rt.path)
		op := item.GetOperation(r.Method)
		if op == nil {
			continue
		}
		params := map[string]string{}
		for i, name := range rt.params {
			params[name] = m[i+1]
		}
		return &routers.Route{Spec: s.doc, Path: rt.path, PathItem: item, Method: r.Method, Operation: op}, params, nil
	}
	return nil, nil, fmt.Errorf("no operation in the spec for %s %s", r.Method, r.URL.Path)
}

// check validates one exchange with the stand-in:
//
//   - the request against the operation's parameters and request body: a
//     request the spec refuses must get a 4xx (the tests send some on
//     purpose);
//   - a 2xx answer, or an error status the spec lists for the operation,
//     against the spec's response (body schema where it has one; kin-openapi
//     fails on a status the operation does not list);
//   - every error answer against Dodo's {"code","message"} error body, which
//     the spec does not define.
func (s *spec) check(t *testing.T, req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	t.Helper()
	ctx := context.Background()
	if strings.HasPrefix(req.URL.Path, "/_standin/") {
		// The stand-in's own test routes: not in Dodo's spec, but their
		// errors keep to Dodo's error body.
		s.record(req.Method+" "+req.URL.Path+" (stand-in's own)", resp.StatusCode, "error body")
		if resp.StatusCode >= 400 {
			s.checkErrorBody(t, req, resp.StatusCode, body)
		}
		return
	}
	route, params, err := s.route(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%v (answered %d)", err, resp.StatusCode)
		}
		s.record(req.Method+" (no route)", resp.StatusCode, "error body")
		s.checkErrorBody(t, req, resp.StatusCode, body)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(ctx), PathParams: params, Route: route, Options: opts}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		t.Errorf("%s %s: the spec refuses the request (%v) but the stand-in answered %d", req.Method, req.URL.Path, reqErr, resp.StatusCode)
	}

	key := req.Method + " " + route.Path
	how, err := s.validateResponse(in, resp.StatusCode, resp.Header, body)
	if err != nil {
		t.Errorf("%s %s: %d answer does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	s.record(key, resp.StatusCode, how)
	if resp.StatusCode >= 400 {
		s.checkErrorBody(t, req, resp.StatusCode, body)
	}
}

// validateResponse validates an answer to the request in in, if it is a
// 2xx or a status the operation lists, and says how it was checked.
func (s *spec) validateResponse(in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) (string, error) {
	r := in.Route.Operation.Responses.Status(status)
	if status >= 300 && r == nil {
		return "status not in spec", nil
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: h,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	how := "no schema in spec"
	if r != nil && r.Value != nil && len(r.Value.Content) > 0 {
		how = "schema"
	}
	return how, openapi3filter.ValidateResponse(context.Background(), out)
}

func (s *spec) checkErrorBody(t *testing.T, req *http.Request, status int, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s %s: %d answer is not JSON: %s", req.Method, req.URL.Path, status, body)
		return
	}
	if err := s.errSch.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("%s %s: %d answer is not Dodo's error body: %v\nbody: %s", req.Method, req.URL.Path, status, err, body)
	}
}

func (s *spec) record(key string, status int, how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coverage[fmt.Sprintf("%s %d", key, status)] = how
}

// validateWebhook validates a webhook delivery against the spec's webhooks
// section: the request body of the POST operation of webhooks[type].
func (s *spec) validateWebhook(typ string, h http.Header, body []byte) error {
	item, ok := s.doc.Webhooks[typ]
	if !ok || item.Post == nil || item.Post.RequestBody == nil {
		return fmt.Errorf("webhook type %q is not in the spec", typ)
	}
	req, err := http.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h.Clone()
	in := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: s.doc, Path: "/webhook", Method: http.MethodPost, Operation: item.Post},
		Options: &openapi3filter.Options{MultiError: true},
	}
	if err := openapi3filter.ValidateRequestBody(context.Background(), in, item.Post.RequestBody.Value); err != nil {
		return fmt.Errorf("webhook %s does not match the spec: %v\nbody: %s", typ, err, body)
	}
	s.record("WEBHOOK "+typ, 0, "schema")
	return nil
}

// TestSpecCoverage drives every route of the stand-in through its success
// and error answers, and then checks that every route had a 2xx answer
// validated against the spec, and every webhook type it sends a body
// validated. All the other tests validate their traffic the same way.
func TestSpecCoverage(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	subID, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	change := func(product, mode string) map[string]any {
		return map[string]any{"product_id": product, "quantity": 1, "proration_billing_mode": mode}
	}
	calls := []struct {
		name         string
		method, path string
		body         any
		want         int
	}{
		{"customer", "GET", "/customers/" + custAna, nil, 200},
		{"customer with phone", "GET", "/customers/" + custBo, nil, 200},
		{"unknown customer", "GET", "/customers/cus_nobody", nil, 404},
		{"payment methods", "GET", "/customers/" + custAna + "/payment-methods", nil, 200},
		{"payment methods of unknown customer", "GET", "/customers/cus_nobody/payment-methods", nil, 404},
		{"one-time product", "GET", "/products/" + pdtGuide, nil, 200},
		{"recurring product", "GET", "/products/" + pdtPro, nil, 200},
		{"yearly product", "GET", "/products/" + pdtYearly, nil, 200},
		{"unknown product", "GET", "/products/pdt_nothing", nil, 404},
		{"one-click succeeds", "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 2)), 200},
		{"one-click declined", "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)), 200},
		{"one-click subscription", "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtStart, 1)), 200},
		{"fallback checkout", "POST", "/checkouts", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custAna}, "return_url": "https://merchant.example/thanks"}, 200},
		{"checkout without confirm", "POST", "/checkouts", func() any { b := oneClick(custAna, pmVisa, item(pdtGuide, 1)); b["confirm"] = false; return b }(), 422},
		{"checkout not JSON", "POST", "/checkouts", "{", 400},
		{"checkout unknown product", "POST", "/checkouts", oneClick(custAna, pmVisa, item("pdt_nothing", 1)), 404},
		{"checkout status", "GET", "/checkouts/cks_0000000001", nil, 200},
		{"checkout status of fallback", "GET", "/checkouts/cks_0000000004", nil, 200},
		{"unknown checkout", "GET", "/checkouts/cks_nothing", nil, 404},
		{"payment", "GET", "/payments/pay_0000000001", nil, 200},
		{"failed payment", "GET", "/payments/pay_0000000002", nil, 200},
		{"subscription payment", "GET", "/payments/pay_0000000003", nil, 200},
		{"unknown payment", "GET", "/payments/pay_nothing", nil, 404},
		{"payments", "GET", "/payments", nil, 200},
		{"payments filtered", "GET", "/payments?customer_id=" + custAna + "&status=succeeded&created_at_gte=2026-04-01T00:00:00Z&created_at_lte=2026-05-01T00:00:00Z&page_size=5&page_number=0", nil, 200},
		{"payments bad page size", "GET", "/payments?page_size=many", nil, 422},
		{"subscription", "GET", "/subscriptions/" + subID, nil, 200},
		{"subscriptions", "GET", "/subscriptions?customer_id=" + custAna, nil, 200},
		{"unknown subscription", "GET", "/subscriptions/sub_nothing", nil, 404},
		{"preview upgrade", "POST", "/subscriptions/" + subID + "/change-plan/preview", change(pdtPro, ProratedImmediately), 200},
		{"preview downgrade", "POST", "/subscriptions/" + subID + "/change-plan/preview", change(pdtStart, DifferenceImmediately), 200},
		{"preview full", "POST", "/subscriptions/" + subID + "/change-plan/preview", change(pdtPro, FullImmediately), 200},
		{"preview scheduled", "POST", "/subscriptions/" + subID + "/change-plan/preview", map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": FullImmediately, "effective_at": "next_billing_date"}, 200},
		{"preview unknown subscription", "POST", "/subscriptions/sub_nothing/change-plan/preview", change(pdtPro, DoNotBill), 404},
		{"preview scheduled with prorated", "POST", "/subscriptions/" + subID + "/change-plan/preview", map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": ProratedImmediately, "effective_at": "next_billing_date"}, 422},
		{"change plan", "POST", "/subscriptions/" + subID + "/change-plan", change(pdtPro, ProratedImmediately), 200},
		{"change plan to another currency", "POST", "/subscriptions/" + subID + "/change-plan", change(pdtProEUR, ProratedImmediately), 422},
		{"schedule change", "POST", "/subscriptions/" + subID + "/change-plan", map[string]any{"product_id": pdtStart, "quantity": 1, "proration_billing_mode": FullImmediately, "effective_at": "next_billing_date"}, 200},
		{"subscription with scheduled change", "GET", "/subscriptions/" + subID, nil, 200},
		{"second change while scheduled", "POST", "/subscriptions/" + subID + "/change-plan", change(pdtBasic, DoNotBill), 409},
		{"cancel scheduled change", "DELETE", "/subscriptions/" + subID + "/change-plan/scheduled", nil, 204},
		{"cancel when none scheduled", "DELETE", "/subscriptions/" + subID + "/change-plan/scheduled", nil, 404},
		{"cancel for unknown subscription", "DELETE", "/subscriptions/sub_nothing/change-plan/scheduled", nil, 422},
		{"downgrade on declined card", "POST", "/subscriptions/" + subID + "/change-plan", change(pdtStart, DoNotBill), 200},
		{"unknown route", "GET", "/nowhere", nil, 404},

		{"create customer", "POST", "/customers", map[string]any{"email": "cy@example.com", "name": "Cy", "phone_number": "+15550100", "metadata": map[string]any{"crm": "42"}}, 200},
		{"create customer without name", "POST", "/customers", map[string]any{"email": "cy@example.com"}, 422},
		{"customers", "GET", "/customers", nil, 200},
		{"customers by email", "GET", "/customers?email=ANA@&page_size=1&page_number=0", nil, 200},
		{"customers bad page", "GET", "/customers?page_number=-1", nil, 422},
		{"portal session", "POST", "/customers/" + custAna + "/customer-portal/session?send_email=false&return_url=https://merchant.example", nil, 200},
		{"portal session of unknown customer", "POST", "/customers/cus_nobody/customer-portal/session", nil, 404},
		{"portal session bad send_email", "POST", "/customers/" + custAna + "/customer-portal/session?send_email=maybe", nil, 422},
		{"products", "GET", "/products", nil, 200},
		{"recurring products", "GET", "/products?recurring=true&brand_id=bus_test&page_size=2", nil, 200},
		{"products bad recurring", "GET", "/products?recurring=yes", nil, 422},
		{"payments by brand and status", "GET", "/payments?brand_id=bus_test&status=failed", nil, 200},
		{"payments bad status", "GET", "/payments?status=paid", nil, 422},
		{"payments bad currency", "GET", "/payments?currency=usd", nil, 422},
		{"refund in part", "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001", "items": []any{map[string]any{"item_id": pdtGuide, "amount": 500}}, "reason": "changed mind"}, 200},
		{"refund the rest", "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001"}, 200},
		{"refunded payment", "GET", "/payments/pay_0000000001", nil, 200},
		{"refund again", "POST", "/refunds", map[string]any{"payment_id": "pay_0000000001"}, 422},
		{"refund", "GET", "/refunds/ref_0000000001", nil, 200},
		{"unknown refund", "GET", "/refunds/ref_nothing", nil, 404},
		{"refunds", "GET", "/refunds?customer_id=" + custAna + "&status=succeeded&page_size=5", nil, 200},
		{"refunds bad status", "GET", "/refunds?status=done", nil, 422},
		{"refund failed payment", "POST", "/refunds", map[string]any{"payment_id": "pay_0000000002"}, 422},
		{"refund not JSON", "POST", "/refunds", "{", 400},
		{"one-time payment with a card", "POST", "/payments", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custAna}, "payment_method_id": pmVisa, "billing": map[string]any{"country": "US"}}, 200},
		{"one-time payment link", "POST", "/payments", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"email": "dee@example.com", "name": "Dee"}, "billing": map[string]any{"country": "US"}, "payment_link": true}, 200},
		{"one-time payment of a subscription", "POST", "/payments", map[string]any{"product_cart": []any{item(pdtBasic, 1)}, "customer": map[string]any{"customer_id": custAna}, "billing": map[string]any{"country": "US"}}, 422},
		{"on-demand charge", "POST", "/subscriptions/" + subID + "/charge", map[string]any{"product_price": 1500, "product_currency": "USD", "metadata": map[string]any{"why": "overage"}}, 200},
		{"on-demand charge without price", "POST", "/subscriptions/" + subID + "/charge", map[string]any{}, 422},
		{"on-demand charge unknown subscription", "POST", "/subscriptions/sub_nothing/charge", map[string]any{"product_price": 1}, 404},
		{"schedule cancel", "PATCH", "/subscriptions/" + subID, map[string]any{"cancel_at_next_billing_date": true}, 200},
		{"unschedule cancel", "PATCH", "/subscriptions/" + subID, map[string]any{"cancel_at_next_billing_date": false, "metadata": map[string]any{"plan": "b"}}, 200},
		{"pause", "PATCH", "/subscriptions/" + subID, map[string]any{"pause": true}, 200},
		{"resume", "PATCH", "/subscriptions/" + subID, map[string]any{"pause": false}, 200},
		{"bad status", "PATCH", "/subscriptions/" + subID, map[string]any{"status": "on_hold"}, 422},
		{"patch unknown subscription", "PATCH", "/subscriptions/sub_nothing", map[string]any{"pause": true}, 404},
	}
	for _, c := range calls {
		if got, body := e.do(c.method, c.path, c.body); got != c.want {
			t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, got, body, c.want)
		}
	}
	// A renewal and a plan change that fails with apply_change complete
	// the webhook types.
	e.clock.Set(date(2026, 5, 1))
	if n := e.s.RenewDue(); n < 1 {
		t.Errorf("RenewDue() = %d, want at least 1", n)
	}
	e.mustDo(200, "PATCH", "/subscriptions/"+subID, map[string]any{"status": "cancelled", "cancel_reason": "cancelled_by_customer", "cancellation_feedback": "too_expensive"})
	e.mustDo(200, "GET", "/subscriptions/"+subID, nil)
	pm3DS := decode[struct {
		ID string `json:"payment_method_id"`
	}](t, e.mustDo(200, "POST", "/_standin/customers/"+custBo+"/payment-methods", map[string]any{"test_card": "3ds"})).ID
	e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pm3DS, item(pdtGuide, 1)))
	bo, _ := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmDecline, PeriodStart: date(2026, 4, 16), PeriodEnd: date(2026, 5, 16)})
	e.mustDo(200, "POST", "/subscriptions/"+bo+"/change-plan", map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": DifferenceImmediately, "on_payment_failure": ApplyChange})
	if got, want := e.doKeyStatus("", "GET", "/payments"), 401; got != want {
		t.Errorf("GET /payments without the API key = %d, want %d", got, want)
	}
	e.flush()

	s := e.spec
	s.mu.Lock()
	defer s.mu.Unlock()
	wantOK := []string{
		"GET /customers/{customer_id} 200", "GET /customers/{customer_id}/payment-methods 200", "GET /products/{id} 200",
		"GET /payments 200", "GET /payments/{payment_id} 200", "GET /subscriptions/{subscription_id} 200",
		"POST /checkouts 200", "GET /checkouts/{id} 200", "POST /subscriptions/{subscription_id}/change-plan/preview 200",
		"POST /subscriptions/{subscription_id}/change-plan 200", "DELETE /subscriptions/{subscription_id}/change-plan/scheduled 204",
		"POST /subscriptions/{subscription_id}/change-plan 409", "POST /subscriptions/{subscription_id}/change-plan 422",
		"POST /checkouts 422", "GET /checkouts/{id} 404", "DELETE /subscriptions/{subscription_id}/change-plan/scheduled 404",
		"DELETE /subscriptions/{subscription_id}/change-plan/scheduled 422",
		"POST /customers 200", "POST /customers 422", "GET /customers 200", "GET /customers 422", "GET /products 200", "GET /products 422",
		"POST /customers/{customer_id}/customer-portal/session 200", "POST /customers/{customer_id}/customer-portal/session 422",
		"POST /refunds 200", "POST /refunds 400", "GET /refunds 200", "GET /refunds/{refund_id} 200", "POST /refunds 422", "POST /payments 200", "POST /payments 422",
		"POST /subscriptions/{subscription_id}/charge 200", "POST /subscriptions/{subscription_id}/charge 422",
		"PATCH /subscriptions/{subscription_id} 200", "PATCH /subscriptions/{subscription_id} 422",
	}
	// Every route of Dodo's the stand-in serves had a success answer
	// validated: its pattern is the spec's path, parameters named alike.
	for _, rt := range e.s.dodoRoutes() {
		ok := rt.pattern + " 200"
		if strings.HasPrefix(rt.pattern, "DELETE ") {
			ok = rt.pattern + " 204"
		}
		wantOK = append(wantOK, ok)
	}
	for _, k := range wantOK {
		if how, ok := s.coverage[k]; !ok || how == "status not in spec" {
			t.Errorf("coverage[%q] = %q, want validated against the spec", k, how)
		}
	}
	for _, typ := range []string{"payment.succeeded", "payment.failed", "subscription.active", "subscription.plan_changed",
		"subscription.on_hold", "subscription.updated", "subscription.renewed", "refund.succeeded", "subscription.cancelled",
		"subscription.paused", "subscription.unpaused", "payment.processing"} {
		if _, ok := s.coverage["WEBHOOK "+typ+" 0"]; !ok {
			t.Errorf("webhook %s was never validated", typ)
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range s.coverage {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-75s %s", k, s.coverage[k])
	}
	t.Logf("validated against %s:%s", specPath, b.String())
}

func (e *env) doKeyStatus(key, method, path string) int {
	e.t.Helper()
	status, _ := e.doKey(key, method, path, nil)
	return status
}

// TestSpecValidatorRejects is the validator's negative control: bodies
// that break the spec must fail, so a passing validation means something.
func TestSpecValidatorRejects(t *testing.T) {
	s := loadSpec(t)
	e := newEnv(t, date(2026, 4, 16))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.flush()
	good := e.recv.received()[0].Body
	if err := s.validateWebhook("payment.succeeded", http.Header{"Content-Type": {"application/json"}}, good); err != nil {
		t.Fatalf("the stand-in's own webhook: %v", err)
	}
	mutate := func(f func(data map[string]any)) []byte {
		var env map[string]any
		if err := json.Unmarshal(good, &env); err != nil {
			t.Fatal(err)
		}
		f(env["data"].(map[string]any))
		b, _ := json.Marshal(env)
		return b
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"status not in IntentStatus", mutate(func(d map[string]any) { d["status"] = "paid" })},
		{"required brand_id missing", mutate(func(d map[string]any) { delete(d, "brand_id") })},
		{"total_amount a string", mutate(func(d map[string]any) { d["total_amount"] = "1900" })},
		{"currency not ISO 4217", mutate(func(d map[string]any) { d["currency"] = "usd" })},
		{"metadata value an object", mutate(func(d map[string]any) { d["metadata"] = map[string]any{"k": map[string]any{}} })},
		{"customer without email", mutate(func(d map[string]any) { delete(d["customer"].(map[string]any), "email") })},
		{"created_at not a date-time", mutate(func(d map[string]any) { d["created_at"] = "yesterday" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.validateWebhook("payment.succeeded", http.Header{"Content-Type": {"application/json"}}, tt.body)
			if err == nil {
				t.Errorf("validateWebhook accepted %s", tt.body)
			}
		})
	}
	if err := s.validateWebhook("payment.refunded_twice", nil, good); err == nil {
		t.Errorf("validateWebhook accepted an unknown type")
	}

	// The same for answers: GET /payments/{id} with a broken body, and a
	// status the operation does not list.
	req := httptest.NewRequest(http.MethodGet, "/payments/pay_1", nil)
	route, params, err := s.route(req)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	h := http.Header{"Content-Type": {"application/json"}}
	var env map[string]any
	_ = json.Unmarshal(good, &env)
	data := env["data"].(map[string]any)
	delete(data, "payload_type")
	okBody, _ := json.Marshal(data)
	if _, err := s.validateResponse(in, 200, h, okBody); err != nil {
		t.Errorf("validateResponse refused a good payment: %v", err)
	}
	data["retry_attempt"] = "none"
	badBody, _ := json.Marshal(data)
	if _, err := s.validateResponse(in, 200, h, badBody); err == nil {
		t.Errorf("validateResponse accepted retry_attempt \"none\"")
	}
	if _, err := s.validateResponse(in, 201, h, okBody); err == nil {
		t.Errorf("validateResponse accepted status 201, which the operation does not list")
	}
}
