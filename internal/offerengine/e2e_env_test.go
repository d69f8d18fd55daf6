package offerengine_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
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
	goodCard    = "4242424242424242"
	declineCard = "4000000000000002"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// env is one offerflow (testenv) with the offer engine on, the catalog
// above in the rules file and in Dodo's stand-in, and a clock that stands
// still at 2026-04-01 09:00 until a test moves it: plan changes are priced
// from it, and tests move it to expire offers.
type env struct {
	*testenv.Env
	// t is the test (or subtest) the helpers below report to.
	t *testing.T
	// delivered is every webhook a test delivered itself (deliver).
	delivered []standin.HeldWebhook
}

// newEnv starts an env; opts add to (or override) its settings.
func newEnv(t *testing.T, opts ...testenv.Option) *env {
	t.Helper()
	te := testenv.Start(t, append([]testenv.Option{
		testenv.WithClock(fakeclock.At(date(2026, 4, 1).Add(9 * time.Hour))),
		testenv.WithRules(e2eRules),
		testenv.WithOffers(),
		testenv.WithWorker(func(wc *service.WorkerConfig) {
			wc.MaxAttempts = 5
			wc.AckWait = 5 * time.Second
		}),
	}, opts...)...)
	seedProducts(t, te.Dodo)
	return &env{Env: te, t: t}
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

// customer adds a customer with the given saved cards (none: no saved
// method) and returns the first card's id.
func (e *env) customer(id string, cards ...standin.Card) string {
	e.t.Helper()
	return e.AddCustomer(e.t, id, cards...)
}

func card(number string) standin.Card {
	return standin.Card{Number: number, ExpMonth: 12, ExpYear: 2030}
}

// buy charges the customer's card for product through Dodo's one-click
// checkout, as the merchant's app would, and waits until offerflow has
// handled every webhook it caused.
func (e *env) buy(customer, pm, product string) {
	e.t.Helper()
	e.Buy(e.t, customer, pm, product, nil)
	e.settle()
}

// settle waits until Dodo delivered its webhooks and the worker handled
// every stored event and signal.
func (e *env) settle() {
	e.t.Helper()
	e.Settle(e.t)
}

// messages returns the offer messages of one event ("created", ...) for a
// customer, in order.
func (e *env) messages(event, customer string) []offerengine.Message {
	e.t.Helper()
	return testenv.Decode[offerengine.Message](e.t, e.Messages(e.t, natsbus.OutStream, "offerflow.offers."+event+"."+natsbus.Token(customer)))
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

// call makes an API request; auth is "server" (the server-to-server
// token), "" (no Authorization) or a bearer token to send as is.
func (e *env) call(method, path, auth string, body any) (int, map[string]any) {
	e.t.Helper()
	if auth == "server" {
		auth = e.APIToken
	}
	return e.Call(e.t, method, path, auth, body)
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
