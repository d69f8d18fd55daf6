package devstack

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/webhook"
)

// StandinConfig is how the Dodo stand-in runs: inside `offerflow dev`, or
// alone as `offerflow dodo-standin`.
type StandinConfig struct {
	// Addr is where its API listens; a free port of the same host is used
	// when the port is taken.
	Addr string
	// WebhookURL receives its signed webhooks; "" sends none.
	WebhookURL string
	// WebhookSecret signs them; required with WebhookURL.
	WebhookSecret webhook.Secret
	// APIKey is the bearer token it accepts; "" generates one.
	APIKey string
	// IDTag ends every id it generates, so that a receiver that remembers
	// an earlier run's ids never takes this run's for retries.
	IDTag string
	// Empty starts it with no products and no customers.
	Empty bool
}

// Standin is a running Dodo stand-in: Dodo's REST API and the stand-in's
// /_standin/ controls on a loopback port, sending its signed webhooks
// where it was told, as Dodo would.
type Standin struct {
	// URL is the base URL of its API; APIKey the bearer token it accepts.
	URL, APIKey string
	// Products and Customers are what it was seeded with.
	Products  []standin.Product
	Customers []SeededCustomer

	srv      *standin.Server
	http     *http.Server
	stopped  chan struct{} // closed when the HTTP server has returned
	serveErr error         // what it returned; read after stopped is closed
}

// SeededCustomer is a customer the stand-in starts with, saved card and
// all: one per test card whose outcome differs, named after it.
type SeededCustomer struct {
	ID, Name, Email string
	// TestCard is the card's name in POST
	// /_standin/customers/{id}/payment-methods (docs/dodo.md).
	TestCard        string
	PaymentMethodID string
	// Outcome says what charging the card does.
	Outcome string
}

// demoProducts is the demo catalog at Dodo; demo-rules.yaml gives the same
// products their tiers and features.
func demoProducts() []standin.Product {
	return []standin.Product{
		{ID: "pdt_course_rust", Name: "Rust for payments engineers", Price: 4900, Currency: "USD"},
		{ID: "pdt_basic", Name: "Basic", Price: 3000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_pro", Name: "Pro", Price: 8000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_workbook", Name: "Rust for payments engineers (workbook)", Price: 1900, Currency: "USD"},
		{ID: "pdt_cheatsheet", Name: "Rust for payments engineers (cheat sheet)", Price: 900, Currency: "USD"},
	}
}

// demoCustomer is a seeded customer before the stand-in numbers its card.
type demoCustomer struct {
	id, name, email, testCard, outcome string
	card                               standin.Card
}

// demoCustomers are the seeded customers, one per test card of the
// stand-in whose charge ends differently. The numbers are the stand-in's
// named test cards (docs/dodo.md); the expired one ended last year.
func demoCustomers(tag string, now time.Time) []demoCustomer {
	valid := now.Year() + 3
	c := func(id, name, email, testCard, outcome, number string, expYear int) demoCustomer {
		return demoCustomer{id: id + tag, name: name, email: email, testCard: testCard, outcome: outcome,
			card: standin.Card{Number: number, ExpMonth: 12, ExpYear: expYear}}
	}
	return []demoCustomer{
		c("cus_card_succeeds", "Sam Succeeds", "sam.succeeds@example.com", "success", "succeeds", "4242424242424242", valid),
		c("cus_card_declined", "Dana Declined", "dana.declined@example.com", "decline", "declined (CARD_DECLINED)", "4000000000000002", valid),
		c("cus_card_insufficient_funds", "Ines Insufficient-Funds", "ines.insufficient@example.com", "insufficient_funds", "fails (INSUFFICIENT_FUNDS)", "4000000000009995", valid),
		c("cus_card_3ds", "Theo Three-D-Secure", "theo.3ds@example.com", "3ds", "waits for 3-D Secure (requires_customer_action)", "4000002500003155", valid),
		c("cus_card_expired", "Eve Expired-Card", "eve.expired@example.com", "expired", "fails (EXPIRED_CARD); never offered one-click", "4242424242424242", now.Year()-1),
	}
}

// StartStandin starts the stand-in and, unless cfg.Empty, seeds the demo
// catalog and one customer per test card. Close stops it.
func StartStandin(cfg StandinConfig) (*Standin, error) {
	if cfg.APIKey == "" {
		cfg.APIKey = "dodo_dev_" + hex.EncodeToString(randomBytes(12))
	}
	ln, err := listenFree(cfg.Addr)
	if err != nil {
		return nil, err
	}
	srv := standin.New(standin.Config{BusinessID: "bus_offerflow_dev", APIKey: cfg.APIKey, WebhookURL: cfg.WebhookURL, WebhookSecret: cfg.WebhookSecret, IDTag: cfg.IDTag})
	s := &Standin{URL: "http://" + ln.Addr().String(), APIKey: cfg.APIKey, srv: srv, stopped: make(chan struct{}),
		http: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	if !cfg.Empty {
		if err := s.seed(cfg.IDTag); err != nil {
			srv.Close()
			ln.Close()
			return nil, err
		}
	}
	go func() {
		defer close(s.stopped)
		s.serveErr = s.http.Serve(ln)
	}()
	return s, nil
}

// seed adds the demo catalog and the test-card customers.
func (s *Standin) seed(tag string) error {
	for _, p := range demoProducts() {
		if _, err := s.srv.AddProduct(p); err != nil {
			return fmt.Errorf("seed product %s: %w", p.ID, err)
		}
		s.Products = append(s.Products, p)
	}
	if tag != "" {
		tag = "_" + tag
	}
	for _, c := range demoCustomers(tag, s.srv.Now()) {
		if _, err := s.srv.AddCustomer(standin.Customer{ID: c.id, Name: c.name, Email: c.email, Country: "US", Zipcode: "94102"}); err != nil {
			return fmt.Errorf("seed customer %s: %w", c.id, err)
		}
		pm, err := s.srv.AddPaymentMethod(c.id, c.card)
		if err != nil {
			return fmt.Errorf("seed card of %s: %w", c.id, err)
		}
		s.Customers = append(s.Customers, SeededCustomer{ID: c.id, Name: c.name, Email: c.email, TestCard: c.testCard, PaymentMethodID: pm, Outcome: c.outcome})
	}
	return nil
}

// Stopped is closed when the stand-in stops serving: after Close, or
// before it if serving failed (Err says why).
func (s *Standin) Stopped() <-chan struct{} { return s.stopped }

// Err is why the stand-in stopped serving; call it after Stopped is closed.
func (s *Standin) Err() error {
	if errors.Is(s.serveErr, http.ErrServerClosed) {
		return nil
	}
	return s.serveErr
}

// addCustomer seeds a customer with a saved card that succeeds (4242).
func (s *Standin) addCustomer(id, name, email string) (paymentMethodID string, err error) {
	if _, err := s.srv.AddCustomer(standin.Customer{ID: id, Name: name, Email: email, Country: "US", Zipcode: "94102"}); err != nil {
		return "", err
	}
	return s.srv.AddPaymentMethod(id, standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3})
}

// Close stops sending webhooks, then stops serving.
func (s *Standin) Close() {
	s.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx) // a dev server; nothing to do if it cannot shut down in time
	<-s.stopped
}

// runDodoJourney is the demo's second part: a customer buys and upgrades
// through Dodo's API (the stand-in, called with offerflow's own client),
// and offerflow reacts to the webhooks Dodo sends.
func (demo *demo) runDodoJourney(ctx context.Context, d *Standin) error {
	customer := "cus_ben_" + demo.runID
	pm, err := d.addCustomer(customer, "Ben Ortiz", "ben@example.com")
	if err != nil {
		return err
	}
	client, err := dodo.New(dodo.Config{APIKey: d.APIKey, BaseURL: d.URL})
	if err != nil {
		return err
	}
	demo.p.line("\nThrough Dodo's API (the stand-in at %s, called with internal/dodo), for %s with a saved card ending 4242:", d.URL, customer)

	oneClick := func(product, key string) dodo.CheckoutRequest {
		return dodo.OneClickCheckout(dodo.OneClick{
			CustomerID: customer, PaymentMethodID: pm, ProductID: product,
			Country: "US", Zipcode: "94102", ReturnURL: "https://merchant.example/thanks",
			IdempotencyKey: key + "_" + demo.runID,
		})
	}

	demo.p.line("8. Ben buys the course with one click")
	session, err := client.CreateCheckout(ctx, oneClick("pdt_course_rust", "course"))
	if err != nil {
		return err
	}
	demo.p.line("   -> Dodo POST /checkouts (confirm, saved card) <- payment %s; Dodo sends payment.succeeded", deref(session.PaymentID))
	demo.p.line("   offerflow grants the course and offers the workbook (rule workbook-after-course):")
	if err := demo.follow(ctx, 2); err != nil {
		return err
	}

	demo.p.line("9. Ben subscribes to Basic with one click")
	if session, err = client.CreateCheckout(ctx, oneClick("pdt_basic", "basic")); err != nil {
		return err
	}
	demo.p.line("   -> Dodo POST /checkouts <- payment %s; Dodo sends payment.succeeded, subscription.active", deref(session.PaymentID))
	demo.p.line("   offerflow grants Basic:")
	if err := demo.follow(ctx, 1); err != nil {
		return err
	}

	demo.p.line("10. Ben's app sees him near his plan's limit and tells offerflow (a signal)")
	status, err := demo.signal(ctx, customer, "plan_limit_near", "limit_"+demo.runID)
	if err != nil {
		return err
	}
	demo.p.line("   -> POST /v1/customers/%s/signals plan_limit_near <- %d", customer, status)
	demo.p.line("   offerflow stores it and offers Pro, priced by Dodo's change-plan preview (rule basic-to-pro):")
	if err := demo.follow(ctx, 2); err != nil {
		return err
	}

	pro, ok := demo.lastOffers["pdt_pro"]
	if !ok {
		return errors.New("no Pro offer was published")
	}
	demo.p.line("11. Ben clicks \"Upgrade\": his browser posts the offer's signed token")
	status, answer, err := demo.answer(ctx, pro.ID, "accept", pro.AcceptToken)
	if err != nil {
		return err
	}
	demo.p.line("   -> POST /v1/offers/%s/accept <- %d %s", pro.ID, status, answer)
	demo.p.line("   Dodo changes the plan and charges the difference; offerflow moves access and converts the offer:")
	if err := demo.follow(ctx, 4); err != nil {
		return err
	}
	status, answer, err = demo.answer(ctx, pro.ID, "accept", pro.AcceptToken)
	if err != nil {
		return err
	}
	demo.p.line("   A second click with the same token <- %d %s (nothing charged)", status, answer)

	wb, ok := demo.lastOffers["pdt_workbook"]
	if !ok {
		return errors.New("no workbook offer was published")
	}
	demo.p.line("12. Ben declines the workbook")
	status, answer, err = demo.answer(ctx, wb.ID, "decline", wb.AcceptToken)
	if err != nil {
		return err
	}
	demo.p.line("   -> POST /v1/offers/%s/decline <- %d %s; never offered again", wb.ID, status, answer)
	demo.p.line("   offerflow offers the cheaper cheat sheet instead (rule cheatsheet-instead, the workbook rule's on_decline):")
	if err := demo.follow(ctx, 2); err != nil {
		return err
	}
	demo.p.line("   Dodo charged %s %d times in all (the stand-in counts every charge): course, Basic, the upgrade.", customer, d.srv.Charges(customer))
	return nil
}

// answer posts an accept or decline with an offer token and returns the
// status and the answer's outcome or error, in brief.
func (demo *demo) answer(ctx context.Context, offerID, what, token string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, demo.baseURL+"/v1/offers/"+offerID+"/"+what, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := demo.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
		Offer   struct {
			State     string `json:"state"`
			PaymentID string `json:"payment_id"`
		} `json:"offer"`
		Downsell *struct {
			ProductID string `json:"product_id"`
		} `json:"downsell"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", fmt.Errorf("%s answered %d with a body that is not JSON: %w", what, resp.StatusCode, err)
	}
	if out.Error != "" {
		return resp.StatusCode, out.Error, nil
	}
	if out.Downsell != nil {
		return resp.StatusCode, fmt.Sprintf("offer %s, downsell %s", out.Offer.State, out.Downsell.ProductID), nil
	}
	return resp.StatusCode, fmt.Sprintf("outcome %s, offer %s %s", out.Outcome, out.Offer.State, out.Offer.PaymentID), nil
}

// signal posts an app signal for customer with the server token, as the
// merchant's backend would, and returns the status.
func (demo *demo) signal(ctx context.Context, customer, name, id string) (int, error) {
	body, _ := json.Marshal(map[string]any{"id": id, "name": name, "value": 0.9})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, demo.baseURL+"/v1/customers/"+customer+"/signals", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+demo.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := demo.http.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, fmt.Errorf("signal %s answered %d, want 202", name, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
