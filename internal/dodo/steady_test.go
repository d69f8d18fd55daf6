package dodo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/offers"
)

// Contract tests: every request the client can send goes to Steady (npm
// @stdy/cli, the mock server Dodo's own SDKs test against) running on
// Dodo's OpenAPI spec. A request the spec rejects fails the test, and the
// client decodes Steady's spec-shaped answers.
//
// Steady alone is not strict enough, so the harness adds three checks (see
// steadyCall.problems): Steady answers 200 with x-steady-request-valid: true
// for diagnostics below "error" (an undocumented query parameter, a date
// that is not date-time, a number out of range, a metadata value no oneOf
// variant matches), so any diagnostic fails the test; Steady accepts body
// fields the spec does not define, so every body is also checked against
// the spec's schema for unknown and missing keys; and Steady ignores
// Authorization, so the harness checks the bearer header itself.

// steadyVersion is the version of @stdy/cli the check script installs.
const steadyVersion = "0.22.2"

const steadyInstall = "install Steady, the mock server Dodo's SDKs test against, with " +
	"`npm install --prefix .tools @stdy/cli@" + steadyVersion + "` in the repository root " +
	"(./scripts/check.sh does it), put `steady` on PATH, or set STEADY_BIN to its binary"

// steadyBinary finds Steady: $STEADY_BIN, else steady on PATH, else
// <repo>/.tools/node_modules/.bin/steady. Without it the test fails in CI
// (CI set) and is skipped elsewhere.
func steadyBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STEADY_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("STEADY_BIN=%s: %v; %s", p, err, steadyInstall)
		}
		return p
	}
	if p, err := exec.LookPath("steady"); err == nil {
		return p
	}
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "node_modules", ".bin", "steady")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Steady not found (CI is set, so the contract tests must run): %s", steadyInstall)
	}
	t.Skipf("Steady not found, contract tests skipped: %s", steadyInstall)
	return ""
}

// repoRoot is the nearest directory above the working directory with a
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// lockedBuffer collects Steady's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSteady runs Steady on the spec on a free port until the test ends,
// and returns its URL.
//
// Steady takes a port number, not a listener, so the port is chosen by
// binding and releasing it, and another process can take it in between
// (seen under scripts/stress.sh: "Address already in use"). Only then, with
// nothing of Steady running, is another port tried.
func startSteady(t *testing.T) string {
	t.Helper()
	bin := steadyBinary(t)
	_, spec := loadSpec(t)
	for attempt := 1; ; attempt++ {
		base, taken := trySteady(t, bin, spec)
		if !taken {
			return base
		}
		if attempt == 5 {
			t.Fatalf("steady found its port taken %d times in a row", attempt)
		}
		t.Logf("steady's port was taken before it could bind it; trying another")
	}
}

// trySteady starts Steady on a port that was free a moment ago. It returns
// Steady's URL once healthy, or taken when Steady exited because another
// process had bound the port meanwhile; anything else fails the test.
func trySteady(t *testing.T, bin, spec string) (base string, taken bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()

	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "-p", port, "--log-level", "summary", spec)
	cmd.Stdout, cmd.Stderr = out, out
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v; %s", bin, err, steadyInstall)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// steady is a node script that runs the real binary as a child:
		// signal the whole group, then make sure.
		signalGroup(cmd, false)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			signalGroup(cmd, true)
			<-exited
		}
	})

	base = "http://127.0.0.1:" + port
	// A bound for a Steady that never gets healthy, far above its start
	// (under a second), so that a loaded machine does not hit it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/_x-steady/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, false
			}
		}
		select {
		case <-exited:
			if strings.Contains(out.String(), "Address already in use") {
				return "", true
			}
			t.Fatalf("steady exited before it was healthy:\n%s", out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("steady not healthy on %s after 2 minutes:\n%s", base, out)
		}
	}
}

// steadyCall is one request seen by Steady and its verdict.
type steadyCall struct {
	request     string // method and path as sent
	auth        string
	status      int
	valid       string   // x-steady-request-valid
	matched     string   // x-steady-matched-path
	diagnostics []string // x-steady-error-N-*
	schemaIssue []string // checkValue of the body
	err         error
}

// problems is why the call does not keep to the spec; empty if it does.
func (c steadyCall) problems() []string {
	var p []string
	if c.err != nil {
		p = append(p, "transport: "+c.err.Error())
	}
	if c.auth != "Bearer "+testKey {
		p = append(p, fmt.Sprintf("Authorization %q, want the bearer key (Steady does not check it)", c.auth))
	}
	if c.valid != "true" {
		p = append(p, fmt.Sprintf("steady: x-steady-request-valid %q (status %d)", c.valid, c.status))
	}
	if c.matched == "" {
		p = append(p, "steady matched no path of the spec")
	}
	p = append(p, c.diagnostics...)
	return append(p, c.schemaIssue...)
}

// steadyRecorder is the client's transport in the contract tests: it
// records Steady's verdict on every request, and can steer Steady's
// generator with X-Steady-* request headers.
type steadyRecorder struct {
	spec *openAPI
	// steer, if set, returns headers to add to a request.
	steer func(r *http.Request) http.Header

	mu    sync.Mutex
	calls []steadyCall
}

func (s *steadyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	call := steadyCall{request: req.Method + " " + req.URL.RequestURI(), auth: req.Header.Get("Authorization")}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := req.Clone(req.Context())
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	if s.steer != nil {
		for k, v := range s.steer(req) {
			out.Header[k] = v
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		call.err = err
		s.record(call)
		return nil, err
	}
	h := resp.Header
	call.status, call.valid, call.matched = resp.StatusCode, h.Get("X-Steady-Request-Valid"), h.Get("X-Steady-Matched-Path")
	n, _ := strconv.Atoi(h.Get("X-Steady-Error-Count"))
	for i := 1; i <= n; i++ {
		pre := fmt.Sprintf("X-Steady-Error-%d-", i)
		code, path, msg := h.Get(pre+"Code"), h.Get(pre+"Path"), h.Get(pre+"Message")
		if integerMetadata(code, path, msg) {
			continue
		}
		call.diagnostics = append(call.diagnostics, fmt.Sprintf("steady %s at %s: %s", code, path, msg))
	}
	if body != nil && call.matched != "" {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			call.schemaIssue = append(call.schemaIssue, "body is not JSON: "+err.Error())
		} else if sc := s.spec.requestSchema(req.Method, call.matched); sc == nil {
			call.schemaIssue = append(call.schemaIssue, "the spec has no JSON body for "+req.Method+" "+call.matched)
		} else {
			call.schemaIssue = append(call.schemaIssue, s.spec.checkValue(sc, v, "body")...)
		}
	}
	s.record(call)
	return resp, nil
}

// integerMetadata reports Steady's warning about an integer metadata
// value. The spec's Metadata is a oneOf of string, integer (int64), number
// (double) and boolean; an integer is also a number, so it matches two
// variants and Steady warns "2 variants structurally match, ambiguous"
// (strict oneOf would even reject it). The spec means anyOf: integers are
// explicitly allowed. Every other diagnostic, including "No variant
// matched" on metadata, still fails the test.
func integerMetadata(code, path, msg string) bool {
	return code == "E3012" && strings.Contains(path, "metadata.") && strings.Contains(msg, "2 variants structurally match")
}

func (s *steadyRecorder) record(c steadyCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

// take returns the calls recorded since the last take.
func (s *steadyRecorder) take() []steadyCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// requireSpecValid fails the test for every recorded call that does not
// keep to the spec, with Steady's messages, and checks how many there were.
func (s *steadyRecorder) requireSpecValid(t *testing.T, wantCalls int) {
	t.Helper()
	calls := s.take()
	if len(calls) != wantCalls {
		t.Errorf("requests: got %d, want %d", len(calls), wantCalls)
	}
	for _, c := range calls {
		if p := c.problems(); len(p) > 0 {
			t.Errorf("%s does not keep to Dodo's spec:\n  %s", c.request, strings.Join(p, "\n  "))
		}
	}
}

// contractClient starts Steady and returns a Client of it whose requests
// the recorder sees.
func contractClient(t *testing.T) (*Client, *steadyRecorder) {
	t.Helper()
	base := startSteady(t)
	spec, _ := loadSpec(t)
	rec := &steadyRecorder{spec: spec}
	c, err := New(Config{APIKey: testKey, BaseURL: base, HTTPClient: &http.Client{Transport: rec}, RateLimit: -1, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// expect reports a failed call, or an answer whose decoding lacks what
// Steady generated (the spec's required fields).
func expect(t *testing.T, what string, err error, ok bool, got any) {
	t.Helper()
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case !ok:
		t.Errorf("%s: decoded %+v, want the required fields Steady generated", what, got)
	}
}

func TestContract(t *testing.T) {
	c, rec := contractClient(t)
	ctx := context.Background()

	t.Run("reads", func(t *testing.T) {
		// Several seeds and two items per array, for some variety in
		// Steady's generated answers.
		for seed := 1; seed <= 4; seed++ {
			rec.steer = func(*http.Request) http.Header {
				return http.Header{"X-Steady-Seed": {strconv.Itoa(seed)}, "X-Steady-Array-Size": {"2"}}
			}
			pms, err := c.ListPaymentMethods(ctx, "cus_TV52uJWWXt2yIoBBxpjaa")
			expect(t, fmt.Sprintf("seed %d: ListPaymentMethods", seed), err, len(pms) == 2 && pms[0].PaymentMethodID != "" && pms[0].PaymentMethod != "", pms)
			p, err := c.GetProduct(ctx, "pdt_R8AWMPiV8RyJElcCKvAID")
			_, hasAmount := p.Price.Amount()
			expect(t, fmt.Sprintf("seed %d: GetProduct", seed), err, p.ProductID != "" && p.Price.Currency != "" && p.Price.Type != "" && hasAmount, p)
			cu, err := c.GetCustomer(ctx, "cus_TV52uJWWXt2yIoBBxpjaa")
			expect(t, fmt.Sprintf("seed %d: GetCustomer", seed), err, cu.CustomerID != "" && cu.Email != "" && !cu.CreatedAt.IsZero(), cu)
			pay, err := c.GetPayment(ctx, "pay_gr4RizvMOXFJ6xca3y2tU")
			expect(t, fmt.Sprintf("seed %d: GetPayment", seed), err, pay.PaymentID != "" && pay.Currency != "" && pay.Customer.CustomerID != "" && !pay.CreatedAt.IsZero() && pay.Billing.Country != "", pay)
			sub, err := c.GetSubscription(ctx, "sub_Iuaq622bbmmfOGrVTqdXv")
			expect(t, fmt.Sprintf("seed %d: GetSubscription", seed), err, sub.SubscriptionID != "" && sub.ProductID != "" && sub.Status != "" && !sub.NextBillingDate.IsZero(), sub)
			rec.requireSpecValid(t, 5)
		}
		rec.steer = nil
	})

	t.Run("list payments with every filter", func(t *testing.T) {
		gte := time.Date(2026, 8, 20, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
		lte := gte.Add(24 * time.Hour)
		for _, tt := range []struct {
			name string
			p    ListPaymentsParams
		}{
			{name: "none", p: ListPaymentsParams{}},
			{name: "customer", p: ListPaymentsParams{CustomerID: "cus_1"}},
			{name: "subscription", p: ListPaymentsParams{SubscriptionID: "sub_1"}},
			{name: "status", p: ListPaymentsParams{Status: "requires_customer_action"}},
			{name: "created after", p: ListPaymentsParams{CreatedAtGte: &gte}},
			{name: "created before", p: ListPaymentsParams{CreatedAtLte: &lte}},
			{name: "paging", p: ListPaymentsParams{PageSize: 100, PageNumber: 2}},
			{name: "all together", p: ListPaymentsParams{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: "succeeded", CreatedAtGte: &gte, CreatedAtLte: &lte, PageSize: 1, PageNumber: 1}},
		} {
			got, err := c.ListPayments(ctx, tt.p)
			expect(t, tt.name+": ListPayments", err, len(got) > 0 && got[0].PaymentID != "" && got[0].Customer.CustomerID != "" && !got[0].CreatedAt.IsZero(), got)
			rec.requireSpecValid(t, 1)
		}
	})

	t.Run("list all payments stops at an empty page", func(t *testing.T) {
		rec.steer = func(r *http.Request) http.Header {
			if n, _ := strconv.Atoi(r.URL.Query().Get("page_number")); n >= 2 {
				return http.Header{"X-Steady-Array-Size": {"0"}}
			}
			return nil
		}
		defer func() { rec.steer = nil }()
		got, err := c.ListAllPayments(ctx, ListPaymentsParams{CustomerID: "cus_1"})
		expect(t, "ListAllPayments (pages 0 and 1, then an empty page)", err, len(got) == 2, got)
		rec.requireSpecValid(t, 3)
	})

	t.Run("checkouts", func(t *testing.T) {
		amount := int64(2500)
		for _, tt := range []struct {
			name string
			req  CheckoutRequest
		}{
			{name: "one-click", req: oneClickRequest()},
			{name: "one-click without zipcode or return URL", req: OneClickCheckout(OneClick{CustomerID: "cus_1", PaymentMethodID: "pm_1", ProductID: "pdt_1", Quantity: 2, Country: "DE", IdempotencyKey: "k2"})},
			{name: "fallback, existing customer", req: FallbackCheckout(Fallback{CustomerID: "cus_1", ProductID: "pdt_1", Country: "US", Zipcode: "94102", ReturnURL: "https://shop.example/r", CancelURL: "https://shop.example/c", ShowSavedPaymentMethods: true, Metadata: wire.Metadata{"n": wire.IntValue(1), "f": wire.FloatValue(1.5), "b": wire.BoolValue(true)}, IdempotencyKey: "k3"})},
			{name: "fallback, new customer", req: FallbackCheckout(Fallback{Email: "ana@example.com", Name: "Ana", ProductID: "pdt_1"})},
			{name: "every field the client has", req: CheckoutRequest{
				ProductCart:             []ProductItem{{ProductID: "pdt_1", Quantity: 1, Amount: &amount, Addons: []AddonRequest{{AddonID: "adn_1", Quantity: 2}}}},
				Customer:                &CustomerRequest{Email: "ana@example.com", Name: "Ana", PhoneNumber: "+15555550100"},
				BillingAddress:          &CheckoutBillingAddress{Country: "US", State: optional("CA"), City: optional("San Francisco"), Street: optional("1 Main St"), Zipcode: optional("94102")},
				ReturnURL:               "https://shop.example/r",
				CancelURL:               "https://shop.example/c",
				ShowSavedPaymentMethods: true,
				FeatureFlags:            &FeatureFlags{RedirectImmediately: true},
				DiscountCodes:           []string{"SAVE10"},
				BillingCurrency:         "EUR",
				Metadata:                wire.Metadata{"offer_id": wire.StringValue("o1")},
			}},
		} {
			s, err := c.CreateCheckout(ctx, tt.req)
			expect(t, tt.name+": CreateCheckout", err, s.SessionID != "" && !s.Recovered, s)
			rec.requireSpecValid(t, 1)
		}
	})

	// Every proration mode with both effective_at values and both
	// on_payment_failure values. Dodo's docs allow only full_immediately
	// with next_billing_date; the spec does not encode that, so Steady must
	// accept every combination.
	plans := func(yield func(string, ChangePlanRequest) bool) {
		for _, m := range []offers.Proration{offers.ProratedImmediately, offers.FullImmediately, offers.DifferenceImmediately, offers.DoNotBill} {
			for _, at := range []EffectiveAt{EffectiveImmediately, EffectiveNextBillingDate} {
				for _, onFail := range []OnPaymentFailure{PreventChange, ApplyChange} {
					req := ChangePlanRequest{ProductID: "pdt_pro", Quantity: 1, ProrationBillingMode: m, EffectiveAt: at, OnPaymentFailure: onFail}
					if !yield(fmt.Sprintf("%s/%s/%s", m, at, onFail), req) {
						return
					}
				}
			}
		}
		full := ChangePlanRequest{ProductID: "pdt_pro", Quantity: 3, ProrationBillingMode: offers.DifferenceImmediately, EffectiveAt: EffectiveImmediately,
			OnPaymentFailure: ApplyChange, Addons: []AddonRequest{{AddonID: "adn_1", Quantity: 1}}, DiscountCodes: []string{}, Metadata: wire.Metadata{"offer_id": wire.StringValue("o1")}}
		yield("with addons, no discounts, metadata", full)
	}

	t.Run("preview plan changes", func(t *testing.T) {
		for name, req := range plans {
			p, err := c.PreviewChangePlan(ctx, "sub_Iuaq622bbmmfOGrVTqdXv", req)
			ic := p.ImmediateCharge
			expect(t, name+": PreviewChangePlan", err, p.NewPlan.SubscriptionID != "" && ic.Summary.Currency != "" && !ic.EffectiveAt.IsZero() && len(ic.LineItems) > 0 && ic.LineItems[0].Type != "", p)
			rec.requireSpecValid(t, 1)
		}
	})

	t.Run("change plans", func(t *testing.T) {
		for name, req := range plans {
			// Steady answers the spec's 200 without a body: the zero result.
			res, err := c.ChangePlan(ctx, "sub_Iuaq622bbmmfOGrVTqdXv", req)
			expect(t, name+": ChangePlan", err, res == (wire.ChangePlanResult{}), res)
			rec.requireSpecValid(t, 1)
		}
	})
}

// TestContractHarnessCatchesBadRequests sends requests that do not keep to
// the spec through the same path as TestContract, and requires the
// harness to flag each one.
func TestContractHarnessCatchesBadRequests(t *testing.T) {
	c, rec := contractClient(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		r          request
		noAuth     bool
		want       string // a substring of the problems
		wantSteady bool   // Steady itself rejects it with 400
	}{
		{name: "body of the wrong type (Steady rejects)", r: request{endpoint: "POST /checkouts", method: "POST", path: "/checkouts", body: []byte(`{"product_cart":"pdt_1"}`)}, want: "E3008", wantSteady: true},
		{name: "missing required field (Steady rejects)", r: request{endpoint: "POST /checkouts", method: "POST", path: "/checkouts", body: []byte(`{"customer":{"customer_id":"cus_1"}}`)}, want: "E3007", wantSteady: true},
		{name: "invalid enum (Steady rejects)", r: request{endpoint: "POST /subscriptions/{subscription_id}/change-plan", method: "POST", path: "/subscriptions/sub_1/change-plan", body: []byte(`{"product_id":"p","quantity":1,"proration_billing_mode":"prorated"}`)}, want: "E3016", wantSteady: true},
		{name: "undocumented query parameter (Steady only notes it)", r: request{endpoint: "GET /payments", method: "GET", path: "/payments", query: map[string][]string{"customer": {"cus_1"}}}, want: "E3015"},
		{name: "date that is not date-time (Steady only notes it)", r: request{endpoint: "GET /payments", method: "GET", path: "/payments", query: map[string][]string{"created_at_gte": {"yesterday"}}}, want: "E4001"},
		{name: "misspelt optional field (Steady accepts it)", r: request{endpoint: "POST /subscriptions/{subscription_id}/change-plan", method: "POST", path: "/subscriptions/sub_1/change-plan", body: []byte(`{"product_id":"p","quantity":1,"proration_billing_mode":"do_not_bill","on_payment_failur":"apply_change"}`)}, want: "on_payment_failur: not in the spec"},
		{name: "metadata value no variant matches (Steady only warns)", r: request{endpoint: "POST /checkouts", method: "POST", path: "/checkouts", body: []byte(`{"product_cart":[{"product_id":"p","quantity":1}],"metadata":{"a":{"b":1}}}`)}, want: "E3012"},
		{name: "no Authorization (Steady does not check it)", r: request{endpoint: "GET /customers/{customer_id}", method: "GET", path: "/customers/cus_1"}, noAuth: true, want: "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.noAuth {
				req, _ := http.NewRequestWithContext(ctx, tt.r.method, c.BaseURL()+tt.r.path, nil)
				var resp *http.Response
				if resp, err = (&http.Client{Transport: rec}).Do(req); err == nil {
					_ = resp.Body.Close()
				}
			} else {
				err = c.do(ctx, tt.r, nil)
			}
			calls := rec.take()
			if len(calls) != 1 {
				t.Fatalf("requests: got %d, want 1", len(calls))
			}
			problems := strings.Join(calls[0].problems(), "\n")
			if !strings.Contains(problems, tt.want) {
				t.Fatalf("harness problems:\n%s\nwant one containing %q", problems, tt.want)
			}
			var apiErr *APIError
			if gotSteady := errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest; gotSteady != tt.wantSteady {
				t.Fatalf("client error %v: Steady rejected it with 400 = %v, want %v", err, gotSteady, tt.wantSteady)
			}
		})
	}
}
