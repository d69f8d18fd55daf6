package dodo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/offers"
)

// sleeps records the waits of a Client and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// testClient returns a Client of baseURL with instant sleeps, no rate
// limit, and a 2 s attempt timeout, changed by opts.
func testClient(t *testing.T, baseURL string, opts ...func(*Config)) (*Client, *sleeps) {
	t.Helper()
	s := &sleeps{}
	cfg := Config{APIKey: testKey, BaseURL: baseURL, Timeout: 2 * time.Second, RateLimit: -1, Sleep: s.sleep}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	return c, s
}

// scripted answers request n (from 1) with answers[n-1], repeating the
// last one, and counts requests.
type scripted struct {
	n       atomic.Int32
	answers []func(w http.ResponseWriter, r *http.Request)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.n.Add(1))
	s.answers[min(n, len(s.answers))-1](w, r)
}

func status(code int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

const customerJSON = `{"customer_id":"cus_1","business_id":"bus_1","email":"ana@example.com","name":"Ana","created_at":"2026-08-20T10:00:00Z","metadata":{"n":12345678901234567}}`

func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
		wantURL string
	}{
		{name: "defaults to test mode", cfg: Config{APIKey: testKey}, wantURL: TestModeURL},
		{name: "test mode", cfg: Config{APIKey: testKey, Environment: "test_mode"}, wantURL: TestModeURL},
		{name: "live mode", cfg: Config{APIKey: testKey, Environment: "live_mode"}, wantURL: LiveModeURL},
		{name: "base URL overrides the environment", cfg: Config{APIKey: testKey, Environment: "live_mode", BaseURL: "http://127.0.0.1:4010/"}, wantURL: "http://127.0.0.1:4010"},
		{name: "base URL with a path prefix", cfg: Config{APIKey: testKey, BaseURL: "https://proxy.example/dodo"}, wantURL: "https://proxy.example/dodo"},
		{name: "no API key", cfg: Config{}, wantErr: "API key is required"},
		{name: "blank API key", cfg: Config{APIKey: "  "}, wantErr: "API key is required"},
		{name: "unknown environment names the allowed ones", cfg: Config{APIKey: testKey, Environment: "production"}, wantErr: `environment "production": want "test_mode" or "live_mode"`},
		{name: "base URL without scheme", cfg: Config{APIKey: testKey, BaseURL: "test.dodopayments.com"}, wantErr: "base URL"},
		{name: "base URL of another scheme", cfg: Config{APIKey: testKey, BaseURL: "ftp://x.example"}, wantErr: "base URL"},
		{name: "base URL with a query", cfg: Config{APIKey: testKey, BaseURL: "http://x.example/?a=1"}, wantErr: "base URL"},
		{name: "base URL with credentials", cfg: Config{APIKey: testKey, BaseURL: "http://u:p@x.example"}, wantErr: "base URL"},
		{name: "base URL that does not parse", cfg: Config{APIKey: testKey, BaseURL: "http://[::1"}, wantErr: "base URL"},
		{name: "negative timeout", cfg: Config{APIKey: testKey, Timeout: -time.Second}, wantErr: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.TrimSpace(tt.cfg.APIKey) != "" && strings.Contains(err.Error(), tt.cfg.APIKey) {
					t.Fatalf("New: error %q shows the API key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: got error %v, want none", err)
			}
			if got := c.BaseURL(); got != tt.wantURL {
				t.Fatalf("BaseURL: got %q, want %q", got, tt.wantURL)
			}
		})
	}
}

func TestAPIKeyIsNeverPrinted(t *testing.T) {
	cfg := Config{APIKey: testKey, BaseURL: "http://127.0.0.1:1"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for name, v := range map[string]any{"Config": cfg, "*Config": &cfg, "*Client": c, "Client": *c} {
			if got := fmt.Sprintf(verb, v); strings.Contains(got, testKey) {
				t.Errorf("Sprintf(%q, %s) = %s: shows the API key", verb, name, got)
			}
		}
	}
	if got := cfg.String(); !strings.Contains(got, "APIKey:[redacted]") {
		t.Errorf("Config.String() = %s, want the key shown as [redacted]", got)
	}

	// A server (or a proxy) that echoes the key into an error.
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"code":"UNAUTHORIZED","message":"bad key %s"}`, r.Header.Get("Authorization"))
	}))
	c, _ = testClient(t, srv.URL)
	_, err = c.GetCustomer(context.Background(), "cus_1")
	if err == nil || strings.Contains(err.Error(), testKey) || strings.Contains(fmt.Sprintf("%+v", err), testKey) {
		t.Fatalf("GetCustomer: got error %v, want one without the API key", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	type seen struct{ method, auth, ua, accept, ctype string }
	var mu sync.Mutex
	var got []seen
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Method, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Accept"), r.Header.Get("Content-Type")})
		mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			_, _ = io.WriteString(w, customerJSON)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	c, _ := testClient(t, srv.URL)
	ctx := context.Background()
	if _, err := c.GetCustomer(ctx, "cus_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangePlan(ctx, "sub_1", validPlanChange()); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{http.MethodGet, "Bearer " + testKey, UserAgent, "application/json", ""},
		{http.MethodPost, "Bearer " + testKey, UserAgent, "application/json", "application/json"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("headers: got %+v, want %+v", got, want)
	}
}

func TestPathParametersAreEscaped(t *testing.T) {
	var gotPath atomic.Value
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.Method + " " + r.URL.EscapedPath())
		w.WriteHeader(http.StatusNotFound)
	}))
	c, _ := testClient(t, srv.URL)
	const id = "a/b c?d#e%f"
	const esc = "a%2Fb%20c%3Fd%23e%25f"
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{name: "payment methods", call: func() error { _, err := c.ListPaymentMethods(ctx, id); return err }, want: "GET /customers/" + esc + "/payment-methods"},
		{name: "product", call: func() error { _, err := c.GetProduct(ctx, id); return err }, want: "GET /products/" + esc},
		{name: "customer", call: func() error { _, err := c.GetCustomer(ctx, id); return err }, want: "GET /customers/" + esc},
		{name: "payment", call: func() error { _, err := c.GetPayment(ctx, id); return err }, want: "GET /payments/" + esc},
		{name: "subscription", call: func() error { _, err := c.GetSubscription(ctx, id); return err }, want: "GET /subscriptions/" + esc},
		{name: "preview", call: func() error { _, err := c.PreviewChangePlan(ctx, id, validPlanChange()); return err }, want: "POST /subscriptions/" + esc + "/change-plan/preview"},
		{name: "change plan", call: func() error { _, err := c.ChangePlan(ctx, id, validPlanChange()); return err }, want: "POST /subscriptions/" + esc + "/change-plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !fault.IsPermanent(err) {
				t.Fatalf("got error %v, want the fake's permanent 404", err)
			}
			if got := gotPath.Load(); got != tt.want {
				t.Fatalf("request: got %v, want %q", got, tt.want)
			}
		})
	}

	t.Run("empty ID is refused before sending", func(t *testing.T) {
		gotPath.Store("")
		_, err := c.GetPayment(ctx, "")
		if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "payment_id is empty") {
			t.Fatalf("GetPayment(\"\"): got %v, want a permanent error saying payment_id is empty", err)
		}
		if got := gotPath.Load(); got != "" {
			t.Fatalf("GetPayment(\"\") sent %v, want nothing sent", got)
		}
	})
}

func TestTimeoutIsTransientAndRetriedForReads(t *testing.T) {
	h := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		func(_ http.ResponseWriter, r *http.Request) { stall(r) },
	}}
	srv := serve(t, h)
	c, _ := testClient(t, srv.URL, func(c *Config) { c.Timeout = 100 * time.Millisecond; c.MaxRetries = 1 })
	start := time.Now()
	_, err := c.GetSubscription(context.Background(), "sub_1")
	if !IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) || fault.IsPermanent(err) {
		t.Fatalf("GetSubscription: got %v, want a transient timeout", err)
	}
	if !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "GET /subscriptions/{subscription_id}") {
		t.Fatalf("GetSubscription: got %q, want it to say the endpoint timed out", err)
	}
	if got, want := h.n.Load(), int32(2); got != want {
		t.Fatalf("requests: got %d, want %d (one retry)", got, want)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("took %s, want at least two 100ms timeouts", el)
	}
}

func TestRetriesOfReads(t *testing.T) {
	ok := status(http.StatusOK, customerJSON)
	now := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		answers   []func(http.ResponseWriter, *http.Request)
		wantErr   bool
		wantCalls int32
		// wantWaits are the exact waits, or with jitter the upper bounds
		// of each (a wait must be in (3/4 w, w]).
		wantWaits  []time.Duration
		jitter     bool
		wantStatus int
	}{
		{name: "429 with Retry-After seconds, then success", answers: seq(status(429, `{"code":"TOO_MANY_REQUESTS","message":"slow down"}`, "Retry-After", "1"), ok), wantCalls: 2, wantWaits: []time.Duration{time.Second}},
		{name: "429 with Retry-After-Ms wins over Retry-After", answers: seq(status(429, ``, "Retry-After-Ms", "1500", "Retry-After", "9"), ok), wantCalls: 2, wantWaits: []time.Duration{1500 * time.Millisecond}},
		{name: "429 with Retry-After as an HTTP date", answers: seq(status(429, ``, "Retry-After", now.Add(3*time.Second).Format(http.TimeFormat)), ok), wantCalls: 2, wantWaits: []time.Duration{3 * time.Second}},
		{name: "503 twice, then success, with backoff", answers: seq(status(503, `oops`), status(503, `oops`), ok), wantCalls: 3, wantWaits: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, jitter: true},
		{name: "502 from the payment-method service", answers: seq(status(502, `<html>bad gateway</html>`), ok), wantCalls: 2, wantWaits: []time.Duration{250 * time.Millisecond}, jitter: true},
		{name: "408 is retried", answers: seq(status(408, ``), ok), wantCalls: 2, wantWaits: []time.Duration{250 * time.Millisecond}, jitter: true},
		{name: "5xx exhausted", answers: seq(status(500, `{"code":"INTERNAL_SERVER_ERROR","message":"boom"}`)), wantErr: true, wantCalls: 4, wantWaits: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}, jitter: true, wantStatus: 500},
		{name: "429 with X-RateLimit-Reset in seconds", answers: seq(status(429, ``, "X-RateLimit-Reset", "2"), ok), wantCalls: 2, wantWaits: []time.Duration{2 * time.Second}},
		{name: "429 with X-RateLimit-Reset as a Unix time", answers: seq(status(429, ``, "X-RateLimit-Reset", strconv.FormatInt(now.Add(5*time.Second).Unix(), 10)), ok), wantCalls: 2, wantWaits: []time.Duration{5 * time.Second}},
		{name: "Retry-After wins over X-RateLimit-Reset", answers: seq(status(429, ``, "Retry-After", "1", "X-RateLimit-Reset", "20"), ok), wantCalls: 2, wantWaits: []time.Duration{time.Second}},
		{name: "Retry-After beyond 30s is left to the worker", answers: seq(status(429, ``, "Retry-After", "120"), ok), wantErr: true, wantCalls: 1, wantStatus: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &scripted{answers: tt.answers}
			srv := serve(t, h)
			c, s := testClient(t, srv.URL, func(c *Config) { c.Now = func() time.Time { return now } })
			cu, err := c.GetCustomer(context.Background(), "cus_1")
			if got := h.n.Load(); got != tt.wantCalls {
				t.Errorf("requests: got %d, want %d", got, tt.wantCalls)
			}
			waits := s.got()
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits: got %v, want %v", waits, tt.wantWaits)
			}
			for i, w := range tt.wantWaits {
				if got := waits[i]; (!tt.jitter && got != w) || (tt.jitter && (got > w || got < w*3/4)) {
					t.Errorf("wait %d: got %s, want %s (jitter %v)", i, got, w, tt.jitter)
				}
			}
			if !tt.wantErr {
				if err != nil || cu.CustomerID != "cus_1" {
					t.Fatalf("GetCustomer: got %+v, %v; want cus_1", cu, err)
				}
				return
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.wantStatus || !IsTransient(err) || fault.IsPermanent(err) {
				t.Fatalf("GetCustomer: got %v, want a transient APIError %d", err, tt.wantStatus)
			}
		})
	}
}

func seq(fs ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return fs
}

// TestRetryAfterIsHonouredInRealTime measures, with the real clock and
// sleep, that the client waits the second Dodo asks for.
func TestRetryAfterIsHonouredInRealTime(t *testing.T) {
	var first atomic.Int64
	h := &scripted{answers: seq(
		func(w http.ResponseWriter, r *http.Request) {
			first.Store(time.Now().UnixNano())
			status(429, `{"code":"TOO_MANY_REQUESTS","message":"slow down"}`, "Retry-After", "1")(w, r)
		},
		func(w http.ResponseWriter, r *http.Request) {
			if gap := time.Since(time.Unix(0, first.Load())); gap < time.Second {
				t.Errorf("second request %s after the 429, want at least 1s (Retry-After: 1)", gap)
			}
			_, _ = io.WriteString(w, customerJSON)
		},
	)}
	srv := serve(t, h)
	c, err := New(Config{APIKey: testKey, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCustomer(context.Background(), "cus_1"); err != nil {
		t.Fatalf("GetCustomer: %v", err)
	}
}

func TestErrorsFromDodo(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantCode      string
		wantMessage   string
		wantBody      string
		wantPermanent bool
		wantCalls     int32
	}{
		{name: "400 with Dodo's error body", status: 400, body: `{"code":"INVALID_REQUEST_BODY","message":"quantity must be at least 1"}`, wantCode: "INVALID_REQUEST_BODY", wantMessage: "quantity must be at least 1", wantPermanent: true, wantCalls: 1},
		{name: "401", status: 401, body: `{"code":"UNAUTHORIZED","message":"invalid API key"}`, wantCode: "UNAUTHORIZED", wantMessage: "invalid API key", wantPermanent: true, wantCalls: 1},
		{name: "404", status: 404, body: `{"code":"NOT_FOUND","message":"Customer not found"}`, wantCode: "NOT_FOUND", wantMessage: "Customer not found", wantPermanent: true, wantCalls: 1},
		{name: "409 is not retried (unlike Dodo's SDKs)", status: 409, body: `{"code":"PENDING_PLAN_CHANGE_EXISTS","message":"pending"}`, wantCode: "PENDING_PLAN_CHANGE_EXISTS", wantMessage: "pending", wantPermanent: true, wantCalls: 1},
		{name: "422", status: 422, body: `{"code":"SUBSCRIPTION_INACTIVE","message":"inactive","extra":[1,2]}`, wantCode: "SUBSCRIPTION_INACTIVE", wantMessage: "inactive", wantPermanent: true, wantCalls: 1},
		{name: "non-JSON 4xx body", status: 403, body: "<html><body>Forbidden</body></html>\n", wantBody: "<html><body>Forbidden</body></html>", wantPermanent: true, wantCalls: 1},
		{name: "empty 4xx body", status: 404, body: "", wantPermanent: true, wantCalls: 1},
		{name: "JSON without code", status: 400, body: `{"error":"nope"}`, wantBody: `{"error":"nope"}`, wantPermanent: true, wantCalls: 1},
		{name: "non-JSON 5xx body", status: 502, body: "upstream connect error", wantBody: "upstream connect error", wantCalls: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &scripted{answers: seq(status(tt.status, tt.body))}
			srv := serve(t, h)
			c, _ := testClient(t, srv.URL)
			_, err := c.GetCustomer(context.Background(), "cus_1")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("GetCustomer: got %v, want an *APIError", err)
			}
			got := [4]string{apiErr.Code, apiErr.Message, apiErr.Body, apiErr.Endpoint}
			want := [4]string{tt.wantCode, tt.wantMessage, tt.wantBody, "GET /customers/{customer_id}"}
			if got != want || apiErr.StatusCode != tt.status {
				t.Errorf("APIError: got %d %q, want %d %q", apiErr.StatusCode, got, tt.status, want)
			}
			if fault.IsPermanent(err) != tt.wantPermanent || IsTransient(err) == tt.wantPermanent {
				t.Errorf("got permanent %v transient %v, want permanent %v", fault.IsPermanent(err), IsTransient(err), tt.wantPermanent)
			}
			if n := h.n.Load(); n != tt.wantCalls {
				t.Errorf("requests: got %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestMalformedSuccessBodies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		body     string
		call     func(c *Client) error
		endpoint string
	}{
		{name: "not JSON", body: "<html>hello</html>", call: func(c *Client) error { _, err := c.GetCustomer(ctx, "c"); return err }, endpoint: "GET /customers/{customer_id}"},
		{name: "truncated", body: `{"items":[{"payment_method_id":"pm`, call: func(c *Client) error { _, err := c.ListPaymentMethods(ctx, "c"); return err }, endpoint: "GET /customers/{customer_id}/payment-methods"},
		{name: "a bare array where the spec has {items}", body: `[{"payment_method_id":"pm_1"}]`, call: func(c *Client) error { _, err := c.ListPaymentMethods(ctx, "c"); return err }, endpoint: "GET /customers/{customer_id}/payment-methods"},
		{name: "wrong type", body: `{"payment_id":"p","total_amount":"19.00"}`, call: func(c *Client) error { _, err := c.GetPayment(ctx, "p"); return err }, endpoint: "GET /payments/{payment_id}"},
		{name: "empty", body: "", call: func(c *Client) error { _, err := c.GetProduct(ctx, "p"); return err }, endpoint: "GET /products/{id}"},
		{name: "preview", body: `{"new_plan":1}`, call: func(c *Client) error { _, err := c.PreviewChangePlan(ctx, "s", validPlanChange()); return err }, endpoint: "POST /subscriptions/{subscription_id}/change-plan/preview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &scripted{answers: seq(status(200, tt.body))}
			srv := serve(t, h)
			c, _ := testClient(t, srv.URL)
			err := tt.call(c)
			if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.endpoint) || !strings.Contains(err.Error(), "malformed") {
				t.Fatalf("got %v, want a permanent error naming %q", err, tt.endpoint)
			}
			if n := h.n.Load(); n != 1 {
				t.Fatalf("requests: got %d, want 1 (a malformed answer is not retried)", n)
			}
		})
	}
}

func TestResponsesDecode(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/customers/cus_1":
			_, _ = io.WriteString(w, customerJSON)
		case "/customers/cus_1/payment-methods":
			writeJSON(w, 200, fakePaymentMethods())
		default:
			w.WriteHeader(404)
		}
	}))
	c, _ := testClient(t, srv.URL)
	cu, err := c.GetCustomer(context.Background(), "cus_1")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := cu.Metadata["n"].Int(); !ok || n != 12345678901234567 {
		t.Errorf("metadata n: got %v, want the integer 12345678901234567 (no float rounding)", cu.Metadata["n"])
	}
	pms, err := c.ListPaymentMethods(context.Background(), "cus_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(pms) != 1 || pms[0].Card == nil || *pms[0].Card.Last4Digits != "4242" || *pms[0].Card.ExpiryMonth != "06" ||
		*pms[0].Card.ExpiryYear != "32" || pms[0].RecurringEnabled == nil || !*pms[0].RecurringEnabled {
		t.Fatalf("ListPaymentMethods: got %+v, want pm_1 with card 4242 06/32 and recurring enabled", pms)
	}
}

func TestRateLimit(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, customerJSON) }))
	c, _ := testClient(t, srv.URL, func(c *Config) { c.RateLimit = 5; c.Burst = 5 })
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := c.GetCustomer(context.Background(), "cus_1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 5 at once (the burst), then one every 200ms: the 10th after 1s.
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("10 calls at 5/s with a burst of 5 took %s, want at least ~1s", el)
	}
}

func TestListPaymentsQuery(t *testing.T) {
	var got atomic.Value
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.RawQuery)
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	c, _ := testClient(t, srv.URL)
	gte := time.Date(2026, 8, 20, 12, 0, 0, 500, time.FixedZone("CEST", 2*3600))
	lte := gte.Add(time.Hour)
	tests := []struct {
		name string
		p    ListPaymentsParams
		want url.Values
	}{
		{name: "none", p: ListPaymentsParams{}, want: url.Values{}},
		{name: "customer", p: ListPaymentsParams{CustomerID: "cus_1"}, want: url.Values{"customer_id": {"cus_1"}}},
		{name: "subscription", p: ListPaymentsParams{SubscriptionID: "sub_1"}, want: url.Values{"subscription_id": {"sub_1"}}},
		{name: "status", p: ListPaymentsParams{Status: "succeeded"}, want: url.Values{"status": {"succeeded"}}},
		{name: "dates in UTC", p: ListPaymentsParams{CreatedAtGte: &gte, CreatedAtLte: &lte}, want: url.Values{"created_at_gte": {"2026-08-20T10:00:00.0000005Z"}, "created_at_lte": {"2026-08-20T11:00:00.0000005Z"}}},
		{name: "paging", p: ListPaymentsParams{PageSize: 100, PageNumber: 3}, want: url.Values{"page_size": {"100"}, "page_number": {"3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.ListPayments(context.Background(), tt.p); err != nil {
				t.Fatal(err)
			}
			if got, want := got.Load(), tt.want.Encode(); got != want {
				t.Fatalf("query: got %q, want %q", got, want)
			}
		})
	}
	for _, p := range []ListPaymentsParams{{PageSize: 101}, {PageSize: -1}, {PageNumber: -1}} {
		if _, err := c.ListPayments(context.Background(), p); !fault.IsPermanent(err) {
			t.Errorf("ListPayments(%+v): got %v, want a permanent error", p, err)
		}
	}
}

func TestListAllPayments(t *testing.T) {
	now := time.Now()
	pages := func(n int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			page := 0
			fmt.Sscan(r.URL.Query().Get("page_number"), &page)
			if r.URL.Query().Get("page_size") != "100" {
				t.Errorf("page_size: got %q, want 100", r.URL.Query().Get("page_size"))
			}
			items := []any{}
			if page < n {
				items = append(items, fakePayment(fmt.Sprintf("pay_%d", page), "cus_1", now, nil))
			}
			writeJSON(w, 200, map[string]any{"items": items})
		})
	}
	t.Run("until an empty page", func(t *testing.T) {
		c, _ := testClient(t, serve(t, pages(3)).URL)
		got, err := c.ListAllPayments(context.Background(), ListPaymentsParams{CustomerID: "cus_1"})
		if err != nil || len(got) != 3 || got[2].PaymentID != "pay_2" {
			t.Fatalf("ListAllPayments: got %d payments, %v; want pay_0..pay_2", len(got), err)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c, _ := testClient(t, serve(t, pages(1000)).URL)
		got, err := c.ListAllPayments(context.Background(), ListPaymentsParams{})
		if !errors.Is(err, ErrTooManyPages) || len(got) != maxListPages {
			t.Fatalf("ListAllPayments: got %d payments, %v; want %d and ErrTooManyPages", len(got), err, maxListPages)
		}
	})
}

func validPlanChange() ChangePlanRequest {
	return ChangePlanRequest{ProductID: "pdt_pro", Quantity: 1, ProrationBillingMode: offers.ProratedImmediately, EffectiveAt: EffectiveImmediately, OnPaymentFailure: PreventChange}
}

func TestChangePlanBody(t *testing.T) {
	var body atomic.Value
	h := &scripted{answers: seq(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		w.WriteHeader(http.StatusOK)
	})}
	srv := serve(t, h)
	c, _ := testClient(t, srv.URL)
	tests := []struct {
		name string
		req  ChangePlanRequest
		want string
	}{
		{name: "explicit effective_at and on_payment_failure, null discount codes", req: validPlanChange(),
			want: `{"product_id":"pdt_pro","quantity":1,"proration_billing_mode":"prorated_immediately","effective_at":"immediately","on_payment_failure":"prevent_change","discount_codes":null}`},
		{name: "empty discount codes remove all", req: func() ChangePlanRequest {
			r := validPlanChange()
			r.DiscountCodes = []string{}
			r.EffectiveAt, r.ProrationBillingMode, r.OnPaymentFailure = EffectiveNextBillingDate, offers.FullImmediately, ApplyChange
			r.Addons = []AddonRequest{{AddonID: "adn_1", Quantity: 2}}
			r.Metadata = wire.Metadata{"offer_id": wire.StringValue("o1")}
			return r
		}(), want: `{"product_id":"pdt_pro","quantity":1,"proration_billing_mode":"full_immediately","effective_at":"next_billing_date","on_payment_failure":"apply_change","addons":[{"addon_id":"adn_1","quantity":2}],"discount_codes":[],"metadata":{"offer_id":"o1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.ChangePlan(context.Background(), "sub_1", tt.req); err != nil {
				t.Fatalf("ChangePlan: %v", err)
			}
			if got := body.Load(); got != tt.want {
				t.Fatalf("body:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestChangePlanAnswer: any 2xx is success, with no body (spec v1.113.0),
// the body Dodo answers since (SDK 2.52.0's SubscriptionChangePlanResponse),
// or one it cannot read; a body it can read gives its payment.
func TestChangePlanAnswer(t *testing.T) {
	pay1, link := "pay_1", "https://test.dodopayments.com/pay/pay_1"
	for _, a := range []struct {
		name string
		h    func(http.ResponseWriter, *http.Request)
		want wire.ChangePlanResult
	}{
		{name: "200 empty", h: status(200, "")},
		{name: "204", h: status(204, "")},
		{name: "200 with the docs' body", h: status(200, `{"status":"processing","subscription_id":"sub_1","payment_id":"pay_1"}`), want: wire.ChangePlanResult{PaymentID: &pay1}},
		{name: "200 with a body that is not JSON", h: status(200, "OK")},
		{name: "200 with a JSON array", h: status(200, `[]`)},
		{name: "200 with payment_id of the wrong type", h: status(200, `{"payment_id":12}`)},
		{name: "200 with the new body, all null", h: status(200, `{"payment_id":null,"payment_link":null,"client_secret":null,"expires_on":null}`)},
		{name: "200 with the new body", h: status(200, `{"payment_id":"pay_1","payment_link":"`+link+`","client_secret":null,"expires_on":null}`),
			want: wire.ChangePlanResult{PaymentID: &pay1, PaymentLink: &link}},
	} {
		t.Run(a.name, func(t *testing.T) {
			c, _ := testClient(t, serve(t, http.HandlerFunc(a.h)).URL)
			got, err := c.ChangePlan(context.Background(), "sub_1", validPlanChange())
			if err != nil {
				t.Fatalf("ChangePlan: got %v, want success", err)
			}
			if !reflect.DeepEqual(got, a.want) {
				t.Errorf("ChangePlan: got %+v, want %+v", got, a.want)
			}
		})
	}
}

// FuzzChangePlanResult: any body reads as a result without panicking, and
// a result read encodes again.
func FuzzChangePlanResult(f *testing.F) {
	for _, s := range []string{``, `OK`, `{}`, `[]`, `null`, `{"payment_id":"pay_1"}`, `{"payment_id":12}`,
		`{"payment_id":null,"payment_link":null,"client_secret":null,"expires_on":null}`,
		`{"payment_id":"pay_1","payment_link":"https://x","client_secret":"cs","expires_on":"2026-10-08T00:00:00Z"}`,
		`{"expires_on":"yesterday"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := changePlanResult(body)
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("result of %q does not encode: %v", body, err)
		}
	})
}

func TestInvalidRequestsAreNotSent(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	c, _ := testClient(t, srv.URL)
	ctx := context.Background()
	plan := func(f func(*ChangePlanRequest)) ChangePlanRequest { r := validPlanChange(); f(&r); return r }
	oneClick := OneClickCheckout(OneClick{CustomerID: "cus_1", PaymentMethodID: "pm_1", ProductID: "pdt_1", Country: "US", Zipcode: "94102", IdempotencyKey: "k1"})
	checkout := func(f func(*CheckoutRequest)) CheckoutRequest { r := oneClick; f(&r); return r }
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{name: "plan without effective_at", call: func() error {
			_, err := c.ChangePlan(ctx, "s", plan(func(r *ChangePlanRequest) { r.EffectiveAt = "" }))
			return err
		}, want: "effective_at"},
		{name: "plan without on_payment_failure", call: func() error {
			_, err := c.ChangePlan(ctx, "s", plan(func(r *ChangePlanRequest) { r.OnPaymentFailure = "" }))
			return err
		}, want: "on_payment_failure"},
		{name: "plan with an unknown mode", call: func() error {
			_, err := c.PreviewChangePlan(ctx, "s", plan(func(r *ChangePlanRequest) { r.ProrationBillingMode = "prorated" }))
			return err
		}, want: "proration_billing_mode"},
		{name: "plan with quantity 0", call: func() error {
			_, err := c.ChangePlan(ctx, "s", plan(func(r *ChangePlanRequest) { r.Quantity = 0 }))
			return err
		}, want: "quantity"},
		{name: "one-click without idempotency key", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.IdempotencyKey = "" }))
			return err
		}, want: "IdempotencyKey"},
		{name: "payment method without confirm", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.Confirm = false }))
			return err
		}, want: "confirm"},
		{name: "confirmed checkout of a new customer", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.PaymentMethodID = ""; r.Customer = NewCustomer("a@example.com", "") }))
			return err
		}, want: "existing customer"},
		{name: "customer with both forms", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.Customer = &CustomerRequest{CustomerID: "c", Email: "e"} }))
			return err
		}, want: "not both"},
		{name: "conflicting idempotency key in metadata", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) {
				r.Metadata = wire.Metadata{IdempotencyMetadataKey: wire.StringValue("other")}
			}))
			return err
		}, want: "IdempotencyKey"},
		{name: "metadata of a kind the spec forbids", call: func() error {
			var m wire.Metadata // an array value, as decoded from JSON
			if err := json.Unmarshal([]byte(`{"a":["x"]}`), &m); err != nil {
				return err
			}
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.Metadata = m }))
			return err
		}, want: "metadata"},
		{name: "metadata without a value", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.Metadata = wire.Metadata{"a": {}} }))
			return err
		}, want: "metadata"},
		{name: "metadata not a JSON number", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.Metadata = wire.Metadata{"a": wire.FloatValue(math.NaN())} }))
			return err
		}, want: "metadata"},
		{name: "empty cart", call: func() error {
			_, err := c.CreateCheckout(ctx, checkout(func(r *CheckoutRequest) { r.ProductCart = nil }))
			return err
		}, want: "product_cart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !fault.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a permanent error about %s", err, tt.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("requests: got %d, want none", n)
	}
}

func TestCheckoutForms(t *testing.T) {
	tests := []struct {
		name string
		req  CheckoutRequest
		want string
	}{
		{
			name: "one-click",
			req: OneClickCheckout(OneClick{CustomerID: "cus_1", PaymentMethodID: "pm_1", ProductID: "pdt_1", Country: "US", Zipcode: "94102",
				ReturnURL: "https://shop.example/done", Metadata: wire.Metadata{"offer_id": wire.StringValue("o1")}, IdempotencyKey: "offer-o1"}),
			want: `{"product_cart":[{"product_id":"pdt_1","quantity":1}],"customer":{"customer_id":"cus_1"},"payment_method_id":"pm_1","confirm":true,` +
				`"billing_address":{"country":"US","zipcode":"94102"},"minimal_address":true,"return_url":"https://shop.example/done",` +
				`"feature_flags":{"redirect_immediately":true},"metadata":{"offer_id":"o1","offerflow_idempotency_key":"offer-o1"}}`,
		},
		{
			name: "fallback for an existing customer",
			req:  FallbackCheckout(Fallback{CustomerID: "cus_1", ProductID: "pdt_1", Quantity: 2, ReturnURL: "https://shop.example/done", IdempotencyKey: "offer-o1"}),
			want: `{"product_cart":[{"product_id":"pdt_1","quantity":2}],"customer":{"customer_id":"cus_1"},"return_url":"https://shop.example/done",` +
				`"feature_flags":{"redirect_immediately":true},"metadata":{"offerflow_idempotency_key":"offer-o1"}}`,
		},
		{
			name: "fallback for a new customer",
			req:  FallbackCheckout(Fallback{Email: "ana@example.com", Name: "Ana", ProductID: "pdt_1", Country: "ES"}),
			want: `{"product_cart":[{"product_id":"pdt_1","quantity":1}],"customer":{"email":"ana@example.com","name":"Ana"},"billing_address":{"country":"ES"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _, err := tt.req.encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.want {
				t.Fatalf("body:\n got %s\nwant %s", body, tt.want)
			}
		})
	}
}

// TestRateLimiterWaitIsReported: with a budget of one request a second and
// no burst beyond one, the second call waits for the limiter, and the hook
// is told so, with the call's operation.
func TestRateLimiterWaitIsReported(t *testing.T) {
	srv := httptest.NewServer(&scripted{answers: []func(http.ResponseWriter, *http.Request){status(http.StatusOK, customerJSON)}})
	defer srv.Close()
	var mu sync.Mutex
	var waits []time.Duration
	var ops []string
	c, _ := testClient(t, srv.URL, func(cfg *Config) {
		cfg.RateLimit, cfg.Burst = 1, 1
		cfg.LimiterWaited = func(op string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			ops, waits = append(ops, op), append(waits, d)
		}
	})
	for range 2 {
		if _, err := c.GetCustomer(context.Background(), "cus_1"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 || ops[0] != "get_customer" || ops[1] != "get_customer" {
		t.Fatalf("hook calls: operations %v, waits %v; want two get_customer", ops, waits)
	}
	// The limiter guarantees the lower bound whatever the machine does.
	if waits[1] < 500*time.Millisecond {
		t.Errorf("second call waited %s for a budget of 1/s, want about 1s", waits[1])
	}
}
