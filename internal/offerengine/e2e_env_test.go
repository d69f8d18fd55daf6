package offerengine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// The catalog of the end-to-end tests: Dodo's plan-change guide's plans
// (Starter $20, Basic $30, Pro $80 a month), a course with a workbook
// cross-sell and a cheaper downsell, and a course priced in EUR.
const e2eRules = `
products:
  - {id: pdt_starter, name: Starter, tier: 1, features: [reports]}
  - {id: pdt_basic, name: Basic, tier: 2, features: [reports, export]}
  - {id: pdt_pro, name: Pro, tier: 3, features: [reports, export, api, sso]}
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_course_2, name: Second course, tier: 0, features: [course_2]}
  - {id: pdt_workbook, name: Workbook, tier: 0, features: [workbook]}
  - {id: pdt_workbook_lite, name: Workbook Lite, tier: 0, features: [workbook_lite]}
  - {id: pdt_course_eur, name: Kurs, tier: 0, features: [course_eur]}
rules:
  - id: basic-to-pro
    trigger: {event: subscription.active}
    when: 'subscription.product_id == "pdt_basic"'
    offer: {kind: upsell, product: pdt_pro, change_plan: true, proration: prorated_immediately, valid_for: 72h}
    priority: 10
    display: {headline: "Unlock the API and SSO", badge: most popular}
  - id: workbook-after-course
    trigger: {event: payment.succeeded}
    when: '"pdt_course" in payment.product_ids || "pdt_course_2" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_workbook, valid_for: 1h}
    on_decline: workbook-lite
  - id: workbook-lite
    offer: {kind: downsell, product: pdt_workbook_lite, valid_for: 1h}
    display: {headline: "The essentials, for less"}
  - id: course-on-onboarding
    trigger: {signal: onboarding_completed}
    offer: {kind: cross_sell, product: pdt_course, valid_for: 1h}
  - id: eur-course-at-limit
    trigger: {signal: plan_limit_near}
    when: 'signal.value >= 0.9'
    offer: {kind: cross_sell, product: pdt_course_eur, valid_for: 1h}
`

const (
	serverToken = "srv_e2e_token_0123456789"
	goodCard    = "4242424242424242"
	declineCard = "4000000000000002"
)

// clock is the shared fake time of Dodo, ingest and worker: plan changes
// are priced from it, and tests move it to expire offers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// env is one offerflow: an embedded NATS server, ingest and worker as the
// binaries run them (service.RunIngest, service.RunWorker), and the Dodo
// stand-in delivering signed webhooks to the ingest.
type env struct {
	t     *testing.T
	clock *clock
	js    jetstream.JetStream
	// natsURL is the embedded server's, for tools that dial it as an
	// operator would (offerflow dlq).
	natsURL string
	dodo    *standin.Server
	client  *dodo.Client
	api     string
	secret  webhook.Secret
	// delivered is every webhook a test delivered itself (deliver).
	delivered []standin.HeldWebhook
}

func newEnv(t *testing.T) *env { return newEnvWith(t, "") }

// newEnvWith is newEnv with the worker's SMTP_URL set to smtpURL; opts
// change the worker's settings further.
func newEnvWith(t *testing.T, smtpURL string, opts ...func(*service.WorkerConfig)) *env {
	t.Helper()
	clk := &clock{t: date(2026, 4, 1).Add(9 * time.Hour)}
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(e2eRules), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + ln.Addr().String()
	secret := webhook.NewSecret(random(t, 32))
	const dodoKey = "sk_test_e2e_offers"
	sd := standin.New(standin.Config{APIKey: dodoKey, WebhookURL: api + "/webhooks/dodo", WebhookSecret: secret, Now: clk.Now})
	hs := httptest.NewServer(sd.Handler())
	seedProducts(t, sd)

	var ic service.IngestConfig
	var wc service.WorkerConfig
	empty := func(string) string { return "" }
	si, sw := conf.New("ingest", empty, io.Discard), conf.New("worker", empty, io.Discard)
	ic.Declare(si)
	wc.Declare(sw)
	if err := si.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Parse(nil); err != nil {
		t.Fatal(err)
	}
	key := "k1:" + base64.RawURLEncoding.EncodeToString(random(t, 32))
	for _, c := range []*service.Common{&ic.Common, &wc.Common} {
		c.NATSURL = srv.ClientURL()
		c.RulesPath = rulesPath
		c.Offers.DodoAPIKey, c.Offers.DodoBaseURL, c.Offers.OfferKey = dodoKey, hs.URL, key
		c.Offers.SweepInterval = time.Second
	}
	ic.Secrets, ic.APIToken = secret.Encode(), serverToken
	wc.MetricsAddr = ""
	wc.SMTPURL = smtpURL
	wc.BackoffBase, wc.BackoffMax, wc.MaxAttempts = 50*time.Millisecond, 200*time.Millisecond, 5
	wc.AckWait = 5 * time.Second
	for _, o := range opts {
		o(&wc)
	}
	log := zap.NewNop()
	if testing.Verbose() {
		log, _ = zap.NewDevelopment()
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs <- service.RunIngest(ctx, ic, log.Named("ingest"), service.IngestOptions{Listener: ln, Ready: func(string) { close(ready) }, Now: clk.Now})
	}()
	go func() {
		defer wg.Done()
		errs <- service.RunWorker(ctx, wc, log.Named("worker"), service.WorkerOptions{Now: clk.Now})
	}()
	t.Cleanup(func() {
		sd.Close()
		hs.Close()
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("service: %v", err)
			}
		}
	})
	// Wait for the ingest to listen, or a service to fail: on the
	// condition, not a clock. Under a loaded machine (scripts/stress.sh)
	// the start took more than the 10 s this wait once allowed; a start
	// that never ends is caught by go test's -timeout, with every stack.
	started := time.Now()
	select {
	case <-ready:
	case err := <-errs:
		t.Fatalf("a service stopped at start: %v", err)
	}
	if d := time.Since(started); d > 5*time.Second {
		t.Logf("the ingest took %s to start", d)
	}
	client, err := dodo.New(dodo.Config{APIKey: dodoKey, BaseURL: hs.URL, Now: clk.Now, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, clock: clk, js: js, natsURL: srv.ClientURL(), dodo: sd, client: client, api: api, secret: secret}
}

func seedProducts(t *testing.T, sd *standin.Server) {
	t.Helper()
	for _, p := range []standin.Product{
		{ID: "pdt_starter", Name: "Starter", Price: 2000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_basic", Name: "Basic", Price: 3000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_pro", Name: "Pro", Price: 8000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_course", Name: "Course", Price: 4900, Currency: "USD"},
		{ID: "pdt_course_2", Name: "Second course", Price: 3900, Currency: "USD"},
		{ID: "pdt_workbook", Name: "Workbook", Price: 1900, Currency: "USD"},
		{ID: "pdt_workbook_lite", Name: "Workbook Lite", Price: 900, Currency: "USD"},
		{ID: "pdt_course_eur", Name: "Kurs", Price: 4500, Currency: "EUR"},
	} {
		if _, err := sd.AddProduct(p); err != nil {
			t.Fatal(err)
		}
	}
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// customer adds a customer with the given saved cards (none: no saved
// method) and returns the first card's id.
func (e *env) customer(id string, cards ...standin.Card) string {
	e.t.Helper()
	if _, err := e.dodo.AddCustomer(standin.Customer{ID: id, Name: "Ana " + id, Email: id + "@example.com", Country: "US", Zipcode: "94102"}); err != nil {
		e.t.Fatal(err)
	}
	first := ""
	for _, c := range cards {
		pm, err := e.dodo.AddPaymentMethod(id, c)
		if err != nil {
			e.t.Fatal(err)
		}
		if first == "" {
			first = pm
		}
	}
	return first
}

func card(number string) standin.Card {
	return standin.Card{Number: number, ExpMonth: 12, ExpYear: 2030}
}

// buy charges the customer's card for product through Dodo's one-click
// checkout, as the merchant's app would, and waits until offerflow has
// handled every webhook it caused.
func (e *env) buy(customer, pm, product string) {
	e.t.Helper()
	_, err := e.client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: customer, PaymentMethodID: pm, ProductID: product, Country: "US", Zipcode: "94102",
		IdempotencyKey: "buy-" + customer + "-" + product + "-" + e.clock.Now().Format(time.RFC3339),
	}))
	if err != nil {
		e.t.Fatalf("buy %s for %s: %v", product, customer, err)
	}
	e.settle()
}

// settle waits until Dodo delivered its webhooks and the worker handled
// every stored event and signal.
func (e *env) settle() {
	e.t.Helper()
	// Deadlines far above what settling takes (well under a second): they
	// only bound a test that would otherwise hang, and must not fire on a
	// slow, loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.dodo.Flush(ctx); err != nil {
		e.t.Fatalf("webhooks not delivered: %v", err)
	}
	natstest.WaitFor(e.t, time.Minute, "the worker to settle", func() bool {
		return natstest.Settled(e.js, natsbus.EventsStream, natsbus.WorkerConsumer)() &&
			natstest.Settled(e.js, natsbus.OutStream, service.SignalsConsumer)()
	})
}

// messages returns the offer messages of one event ("created", ...) for a
// customer, in order.
func (e *env) messages(event, customer string) []offerengine.Message {
	e.t.Helper()
	var out []offerengine.Message
	for _, m := range natstest.Messages(e.t, e.js, natsbus.OutStream, "offerflow.offers."+event+"."+natsbus.Token(customer)) {
		var msg offerengine.Message
		if err := json.Unmarshal(m.Data, &msg); err != nil {
			e.t.Fatalf("offer message %s: %v", m.Subject, err)
		}
		out = append(out, msg)
	}
	return out
}

// created returns the one offers.created message for customer and product.
func (e *env) created(customer, product string) offerengine.Message {
	e.t.Helper()
	var found []offerengine.Message
	for _, m := range e.messages("created", customer) {
		if m.ProductID == product {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("offers.created for %s of %s: %d messages, want 1", customer, product, len(found))
	}
	return found[0]
}

// call makes an API request; auth is "server", "" (no Authorization) or a
// bearer token to send as is.
func (e *env) call(method, path, auth string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.api+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	switch auth {
	case "":
	case "server":
		req.Header.Set("Authorization", "Bearer "+serverToken)
	default:
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			e.t.Fatalf("%s %s: body %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, out
}

// accept accepts an offer with its token and returns the status and body.
func (e *env) accept(offerID, token string) (int, map[string]any) {
	e.t.Helper()
	return e.call(http.MethodPost, "/v1/offers/"+offerID+"/accept", "", map[string]string{"token": token})
}

func (e *env) signal(customer, id, name string, value float64) {
	e.t.Helper()
	status, body := e.call(http.MethodPost, "/v1/customers/"+customer+"/signals", "server",
		map[string]any{"id": id, "name": name, "value": value})
	if status != http.StatusAccepted {
		e.t.Fatalf("signal: %d %v", status, body)
	}
	e.settle()
}

// str reads a string at a dotted path of a decoded JSON body.
func str(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

func num(m map[string]any, path string) float64 {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return -1
		}
		cur = mm[k]
	}
	f, ok := cur.(float64)
	if !ok {
		return -1
	}
	return f
}
