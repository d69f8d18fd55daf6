package testenv_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// burstRules offer an add-on after every purchase of the course.
const burstRules = `
products:
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_addon, name: Add-on, tier: 0, features: [addon]}
rules:
  - id: addon-after-course
    trigger: {event: payment.succeeded}
    when: '"pdt_course" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_addon, valid_for: 24h}
`

// seedBurst gives the stand-in the add-on and n customers, each with a
// saved card, and returns their ids.
func seedBurst(t *testing.T, e *testenv.Env, n int) []string {
	t.Helper()
	if _, err := e.Dodo.AddProduct(standin.Product{ID: "pdt_addon", Name: "Add-on", Price: 900, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cus_burst_%04d", i)
		if _, err := e.Dodo.AddCustomer(standin.Customer{ID: ids[i], Name: "Burst", Email: "burst@example.com", Zipcode: "94102"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Dodo.AddPaymentMethod(ids[i], standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: e.Clock.Now().Year() + 3}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// postBurst posts one payment.succeeded of the course per customer, from 16
// senders, and fails t unless each is answered 200.
func postBurst(t *testing.T, e *testenv.Env, customers []string) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				body := payload.PaymentSucceeded(e.Clock.Now(), customers[i], fmt.Sprintf("pay_burst_%04d", i), "pdt_course", 2900)
				if code := e.Post(t, fmt.Sprintf("msg_burst_%04d", i), body); code != http.StatusOK {
					t.Errorf("webhook %d: status %d, want 200", i, code)
				}
			}
		})
	}
	for i := range customers {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestBurstGrantsDoNotWaitForOffers: a burst of payments, each granting
// access and triggering an offer, while Dodo's API does not answer at all.
// Every grant is published even so (offers are made on a consumer of their
// own, and only they wait for Dodo), and no offer is; once Dodo answers
// again, behind a small rate limit, every offer is made, exactly one per
// payment: delayed, never lost, never doubled.
//
// With offers made on the webhook consumer, as they once were, its
// handlers blocked on Dodo: later webhooks' grants waited for a handler
// timeout, and no webhook was acknowledged until Dodo answered, so this
// test failed waiting for them.
func TestBurstGrantsDoNotWaitForOffers(t *testing.T) {
	const n = 300
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/_standin/") {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	e := testenv.Start(t, testenv.WithRules(burstRules), testenv.WithOffers(), testenv.WithDodoMiddleware(hold),
		testenv.WithWorker(func(c *service.WorkerConfig) {
			// 100 requests a second, 5 at once: 600 calls take seconds.
			c.Offers.DodoRateLimit, c.Offers.DodoRateBurst = 6000, 5
		}))
	t.Cleanup(open) // the services stop before the stand-in: let blocked calls end
	customers := seedBurst(t, e, n)
	postBurst(t, e, customers)

	granted := func() int {
		return len(e.Messages(t, natsbus.OutStream, events.AccessPrefix+access.ChangeGranted+"."))
	}
	// The webhook consumer finishes (acknowledges) every webhook while
	// Dodo answers nothing: no handler of it waits for Dodo.
	accessDone := natstest.Settled(e.Conn.JetStream(), natsbus.EventsStream, natsbus.WorkerConsumer)
	natstest.WaitFor(t, time.Minute, fmt.Sprintf("%d access grants, every webhook acknowledged, while Dodo does not answer", n),
		func() bool { return granted() == n && accessDone() })
	if got := e.Messages(t, natsbus.OutStream, events.OffersPrefix+"created."); len(got) != 0 {
		t.Fatalf("%d offers created while Dodo answered nothing, want 0", len(got))
	}

	open()
	e.Settle(t)
	created := testenv.Decode[offerengine.Message](t, e.Messages(t, natsbus.OutStream, events.OffersPrefix+"created."))
	byCustomer := map[string]int{}
	ids := map[string]bool{}
	for _, m := range created {
		byCustomer[m.CustomerID]++
		ids[m.ID] = true
	}
	if len(created) != n || len(ids) != n || len(byCustomer) != n {
		t.Fatalf("offers.created: %d messages, %d offer ids, %d customers; want %d of each (one per payment)", len(created), len(ids), len(byCustomer), n)
	}
	if got := granted(); got != n {
		t.Errorf("access grants after the offers: %d, want %d", got, n)
	}
	if dl := e.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix); len(dl) != 0 {
		t.Errorf("%d dead letters, want none", len(dl))
	}
}

// TestDodoCallsPerOffer: an offer made after a payment costs one Dodo call
// (the customer's payment methods): the payment tells a currency they paid
// in and their billing address, and no rule reads their other currencies,
// so their payments are not read; the product is read once for all of
// them and reused for DODO_PRODUCT_CACHE_TTL.
func TestDodoCallsPerOffer(t *testing.T) {
	const n = 20
	e := testenv.Start(t, testenv.WithRules(burstRules), testenv.WithOffers())
	customers := seedBurst(t, e, n)
	before := e.Dodo.Calls()
	postBurst(t, e, customers)
	e.Settle(t)
	if got := len(e.Messages(t, natsbus.OutStream, events.OffersPrefix+"created.")); got != n {
		t.Fatalf("offers created: %d, want %d", got, n)
	}
	after := e.Dodo.Calls()
	calls := func(route string) int64 { return after.ByRoute[route] - before.ByRoute[route] }
	for route, want := range map[string]int64{
		"GET /payments": 0,
		"GET /customers/{customer_id}/payment-methods": n,
		"GET /products/{id}":                           1,
	} {
		if got := calls(route); got != want {
			t.Errorf("%s: %d calls for %d offers, want %d", route, got, n, want)
		}
	}
	if total := after.Total - before.Total; total > n+1 {
		t.Errorf("%d Dodo calls for %d offers (%v), want at most %d", total, n, after.ByRoute, n+1)
	}
}

// TestOtherCurrencyReadsPayments: a payment in another currency than the
// offer's makes the engine read the customer's payments after all, so an
// offer in a currency they paid in before is made, and one in a currency
// they never paid in is not.
func TestOtherCurrencyReadsPayments(t *testing.T) {
	e := testenv.Start(t, testenv.WithRules(burstRules), testenv.WithOffers())
	customers := seedBurst(t, e, 2) // the add-on is priced in USD
	if _, err := e.Dodo.AddProduct(standin.Product{ID: "pdt_sticker", Name: "Sticker", Price: 300, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	cards, err := e.Client.ListPaymentMethods(t.Context(), customers[0])
	if err != nil || len(cards) != 1 {
		t.Fatalf("cards of %s: %v, %v", customers[0], cards, err)
	}
	e.Buy(t, customers[0], cards[0].PaymentMethodID, "pdt_sticker", nil) // paid in USD before; no rule for it
	e.Settle(t)
	before := e.Dodo.Calls()
	for i, c := range customers {
		body := payload.PaymentSucceeded(e.Clock.Now(), c, fmt.Sprintf("pay_eur_%d", i), "pdt_course", 2900)
		body = bytes.ReplaceAll(body, []byte(`"USD"`), []byte(`"EUR"`))
		if code := e.Post(t, fmt.Sprintf("msg_eur_%d", i), body); code != http.StatusOK {
			t.Fatalf("webhook %d: status %d", i, code)
		}
	}
	e.Settle(t)
	created := testenv.Decode[offerengine.Message](t, e.Messages(t, natsbus.OutStream, events.OffersPrefix+"created."))
	if len(created) != 1 || created[0].CustomerID != customers[0] || created[0].Amounts.Currency != "USD" {
		t.Fatalf("offers created: %+v; want one, in USD, for %s (who paid in USD before), none for %s", created, customers[0], customers[1])
	}
	if got := e.Dodo.Calls().ByRoute["GET /payments"] - before.ByRoute["GET /payments"]; got != 2 {
		t.Errorf("GET /payments: %d calls, want 2 (one per trigger in EUR)", got)
	}
}
