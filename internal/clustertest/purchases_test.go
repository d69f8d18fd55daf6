package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/webhook"
)

// rulesYAML is the catalog and the one offer rule of the run: a customer
// who buys the live course (through Dodo's stand-in) is offered the
// workbook, which the test accepts with one click. The webhooks the test
// makes up never name the live course, so no offer is made for customers
// Dodo does not know.
const rulesYAML = `products:
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_book, name: Book, tier: 0, features: [book]}
  - {id: pdt_basic, name: Basic, tier: 1, features: [reports]}
  - {id: pdt_pro, name: Pro, tier: 2, features: [reports, api]}
  - {id: pdt_course_live, name: Live course, tier: 0, features: [live]}
  - {id: pdt_workbook, name: Workbook, tier: 0, features: [workbook]}
rules:
  - id: workbook-after-live-course
    trigger: {event: payment.succeeded}
    when: '"pdt_course_live" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_workbook, valid_for: 1h}
`

// dodoEdge is Dodo at the edge of the run: the stand-in's API (which the
// ingest and the workers call to price and charge offers) and its
// webhooks (delivered to the ingest, again and again while it answers
// anything but 2xx, as Dodo does).
type dodoEdge struct {
	srv    *standin.Server
	api    *httptest.Server
	client *dodo.Client
	key    string
}

const dodoKey = "dodo_clustertest_key"

func startDodo(t *testing.T, ingestURL string, secret webhook.Secret) *dodoEdge {
	t.Helper()
	srv := standin.New(standin.Config{
		APIKey: dodoKey, WebhookURL: ingestURL + "/webhooks/dodo", WebhookSecret: secret,
		// Dodo retries for a day; a few minutes cover any outage of the run.
		WebhookAttempts: 12, WebhookBackoff: 250 * time.Millisecond,
	})
	for _, p := range []standin.Product{
		{ID: "pdt_course_live", Name: "Live course", Price: 4900, Currency: "USD"},
		{ID: "pdt_workbook", Name: "Workbook", Price: 1900, Currency: "USD"},
	} {
		if _, err := srv.AddProduct(p); err != nil {
			t.Fatal(err)
		}
	}
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		api.Close()
	})
	client, err := dodo.New(dodo.Config{APIKey: dodoKey, BaseURL: api.URL, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &dodoEdge{srv: srv, api: api, client: client, key: dodoKey}
}

// writeRules writes the rules file both services read.
func writeRules(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// shopper buys the live course for each of its customers through Dodo's
// API, waits for offerflow's offer and accepts it with the server token,
// asking again after a 5xx or no answer (the outcome of a lost answer is
// unknown: offerflow must find the first charge, never make a second).
type shopper struct {
	dodo     *dodoEdge
	ingest   string
	apiToken string
	http     *http.Client

	pms map[string]string // customer -> saved card, written by seed only

	mu       sync.Mutex
	accepted map[string]string // customer -> offer id
	answers  map[int]int       // statuses of the accept calls (0: no answer)
	failures []string
}

// seed adds n customers with a card that succeeds.
func (s *shopper) seed(t *testing.T, run string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		cus := fmt.Sprintf("cus_%s_live_%d", run, i)
		if _, err := s.dodo.srv.AddCustomer(standin.Customer{ID: cus, Name: "Live " + cus, Email: cus + "@example.com", Country: "US", Zipcode: "94102"}); err != nil {
			t.Fatal(err)
		}
		pm, err := s.dodo.srv.AddPaymentMethod(cus, standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3})
		if err != nil {
			t.Fatal(err)
		}
		s.pms[cus] = pm
		out = append(out, cus)
	}
	return out
}

// run buys for each customer in turn, one every `every`, until ctx ends.
func (s *shopper) run(ctx context.Context, customers []string, every time.Duration) {
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for _, cus := range customers {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.shop(ctx, cus); err != nil {
				s.mu.Lock()
				s.failures = append(s.failures, fmt.Sprintf("%s: %v", cus, err))
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func (s *shopper) shop(ctx context.Context, cus string) error {
	if _, err := s.dodo.client.CreateCheckout(ctx, dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: cus, PaymentMethodID: s.pms[cus], ProductID: "pdt_course_live",
		Country: "US", Zipcode: "94102", IdempotencyKey: "buy-" + cus,
	})); err != nil {
		return fmt.Errorf("buy the live course: %w", err)
	}
	// The offer appears once a worker handled the payment's webhook.
	var offerID string
	deadline := time.Now().Add(3 * time.Minute)
	for offerID == "" {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no offer within 3 minutes")
		}
		var body struct {
			Offers []struct {
				ID string `json:"id"`
			} `json:"offers"`
		}
		if code := s.call(ctx, http.MethodGet, "/v1/customers/"+cus+"/offers", &body); code == http.StatusOK && len(body.Offers) > 0 {
			offerID = body.Offers[0].ID
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	for {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("offer %s not accepted within 3 minutes", offerID)
		}
		var res map[string]any
		code := s.call(ctx, http.MethodPost, "/v1/offers/"+offerID+"/accept", &res)
		s.mu.Lock()
		s.answers[code]++
		s.mu.Unlock()
		switch {
		case code == http.StatusOK || code == http.StatusConflict:
			// 409: an earlier attempt whose answer was lost accepted it.
			s.mu.Lock()
			s.accepted[cus] = offerID
			s.mu.Unlock()
			return nil
		case code/100 == 4:
			return fmt.Errorf("accept %s: %d %v", offerID, code, res)
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// call makes a request of the ingest's API with the server token and
// decodes a JSON answer into out; it returns the status (0: no answer).
func (s *shopper) call(ctx context.Context, method, path string, out any) int {
	req, err := http.NewRequestWithContext(ctx, method, s.ingest+path, nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+s.apiToken)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, out)
	return resp.StatusCode
}

// charges counts the stand-in's payments per customer of the shopper: the
// course bought and the offer's one-click charge (its metadata names the
// offer).
func (s *shopper) charges(customers []string) (course, offer map[string]int, offerIDs map[string][]string) {
	course, offer, offerIDs = map[string]int{}, map[string]int{}, map[string][]string{}
	mine := map[string]bool{}
	for _, c := range customers {
		mine[c] = true
	}
	for _, p := range s.dodo.srv.Payments() {
		if !mine[p.CustomerID] || p.Status != standin.PaymentSucceeded {
			continue
		}
		if id, ok := p.Metadata[access.MetadataOfferID]; ok {
			offer[p.CustomerID]++
			offerIDs[p.CustomerID] = append(offerIDs[p.CustomerID], fmt.Sprint(id))
			continue
		}
		course[p.CustomerID]++
	}
	return course, offer, offerIDs
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
