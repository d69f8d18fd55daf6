package dodo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/offers"
)

// The no-blind-retry rule: a POST that can move money is sent again only
// when Dodo surely did not act on it; otherwise the client looks for its
// effect, and reports ErrAmbiguous if it finds none.

func oneClickRequest() CheckoutRequest {
	return OneClickCheckout(OneClick{CustomerID: "cus_1", PaymentMethodID: "pm_1", ProductID: "pdt_1", Country: "US", Zipcode: "94102",
		ReturnURL: "https://shop.example/done", Metadata: wire.Metadata{"offer_id": wire.StringValue("o1")}, IdempotencyKey: "offer-o1"})
}

// cutConnection closes the connection without an answer.
func cutConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

type postAnswer = func(n int, w http.ResponseWriter, r *http.Request, apply func())

// outcome is what a money-moving test expects.
type outcome struct {
	recovered   bool   // success found by the lookup
	paymentID   string // checkout only
	ambiguous   bool
	transient   bool   // a plain transient error (Dodo surely did not act)
	permanent   bool   // a 4xx
	errContains string // a substring of the error
	posts       int
	lookups     int // -1: any number
}

func (o outcome) check(t *testing.T, f *fakeDodo, err error, s *CheckoutSession) {
	t.Helper()
	posts, lookups := f.counts()
	if posts != o.posts {
		t.Errorf("POSTs Dodo saw: got %d, want %d", posts, o.posts)
	}
	if o.lookups >= 0 && lookups != o.lookups {
		t.Errorf("lookups: got %d, want %d", lookups, o.lookups)
	}
	if got := errors.Is(err, ErrAmbiguous); got != o.ambiguous {
		t.Errorf("errors.Is(%v, ErrAmbiguous) = %v, want %v", err, got, o.ambiguous)
	}
	if o.ambiguous && (!fault.IsPermanent(err) || IsTransient(err)) {
		t.Errorf("ambiguous error %v: want it permanent (dead-lettered, never redelivered into a second charge)", err)
	}
	if o.transient && (!IsTransient(err) || fault.IsPermanent(err)) {
		t.Errorf("error %v: want transient", err)
	}
	if o.permanent && !fault.IsPermanent(err) {
		t.Errorf("error %v: want permanent", err)
	}
	if o.errContains != "" && (err == nil || !strings.Contains(err.Error(), o.errContains)) {
		t.Errorf("error %v: want it to contain %q", err, o.errContains)
	}
	wantErr := o.ambiguous || o.transient || o.permanent
	if wantErr != (err != nil) {
		t.Fatalf("got error %v, want error %v", err, wantErr)
	}
	if s == nil || err != nil {
		return
	}
	if s.Recovered != o.recovered || s.PaymentID == nil || *s.PaymentID != o.paymentID {
		t.Errorf("session: got %+v (payment %v), want recovered %v payment %q", s, deref(s.PaymentID), o.recovered, o.paymentID)
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestCheckoutIsNeverRetriedBlindly(t *testing.T) {
	tests := []struct {
		name   string
		onPost postAnswer
		setup  func(f *fakeDodo)
		stall  bool // the POST stalls: a short attempt timeout
		want   outcome
	}{
		{
			name:   "timed out after charging: the payment is found, the POST not repeated",
			onPost: func(_ int, _ http.ResponseWriter, r *http.Request, apply func()) { apply(); stall(r) },
			stall:  true,
			want:   outcome{recovered: true, paymentID: "pay_new", posts: 1, lookups: 1},
		},
		{
			name:   "timed out without charging: ambiguous, not repeated",
			onPost: func(_ int, _ http.ResponseWriter, r *http.Request, _ func()) { stall(r) },
			stall:  true,
			want:   outcome{ambiguous: true, errContains: "the lookup found nothing", posts: 1, lookups: 1},
		},
		{
			name: "5xx after charging: found",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) {
				apply()
				writeJSON(w, 500, map[string]any{"code": "INTERNAL_SERVER_ERROR", "message": "boom"})
			},
			want: outcome{recovered: true, paymentID: "pay_new", posts: 1, lookups: 1},
		},
		{
			name: "5xx without charging: a lookup, not a blind retry",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, _ func()) {
				writeJSON(w, 502, map[string]any{"code": "BAD_GATEWAY", "message": "x"})
			},
			want: outcome{ambiguous: true, errContains: "502", posts: 1, lookups: 1},
		},
		{
			name:   "connection cut after charging: found",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) { apply(); cutConnection(w) },
			want:   outcome{recovered: true, paymentID: "pay_new", posts: 1, lookups: 1},
		},
		{
			name: "2xx whose body is unreadable, after charging: found",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) {
				apply()
				w.WriteHeader(200)
				_, _ = w.Write([]byte(`{"session_id":`))
			},
			want: outcome{recovered: true, paymentID: "pay_new", posts: 1, lookups: 1},
		},
		{
			name: "429 and nothing charged: one more attempt",
			onPost: func(n int, w http.ResponseWriter, _ *http.Request, apply func()) {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					writeJSON(w, 429, map[string]any{"code": "TOO_MANY_REQUESTS", "message": "slow down"})
					return
				}
				apply()
				writeJSON(w, 200, fakeSession("pay_new"))
			},
			want: outcome{paymentID: "pay_new", posts: 2, lookups: 1},
		},
		{
			name: "429 twice: transient, no third attempt",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, _ func()) {
				writeJSON(w, 429, map[string]any{"code": "TOO_MANY_REQUESTS", "message": "slow down"})
			},
			want: outcome{transient: true, errContains: "429", posts: 2, lookups: 2},
		},
		{
			name: "4xx: permanent, no lookup",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, _ func()) {
				writeJSON(w, 422, map[string]any{"code": "NO_ELIGIBLE_PAYMENT_METHODS", "message": "no"})
			},
			want: outcome{permanent: true, errContains: "NO_ELIGIBLE_PAYMENT_METHODS", posts: 1, lookups: 0},
		},
		{
			name:   "the lookup fails: ambiguous",
			onPost: func(_ int, _ http.ResponseWriter, r *http.Request, _ func()) { stall(r) },
			stall:  true,
			setup:  func(f *fakeDodo) { f.listStatus = 500 },
			want:   outcome{ambiguous: true, errContains: "the lookup failed", posts: 1, lookups: -1},
		},
		{
			name: "success",
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) {
				apply()
				writeJSON(w, 200, fakeSession("pay_new"))
			},
			want: outcome{paymentID: "pay_new", posts: 1, lookups: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeDodo(t)
			f.onPost = tt.onPost
			if tt.setup != nil {
				tt.setup(f)
			}
			c, _ := testClient(t, srv.URL, func(c *Config) { c.Timeout = attemptTimeout(tt.stall) })
			s, err := c.CreateCheckout(context.Background(), oneClickRequest())
			tt.want.check(t, f, err, &s)
		})
	}
}

// TestCheckoutLookupOutlivesTheCallersContext: the caller's deadline ends
// while Dodo is charging; the lookup still runs and finds the charge.
func TestCheckoutLookupOutlivesTheCallersContext(t *testing.T) {
	f, srv := newFakeDodo(t)
	f.onPost = func(_ int, _ http.ResponseWriter, r *http.Request, apply func()) { apply(); stall(r) }
	c, _ := testClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s, err := c.CreateCheckout(ctx, oneClickRequest())
	outcome{recovered: true, paymentID: "pay_new", posts: 1, lookups: 1}.check(t, f, err, &s)
}

// attemptTimeout is short where the fake stalls a POST, and generous
// elsewhere so that a loaded machine does not turn an answer into a
// timeout.
func attemptTimeout(stall bool) time.Duration {
	if stall {
		return 300 * time.Millisecond
	}
	return 5 * time.Second
}

// closedAddr returns an address where nothing listens: a dial gets
// "connection refused".
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// refusingFirst is an HTTP client whose first n dials go to a closed port
// (a real "connection refused") and the rest where they were meant to.
func refusingFirst(t *testing.T, n int32) *http.Client {
	dead := closedAddr(t)
	var dials atomic.Int32
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) <= n {
				addr = dead
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestConnectionRefusedMayBeRetried(t *testing.T) {
	// A refused dial is the one transport failure after which the request
	// surely never left this process: no lookup, one more attempt.
	t.Run("checkout refused once, then sent", func(t *testing.T) {
		f, srv := newFakeDodo(t)
		f.onPost = func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) {
			apply()
			writeJSON(w, 200, fakeSession("pay_new"))
		}
		c, _ := testClient(t, srv.URL, func(c *Config) { c.HTTPClient = refusingFirst(t, 1) })
		s, err := c.CreateCheckout(context.Background(), oneClickRequest())
		outcome{paymentID: "pay_new", posts: 1, lookups: 0}.check(t, f, err, &s)
	})
	t.Run("checkout refused twice: transient, not ambiguous", func(t *testing.T) {
		c, s := testClient(t, "http://"+closedAddr(t))
		_, err := c.CreateCheckout(context.Background(), oneClickRequest())
		if !IsTransient(err) || errors.Is(err, ErrAmbiguous) || fault.IsPermanent(err) || !strings.Contains(err.Error(), "not sent") {
			t.Fatalf("CreateCheckout: got %v, want a transient 'not sent' error", err)
		}
		if got := len(s.got()); got != 1 {
			t.Fatalf("waits: got %d, want 1 (one backoff between the two attempts, no lookup)", got)
		}
	})
	t.Run("plan change refused once, then sent", func(t *testing.T) {
		f, srv := newFakeDodo(t)
		f.onPost = func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) { apply(); w.WriteHeader(200) }
		c, _ := testClient(t, srv.URL, func(c *Config) { c.HTTPClient = refusingFirst(t, 1) })
		_, err := c.ChangePlan(context.Background(), "sub_1", validPlanChange())
		outcome{posts: 1, lookups: 0}.check(t, f, err, nil)
	})
}

func TestFallbackCheckoutIsRetriedLikeARead(t *testing.T) {
	// Without confirm no payment exists until the customer pays on the
	// page, and only one link is handed out: a duplicate session costs
	// nothing.
	f, srv := newFakeDodo(t)
	f.onPost = func(n int, w http.ResponseWriter, _ *http.Request, _ func()) {
		if n == 1 {
			writeJSON(w, 503, map[string]any{"code": "UNAVAILABLE", "message": "x"})
			return
		}
		writeJSON(w, 200, map[string]any{"session_id": "cks_2", "checkout_url": "https://test.checkout.dodopayments.com/cks_2", "payment_id": nil})
	}
	c, _ := testClient(t, srv.URL)
	s, err := c.CreateCheckout(context.Background(), FallbackCheckout(Fallback{CustomerID: "cus_1", ProductID: "pdt_1", IdempotencyKey: "offer-o1"}))
	if err != nil || s.CheckoutURL == nil || s.SessionID != "cks_2" {
		t.Fatalf("CreateCheckout: got %+v, %v; want session cks_2 with a URL", s, err)
	}
	if posts, lookups := f.counts(); posts != 2 || lookups != 0 {
		t.Fatalf("got %d POSTs and %d lookups, want 2 and 0", posts, lookups)
	}
}

func TestChangePlanIsNeverRetriedBlindly(t *testing.T) {
	next := validPlanChange()
	next.EffectiveAt, next.ProrationBillingMode = EffectiveNextBillingDate, offers.FullImmediately
	tests := []struct {
		name   string
		req    ChangePlanRequest
		onPost postAnswer
		stall  bool // the POST stalls: a short attempt timeout
		want   outcome
	}{
		{
			name:   "timed out after applying: found on the subscription",
			req:    validPlanChange(),
			onPost: func(_ int, _ http.ResponseWriter, r *http.Request, apply func()) { apply(); stall(r) },
			stall:  true,
			want:   outcome{posts: 1, lookups: 1},
		},
		{
			name:   "timed out, not applied: ambiguous",
			req:    validPlanChange(),
			onPost: func(_ int, _ http.ResponseWriter, r *http.Request, _ func()) { stall(r) },
			stall:  true,
			want:   outcome{ambiguous: true, errContains: "the lookup found nothing", posts: 1, lookups: 1},
		},
		{
			name:   "5xx after scheduling for the next billing date: found in scheduled_change",
			req:    next,
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, apply func()) { apply(); w.WriteHeader(500) },
			want:   outcome{posts: 1, lookups: 1},
		},
		{
			name:   "5xx, not applied: a lookup, not a blind retry",
			req:    validPlanChange(),
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, _ func()) { w.WriteHeader(503) },
			want:   outcome{ambiguous: true, errContains: "503", posts: 1, lookups: 1},
		},
		{
			name: "409 pending plan change: permanent, no lookup",
			req:  validPlanChange(),
			onPost: func(_ int, w http.ResponseWriter, _ *http.Request, _ func()) {
				writeJSON(w, 409, map[string]any{"code": "PENDING_PLAN_CHANGE_EXISTS", "message": "pending"})
			},
			want: outcome{permanent: true, errContains: "PENDING_PLAN_CHANGE_EXISTS", posts: 1, lookups: 0},
		},
		{
			name: "429, not applied: one more attempt",
			req:  validPlanChange(),
			onPost: func(n int, w http.ResponseWriter, _ *http.Request, apply func()) {
				if n == 1 {
					w.WriteHeader(429)
					return
				}
				apply()
				w.WriteHeader(200)
			},
			want: outcome{posts: 2, lookups: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeDodo(t)
			f.onPost = tt.onPost
			c, _ := testClient(t, srv.URL, func(c *Config) { c.Timeout = attemptTimeout(tt.stall) })
			_, err := c.ChangePlan(context.Background(), "sub_1", tt.req)
			tt.want.check(t, f, err, nil)
		})
	}
}
