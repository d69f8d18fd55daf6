// Package dodo is offerflow's client of the Dodo Payments REST API.
//
// It exists because Dodo's official Go SDK (github.com/dodopayments/dodopayments-go)
// is not available from the Go module proxy offerflow builds with. So this
// is a small client of its own, shaped after the SDK (its method and field
// names) and built against Dodo's OpenAPI spec v1.113.0, not the prose docs,
// which are wrong in places. It covers only what offerflow needs: saved
// payment methods, products, customers, payments, subscriptions, checkout
// sessions (including one-click charges) and plan changes. Its answers are
// Dodo's wire types (internal/dodo/wire), the same Go types the webhook
// decoder produces; only its requests are its own. Its users own
// the interfaces they call it through (offerengine.Dodo, reconcile's), so
// tests, the Dodo stand-in and an adapter over the SDK can take its place.
//
// What it adds to plain HTTP: bearer auth and the test and live hosts; a
// timeout per attempt; a client-side rate limit (Dodo's default tier allows
// 40 requests per second); errors classified for the worker's ack policy
// (IsTransient, fault.Permanent); retries with backoff of reads and
// previews; and never a blind retry of a request that can move money (see
// CreateCheckout and ChangePlan).
package dodo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/offerflow/offerflow/internal/fault"
)

// The environments of Config.Environment (DODO_ENVIRONMENT).
const (
	EnvTestMode = "test_mode"
	EnvLiveMode = "live_mode"
)

// The hosts of the two environments (the spec's servers). Paths carry no
// version prefix.
const (
	TestModeURL = "https://test.dodopayments.com"
	LiveModeURL = "https://live.dodopayments.com"
)

// Defaults of Config.
const (
	DefaultTimeout = 10 * time.Second
	// DefaultRateLimit is Dodo's sustained limit of its default tier, 240
	// requests a minute per account, in requests per second; DefaultBurst
	// its burst, 40 requests (Dodo's docs, "Rate limits"). The account's
	// budget is shared by every process that calls Dodo with its key:
	// give each a share (docs/dodo.md, "Rate limits").
	DefaultRateLimit  = 240.0 / 60
	DefaultBurst      = 40
	DefaultMaxRetries = 3
)

// UserAgent is sent with every request.
const UserAgent = "offerflow-dodo/1.0"

// Retry timing. Backoff doubles from backoffBase up to backoffCap, less up
// to a quarter of jitter so that workers do not retry in step. A wait Dodo
// asks for (Retry-After) longer than maxRetryWait is not slept in the
// client: the call fails transient with APIError.RetryAfter set, and the
// worker redelivers later instead of holding a message.
const (
	backoffBase  = 250 * time.Millisecond
	backoffCap   = 4 * time.Second
	maxRetryWait = 30 * time.Second
)

// maxResponseBytes bounds a response body; a list of 100 payments is far
// smaller.
const maxResponseBytes = 8 << 20

// Config configures a Client. The zero value of each field but APIKey
// means its default.
type Config struct {
	// APIKey is the bearer token (DODO_API_KEY). Required. It never appears
	// in errors nor in the formatted Config or Client.
	APIKey string
	// Environment picks the host: EnvTestMode (the default) or EnvLiveMode
	// (DODO_ENVIRONMENT).
	Environment string
	// BaseURL overrides the host chosen by Environment (DODO_API_BASE_URL),
	// for a proxy, the stand-in or the Steady mock. http or https, no query.
	BaseURL string
	// Timeout bounds each attempt, from sending to the end of the body.
	// Default 10s.
	Timeout time.Duration
	// RateLimit is the client-side limit in requests per second shared by
	// all calls of the Client, retries and lookups included. Default 4
	// (Dodo's 240 a minute); negative: no limit.
	RateLimit float64
	// Burst is how many requests may go at once. Default 40.
	Burst int
	// MaxRetries is how often a safe call (a GET, a preview) is retried
	// after a transient failure. Default 3; negative: never.
	MaxRetries int
	// HTTPClient sends the requests; default a new http.Client. Its own
	// Timeout, if any, also applies.
	HTTPClient *http.Client
	// Sleep waits d or until ctx is done (tests make it instant). Default:
	// a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock (for Retry-After dates and payment lookups).
	// Default time.Now.
	Now func() time.Time
	// LimiterWaited, if set, is told how long each request waited for the
	// rate limiter (0 when it did not), and for which operation: a
	// metric's source, so that a budget too small shows before offers
	// run late.
	LimiterWaited func(operation string, d time.Duration)
}

// String formats the Config with the API key masked.
func (c Config) String() string {
	return fmt.Sprintf("dodo.Config{APIKey:%s Environment:%q BaseURL:%q Timeout:%s RateLimit:%g Burst:%d MaxRetries:%d}",
		maskKey(c.APIKey), c.Environment, c.BaseURL, c.Timeout, c.RateLimit, c.Burst, c.MaxRetries)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

func maskKey(k string) string {
	if k == "" {
		return "[unset]"
	}
	return "[redacted]"
}

// Client calls Dodo's REST API. It is safe for concurrent use; all calls
// share one rate limiter.
type Client struct {
	// auth is the Authorization header; a pointer so that even printing a
	// copy of the struct shows an address, not the key.
	auth       *string
	apiKey     *string
	baseURL    string
	timeout    time.Duration
	maxRetries int
	limiter    *rate.Limiter
	hc         *http.Client
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
	// limiterWaited is Config.LimiterWaited.
	limiterWaited func(operation string, d time.Duration)
}

// New validates cfg and returns a Client. It fails without an API key, for
// an unknown environment and for a BaseURL that is not an absolute http(s)
// URL.
func New(cfg Config) (*Client, error) {
	var errs []error
	if strings.TrimSpace(cfg.APIKey) == "" {
		errs = append(errs, errors.New("API key is required (DODO_API_KEY)"))
	}
	base := TestModeURL
	switch cfg.Environment {
	case "", EnvTestMode:
	case EnvLiveMode:
		base = LiveModeURL
	default:
		errs = append(errs, fmt.Errorf("environment %q: want %q or %q (DODO_ENVIRONMENT)", cfg.Environment, EnvTestMode, EnvLiveMode))
	}
	if cfg.BaseURL != "" {
		b, err := checkBaseURL(cfg.BaseURL)
		if err != nil {
			errs = append(errs, err)
		}
		base = b
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: want a positive duration", cfg.Timeout))
	}
	if cfg.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst %d: want a positive number", cfg.Burst))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("dodo config: %w", errors.Join(errs...))
	}

	c := &Client{
		baseURL:    base,
		timeout:    cfg.Timeout,
		maxRetries: cfg.MaxRetries,
		hc:         cfg.HTTPClient,
		sleep:      cfg.Sleep,
		now:        cfg.Now,

		limiterWaited: cfg.LimiterWaited,
	}
	key := cfg.APIKey
	auth := "Bearer " + key
	c.apiKey, c.auth = &key, &auth
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = DefaultBurst
	}
	switch {
	case cfg.RateLimit < 0:
		c.limiter = rate.NewLimiter(rate.Inf, burst)
	case cfg.RateLimit == 0:
		c.limiter = rate.NewLimiter(DefaultRateLimit, burst)
	default:
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q: want http(s)://host[:port][/path], without credentials, query or fragment (DODO_API_BASE_URL)", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// String describes the Client without its API key.
func (c *Client) String() string { return "dodo.Client{BaseURL:" + c.baseURL + " APIKey:[redacted]}" }

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// BaseURL returns the host the Client calls, for logs.
func (c *Client) BaseURL() string { return c.baseURL }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is one API call.
type request struct {
	endpoint string // method and path template, for errors: "GET /payments/{payment_id}"
	method   string
	path     string // escaped
	query    url.Values
	body     []byte // JSON; nil sends none
}

// response is a complete 2xx answer.
type response struct {
	status int
	body   []byte
}

// send makes one attempt of r: it waits for the rate limiter, then sends
// with the per-attempt timeout and reads the whole body. It returns a 2xx
// response, an *APIError (marked fault.Permanent unless transient), a
// *transportError, or the error of a done ctx.
func (c *Client) send(ctx context.Context, r request) (*response, error) {
	started := time.Now()
	err := c.limiter.Wait(ctx)
	if c.limiterWaited != nil {
		c.limiterWaited(operationOf(r.endpoint), time.Since(started))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dodo %s: %w", r.endpoint, ctx.Err())
		}
		// The limiter would wait past ctx's deadline.
		return nil, &transportError{endpoint: r.endpoint, err: fmt.Errorf("rate limit: %w", err), notSent: true}
	}

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	actx = context.WithValue(actx, operationKey{}, operationOf(r.endpoint))
	var gotConn atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	u := c.baseURL + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return nil, fault.Permanent(fmt.Errorf("dodo %s: %w", r.endpoint, err))
	}
	req.Header.Set("Authorization", *c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	// A failure after the request was handed to the transport, including
	// ctx ending meanwhile: the request may have reached Dodo unless the
	// dial failed.
	fail := func(err error) error {
		return &transportError{
			endpoint: r.endpoint,
			err:      c.redact(err),
			timeout:  actx.Err() != nil,
			notSent:  !gotConn.Load() && dialFailed(err),
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fail(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if err != nil && (ok || len(b) == 0) {
		return nil, fail(fmt.Errorf("read %d response: %w", resp.StatusCode, err))
	}
	if !ok {
		apiErr := parseAPIError(r.endpoint, resp.StatusCode, resp.Header, b, c.now())
		apiErr.Code = c.redactString(apiErr.Code)
		apiErr.Message = c.redactString(apiErr.Message)
		apiErr.Body = c.redactString(apiErr.Body)
		return nil, classify(apiErr)
	}
	if len(b) > maxResponseBytes {
		return nil, fault.Permanent(fmt.Errorf("dodo %s: response larger than %d bytes", r.endpoint, maxResponseBytes))
	}
	return &response{status: resp.StatusCode, body: b}, nil
}

// operationKey is the context key of the operation of a request in flight.
type operationKey struct{}

// Operation returns the short, stable name of the Client method that made
// the HTTP request whose context is ctx (create_checkout, get_payment,
// change_plan, ...; the table is operationOf's), or "" for a request no
// Client made.
//
// A RoundTripper given in Config.HTTPClient reads it to label its metrics
// and spans per operation, per attempt. That keeps this package free of
// Prometheus and OpenTelemetry: the wrapping transport lives with the
// wiring (internal/service), each technology in one place, and a test or
// another program can use the client with no observability at all. A hook
// interface in Config would do the same, but would see neither the attempt
// nor the transport's errors as the RoundTripper does.
func Operation(ctx context.Context) string {
	op, _ := ctx.Value(operationKey{}).(string)
	return op
}

// operationOf names the operation of an endpoint, as Operation reports it:
// stable names for dashboards, one per endpoint, whichever method calls it.
func operationOf(endpoint string) string {
	switch endpoint {
	case "POST /checkouts":
		return "create_checkout"
	case "POST /subscriptions/{subscription_id}/change-plan/preview":
		return "preview_change_plan"
	case "POST /subscriptions/{subscription_id}/change-plan":
		return "change_plan"
	case "GET /customers/{customer_id}/payment-methods":
		return "list_payment_methods"
	case "GET /products/{id}":
		return "get_product"
	case "GET /customers/{customer_id}":
		return "get_customer"
	case "GET /payments/{payment_id}":
		return "get_payment"
	case "GET /subscriptions/{subscription_id}":
		return "get_subscription"
	case "GET /payments":
		return "list_payments"
	case "GET /subscriptions":
		return "list_subscriptions"
	default:
		// A new endpoint not named here yet: one bounded label value,
		// never the path (TestEveryEndpointHasAnOperation fails first).
		return "other"
	}
}

// dialFailed reports whether err is a failure to open the connection
// (*net.OpError with Op "dial": connection refused, DNS lookup failure,
// unreachable network, dial timeout). Together with no connection handed to
// the request, it means the request never left this process.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// redact removes the API key from an error's text, should a proxy or a
// server ever echo it.
func (c *Client) redact(err error) error {
	if err == nil || !strings.Contains(err.Error(), *c.apiKey) {
		return err
	}
	return redactedError{msg: c.redactString(err.Error()), err: err}
}

func (c *Client) redactString(s string) string {
	return strings.ReplaceAll(s, *c.apiKey, "[redacted]")
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// do sends a safe request (a GET, a preview) and decodes its answer into
// out (nil: ignore the body). Transient failures are retried up to
// MaxRetries times with backoff, honouring Retry-After.
func (c *Client) do(ctx context.Context, r request, out any) error {
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, r)
		if err == nil {
			return decode(r, resp, out)
		}
		if !IsTransient(err) || attempt >= c.maxRetries || ctx.Err() != nil {
			return attempts(attempt+1, err)
		}
		wait, ok := c.retryWait(ctx, attempt, err)
		if !ok || c.sleep(ctx, wait) != nil {
			return attempts(attempt+1, err)
		}
	}
}

// attempts says how many attempts led to err, when there was more than one.
func attempts(n int, err error) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("%d attempts: %w", n, err)
}

// decode unmarshals a 2xx body into out. A body that does not decode is a
// permanent error naming the endpoint: Dodo answered, and asking again gets
// the same answer.
func decode(r request, resp *response, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fault.Permanent(fmt.Errorf("dodo %s: malformed %d response: %w (body %q)", r.endpoint, resp.status, err, snippet(resp.body)))
	}
	return nil
}

// retryWait is how long to wait before retrying after err: the Retry-After
// Dodo sent, else exponential backoff with jitter. It is false when the wait
// is longer than maxRetryWait or would end past ctx's deadline.
func (c *Client) retryWait(ctx context.Context, attempt int, err error) (time.Duration, bool) {
	wait := backoff(attempt)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		wait = apiErr.RetryAfter
	}
	if wait > maxRetryWait {
		return 0, false
	}
	// ctx's deadline is on the real clock, whatever Config.Now says.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return 0, false
	}
	return wait, true
}

// backoff is the wait before retry number attempt+1: 250ms, 500ms, 1s, 2s,
// 4s, 4s..., each less up to 25% jitter.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 5 {
		d = min(backoffBase<<attempt, backoffCap)
	}
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

// pathID escapes one path parameter, refusing an empty one (which would
// call another endpoint).
func pathID(endpoint, name, id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", fault.Permanent(fmt.Errorf("dodo %s: %s is empty", endpoint, name))
	}
	return url.PathEscape(id), nil
}
