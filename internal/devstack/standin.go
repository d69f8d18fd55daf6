package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/webhook"
)

// dodoStandin is the Dodo stand-in `offerflow dev` serves: it answers Dodo's
// REST API on a loopback port and sends its signed webhooks to the ingest,
// as Dodo would.
type dodoStandin struct {
	srv  *standin.Server
	http *http.Server
	url  string
	key  string
	done chan error
}

// startStandin starts the stand-in on addr (or a free port of its host),
// delivering webhooks to webhookURL signed with secret, and seeds the demo
// catalog.
func startStandin(addr, webhookURL string, secret webhook.Secret, runID string) (*dodoStandin, error) {
	ln, err := listenFree(addr)
	if err != nil {
		return nil, err
	}
	key := "dodo_dev_" + fmt.Sprintf("%x", randomBytes(12))
	srv := standin.New(standin.Config{BusinessID: "bus_offerflow_dev", APIKey: key, WebhookURL: webhookURL, WebhookSecret: secret, IDTag: runID})
	products := []standin.Product{
		{ID: "pdt_course_rust", Name: "Rust for payments engineers", Price: 4900, Currency: "USD"},
		{ID: "pdt_basic", Name: "Basic", Price: 3000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_pro", Name: "Pro", Price: 8000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_workbook", Name: "Rust for payments engineers (workbook)", Price: 1900, Currency: "USD"},
	}
	for _, p := range products {
		if _, err := srv.AddProduct(p); err != nil {
			srv.Close()
			ln.Close()
			return nil, fmt.Errorf("seed product %s: %w", p.ID, err)
		}
	}
	d := &dodoStandin{srv: srv, key: key, url: "http://" + ln.Addr().String(), done: make(chan error, 1),
		http: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go func() { d.done <- d.http.Serve(ln) }()
	return d, nil
}

// addCustomer seeds a customer with a saved card that succeeds (4242).
func (d *dodoStandin) addCustomer(id, name, email string) (paymentMethodID string, err error) {
	if _, err := d.srv.AddCustomer(standin.Customer{ID: id, Name: name, Email: email, Country: "US", Zipcode: "94102"}); err != nil {
		return "", err
	}
	return d.srv.AddPaymentMethod(id, standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3})
}

// close stops sending webhooks, then stops serving.
func (d *dodoStandin) close() {
	d.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.http.Shutdown(ctx) // a dev server; nothing to do if it cannot shut down in time
	<-d.done
}

// runDodoJourney is the demo's second part: a customer buys and upgrades
// through Dodo's API (the stand-in, called with offerflow's own client),
// and offerflow reacts to the webhooks Dodo sends.
func (demo *demo) runDodoJourney(ctx context.Context, d *dodoStandin) error {
	customer := "cus_ben_" + demo.runID
	pm, err := d.addCustomer(customer, "Ben Ortiz", "ben@example.com")
	if err != nil {
		return err
	}
	client, err := dodo.New(dodo.Config{APIKey: d.key, BaseURL: d.url})
	if err != nil {
		return err
	}
	demo.p.line("\nThrough Dodo's API (the stand-in at %s, called with internal/dodo), for %s with a saved card ending 4242:", d.url, customer)

	oneClick := func(product, key string) dodo.CheckoutRequest {
		return dodo.OneClickCheckout(dodo.OneClick{
			CustomerID: customer, PaymentMethodID: pm, ProductID: product,
			Country: "US", Zipcode: "94102", ReturnURL: "https://merchant.example/thanks",
			IdempotencyKey: key + "_" + demo.runID,
		})
	}

	demo.p.line("9. Ben buys the course with one click")
	session, err := client.CreateCheckout(ctx, oneClick("pdt_course_rust", "course"))
	if err != nil {
		return err
	}
	demo.p.line("   -> Dodo POST /checkouts (confirm, saved card) <- payment %s; Dodo sends payment.succeeded", deref(session.PaymentID))
	demo.p.line("   offerflow grants the course and offers the workbook (rule workbook-after-course):")
	if err := demo.follow(ctx, 2); err != nil {
		return err
	}

	demo.p.line("10. Ben subscribes to Basic with one click")
	if session, err = client.CreateCheckout(ctx, oneClick("pdt_basic", "basic")); err != nil {
		return err
	}
	demo.p.line("   -> Dodo POST /checkouts <- payment %s; Dodo sends payment.succeeded, subscription.active", deref(session.PaymentID))
	demo.p.line("   offerflow grants Basic and offers Pro, priced by Dodo's change-plan preview (rule basic-to-pro):")
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

	if wb, ok := demo.lastOffers["pdt_workbook"]; ok {
		demo.p.line("12. Ben declines the workbook")
		status, _, err := demo.answer(ctx, wb.ID, "decline", wb.AcceptToken)
		if err != nil {
			return err
		}
		demo.p.line("   -> POST /v1/offers/%s/decline <- %d; never offered again", wb.ID, status)
		if err := demo.follow(ctx, 1); err != nil {
			return err
		}
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
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", fmt.Errorf("%s answered %d with a body that is not JSON: %w", what, resp.StatusCode, err)
	}
	if out.Error != "" {
		return resp.StatusCode, out.Error, nil
	}
	return resp.StatusCode, fmt.Sprintf("outcome %s, offer %s %s", out.Outcome, out.Offer.State, out.Offer.PaymentID), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
