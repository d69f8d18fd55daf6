package offerpage_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
)

// The catalog of these tests: a plan change (Basic $30 to Pro $80), and a
// course whose purchase offers a workbook, with a cheaper downsell.
const pageRules = `
products:
  - {id: pdt_basic, name: Basic, tier: 1, features: [reports, export]}
  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, export, api, sso]}
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_workbook, name: Workbook, tier: 0, features: [workbook, exercises]}
  - {id: pdt_workbook_lite, name: Workbook Lite, tier: 0, features: [workbook_lite]}
rules:
  - id: basic-to-pro
    trigger: {event: subscription.active}
    when: 'subscription.product_id == "pdt_basic"'
    offer: {kind: upsell, product: pdt_pro, change_plan: true, proration: prorated_immediately, valid_for: 72h}
    display: {headline: "Unlock the API and SSO", badge: most popular}
  - id: workbook-after-course
    trigger: {event: payment.succeeded}
    when: '"pdt_course" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_workbook, valid_for: 1h}
    display: {headline: "Practise what the course teaches"}
    on_decline: workbook-lite
  - id: workbook-lite
    offer: {kind: downsell, product: pdt_workbook_lite, valid_for: 1h}
    display: {headline: "The essentials, for less"}
  - id: course-on-onboarding
    trigger: {signal: onboarding_completed}
    offer: {kind: cross_sell, product: pdt_course, valid_for: 1h}
`

const goodCard = "4242424242424242"

// env is offerflow with offers on, OFFERFLOW_PUBLIC_URL at the ingest and
// a clock that stands still at 2026-04-01 09:00 until a test moves it.
type env struct {
	*testenv.Env
	t *testing.T
	// page is a client that follows no redirect and keeps no cookie,
	// as a first visit from an email would be.
	page *http.Client
}

func newEnv(t *testing.T, opts ...testenv.Option) *env {
	t.Helper()
	te := testenv.Start(t, append([]testenv.Option{
		testenv.WithClock(fakeclock.At(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))),
		testenv.WithRules(pageRules),
		testenv.WithOffers(),
		testenv.WithPublicURL(),
	}, opts...)...)
	for _, p := range []standin.Product{
		{ID: "pdt_basic", Name: "Basic", Price: 3000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_pro", Name: "Pro", Price: 8000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_course", Name: "Course", Price: 4900, Currency: "USD"},
		{ID: "pdt_workbook", Name: "Workbook", Price: 1900, Currency: "USD"},
		{ID: "pdt_workbook_lite", Name: "Workbook Lite", Price: 900, Currency: "USD"},
	} {
		if _, err := te.Dodo.AddProduct(p); err != nil {
			t.Fatal(err)
		}
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &env{Env: te, t: t, page: &http.Client{
		Transport:     tr,
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// customer adds a customer with a saved card and returns its id.
func (e *env) customer(id string) string {
	e.t.Helper()
	return e.customerWith(id, standin.Card{Number: goodCard, ExpMonth: 12, ExpYear: 2030})
}

// customerWith adds a customer with these saved cards (none: no saved
// method) and returns the first one's id.
func (e *env) customerWith(id string, cards ...standin.Card) string {
	e.t.Helper()
	return e.AddCustomer(e.t, id, cards...)
}

// buy makes the customer buy product with the card, as the merchant's app
// would, and waits until offerflow has handled what followed.
func (e *env) buy(customer, pm, product string) {
	e.t.Helper()
	e.Buy(e.t, customer, pm, product, nil)
	e.Settle(e.t)
}

// created is the one offers.created message of customer for product.
func (e *env) created(customer, product string) offerengine.Message {
	e.t.Helper()
	var found []offerengine.Message
	for _, m := range testenv.Decode[offerengine.Message](e.t, e.Messages(e.t, natsbus.OutStream, "offerflow.offers.created."+natsbus.Token(customer))) {
		if m.ProductID == product {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("offers.created for %s of %s: %d messages, want 1", customer, product, len(found))
	}
	return found[0]
}

// response is a page's answer.
type response struct {
	status int
	header http.Header
	body   string
}

// get fetches a page (a URL, or a path of the ingest) with the headers
// given as name, value pairs.
func (e *env) get(u string, header ...string) response {
	e.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.URL + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req, header...)
}

// post sends a form to a path of the ingest.
func (e *env) post(path string, form url.Values, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req, header...)
}

func (e *env) do(req *http.Request, header ...string) response {
	e.t.Helper()
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.page.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// token is the t parameter of a page URL.
func token(t *testing.T, pageURL string) string {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("t")
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
