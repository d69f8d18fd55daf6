package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
	"github.com/offerflow/offerflow/internal/webhook"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testAPIKey = "sk_test_standin"

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// received is one webhook delivery the receiver accepted.
type received struct {
	ID   string
	Type string
	Body []byte
	At   time.Time // real time of arrival, for Delay
}

// receiver is the merchant's webhook endpoint: it verifies every delivery's
// signature with offerflow's verifier and validates its body against the
// spec's webhook schemas.
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	verifier *webhook.Verifier
	spec     *spec

	mu       sync.Mutex
	got      []received
	failNext int // answer 500 to this many deliveries
	requests int
	problems []string
}

// webhookPath is where the receiver takes deliveries.
const webhookPath = "/webhooks/dodo"

func newReceiver(t *testing.T, secret webhook.Secret, now func() time.Time) *receiver {
	t.Helper()
	// Tests move the stand-in's clock by weeks (renewals) while webhooks
	// signed before the move may still be in flight, so the receiver allows
	// any timestamp within a year of the test clock; signatures are still
	// checked, and TestWebhookSignature checks the timestamp itself.
	v, err := webhook.NewVerifier([]webhook.Secret{secret}, 365*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verifier: v, spec: loadSpec(t)}
	// Only POSTs to webhookPath are deliveries. The receiver's port was
	// free a moment ago, and a test elsewhere on the machine that polls a
	// port it picked the same way (bind, release, wait for its server) can
	// reach it instead: such strays are answered 404 and not counted.
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+webhookPath, r.serve)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("webhook receiver: %s", p)
		}
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.failNext > 0 {
		r.failNext--
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	h, err := r.verifier.VerifyRequest(req.Header, body)
	if err != nil {
		r.problems = append(r.problems, "signature: "+err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		r.problems = append(r.problems, "body is not JSON: "+err.Error())
	}
	if err := r.spec.validateWebhook(env.Type, req.Header, body); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	r.got = append(r.got, received{ID: h.ID, Type: env.Type, Body: body, At: time.Now()})
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) types() []string {
	var out []string
	for _, g := range r.received() {
		out = append(out, g.Type)
	}
	return out
}

func (r *receiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = nil
}

func (r *receiver) failNextN(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext = n
}

// env is a stand-in with its API, a webhook receiver and a clock.
type env struct {
	t     *testing.T
	s     *Server
	api   *httptest.Server
	recv  *receiver
	clock *fakeclock.Clock
	spec  *spec
}

// newEnv starts a stand-in at now, seeded with the test catalog, that
// delivers its webhooks to a receiver.
func newEnv(t *testing.T, now time.Time, mod ...func(*Config)) *env {
	t.Helper()
	c := fakeclock.At(now)
	secret := webhook.NewSecret([]byte("standin-test-webhook-secret-32by"))
	recv := newReceiver(t, secret, c.Now)
	cfg := Config{BusinessID: "bus_test", APIKey: testAPIKey, WebhookURL: recv.srv.URL + webhookPath, WebhookSecret: secret, Now: c.Now}
	for _, m := range mod {
		m(&cfg)
	}
	s := New(cfg)
	api := httptest.NewServer(s.Handler())
	e := &env{t: t, s: s, api: api, recv: recv, clock: c, spec: loadSpec(t)}
	t.Cleanup(func() {
		api.Close()
		s.Close()
	})
	seed(t, s)
	return e
}

// The test catalog.
const (
	custAna   = "cus_ana"
	custBo    = "cus_bo"
	pmVisa    = "pm_visa"     // 4242..., succeeds
	pmDecline = "pm_declined" // ...0002, declined
	pmExpired = "pm_expired"  // 4242..., expired 01/2025
	pmOneOff  = "pm_oneoff"   // 4242..., recurring_enabled false
	pmBo      = "pm_bo"       // Bo's card
	pdtGuide  = "pdt_guide"   // one-time $19
	pdtEbook  = "pdt_ebook"   // one-time €12
	pdtBasic  = "pdt_basic"   // $30 / month
	pdtPro    = "pdt_pro"     // $80 / month
	pdtStart  = "pdt_starter" // $20 / month
	pdtProEUR = "pdt_pro_eur" // €75 / month
	pdtYearly = "pdt_yearly"  // $300 / year
)

func seed(t *testing.T, s *Server) {
	t.Helper()
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	no := false
	must(s.AddCustomer(Customer{ID: custAna, Email: "ana@example.com", Name: "Ana Ruiz", Country: "US", Zipcode: "94102"}))
	must(s.AddCustomer(Customer{ID: custBo, Email: "bo@example.com", Name: "Bo Chen", Country: "DE", Zipcode: "10115", Phone: "+4930123456"}))
	must(s.AddPaymentMethod(custAna, Card{ID: pmVisa, Number: "4242424242424242", ExpMonth: 6, ExpYear: 2032, HolderName: "Ana Ruiz", IssuingCountry: "US"}))
	must(s.AddPaymentMethod(custAna, Card{ID: pmDecline, Number: "4000000000000002", ExpMonth: 6, ExpYear: 2032}))
	must(s.AddPaymentMethod(custAna, Card{ID: pmExpired, Number: "4242424242424242", ExpMonth: 1, ExpYear: 2025}))
	must(s.AddPaymentMethod(custAna, Card{ID: pmOneOff, Number: "5555555555554444", Network: "MASTERCARD", Type: "DEBIT", ExpMonth: 6, ExpYear: 2032, RecurringEnabled: &no}))
	must(s.AddPaymentMethod(custBo, Card{ID: pmBo, Number: "4242424242424242", ExpMonth: 6, ExpYear: 2032}))
	must(s.AddProduct(Product{ID: pdtGuide, Name: "Pricing guide", Price: 1900, Currency: "USD"}))
	must(s.AddProduct(Product{ID: pdtEbook, Name: "E-book", Price: 1200, Currency: "EUR", TaxCategory: "e_book"}))
	must(s.AddProduct(Product{ID: pdtBasic, Name: "Basic", Price: 3000, Currency: "USD", Recurring: true}))
	must(s.AddProduct(Product{ID: pdtPro, Name: "Pro", Description: "Everything", Price: 8000, Currency: "USD", Recurring: true}))
	must(s.AddProduct(Product{ID: pdtStart, Name: "Starter", Price: 2000, Currency: "USD", Recurring: true}))
	must(s.AddProduct(Product{ID: pdtProEUR, Name: "Pro (EUR)", Price: 7500, Currency: "EUR", Recurring: true}))
	must(s.AddProduct(Product{ID: pdtYearly, Name: "Yearly", Price: 30000, Currency: "USD", Recurring: true, Interval: "Year"}))
}

// do calls the stand-in's API with the API key. The spec validates the
// request and the answer (see spec.check).
func (e *env) do(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.doKey(testAPIKey, method, path, body)
}

func (e *env) doKey(key, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		if b, ok := body.(string); ok {
			raw = []byte(b)
		} else {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				e.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.api.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := e.api.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.spec.check(e.t, req, raw, resp, got)
	return resp.StatusCode, got
}

// mustDo is do for calls that must answer want.
func (e *env) mustDo(want int, method, path string, body any) []byte {
	e.t.Helper()
	status, got := e.do(method, path, body)
	if status != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, status, got, want)
	}
	return got
}

// wantError checks an error answer's status and code.
func (e *env) wantError(status int, code, method, path string, body any) {
	e.t.Helper()
	got, b := e.do(method, path, body)
	var ae struct{ Code, Message string }
	_ = json.Unmarshal(b, &ae)
	if got != status || ae.Code != code {
		e.t.Errorf("%s %s = %d %s, want %d %s", method, path, got, b, status, code)
	}
}

// flush waits for every queued webhook to be delivered.
func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.s.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// webhooks flushes and returns the types received since the last call.
func (e *env) webhooks() []string {
	e.t.Helper()
	e.flush()
	defer e.recv.reset()
	return e.recv.types()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// oneClick is the body of a one-click checkout with a saved card.
func oneClick(customer, pm string, cart ...map[string]any) map[string]any {
	return map[string]any{
		"product_cart":      cart,
		"customer":          map[string]any{"customer_id": customer},
		"payment_method_id": pm,
		"confirm":           true,
		"minimal_address":   true,
		"billing_address":   map[string]any{"country": "US", "zipcode": "94102"},
		"feature_flags":     map[string]any{"redirect_immediately": true},
		"return_url":        "https://merchant.example/thanks",
		"metadata":          map[string]any{"offerflow_idempotency_key": "offer_1:attempt_1", "offer_id": "offer_1", "upsell": true},
	}
}

func item(product string, qty int) map[string]any {
	return map[string]any{"product_id": product, "quantity": qty}
}
