package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/webhook"
)

// devDodo is the Dodo stand-in `offerflow dev` serves: it answers Dodo's
// REST API on a loopback port and sends its signed webhooks to the ingest,
// as Dodo would.
type devDodo struct {
	srv  *standin.Server
	http *http.Server
	url  string
	key  string
	done chan error
}

// startDevDodo starts the stand-in on ln, delivering webhooks to
// webhookURL signed with secret, and seeds the demo catalog.
func startDevDodo(ln net.Listener, webhookURL string, secret webhook.Secret, runID string) (*devDodo, error) {
	key := "dodo_dev_" + fmt.Sprintf("%x", randomBytes(12))
	srv := standin.New(standin.Config{BusinessID: "bus_offerflow_dev", APIKey: key, WebhookURL: webhookURL, WebhookSecret: secret, IDTag: runID})
	products := []standin.Product{
		{ID: "pdt_course_rust", Name: "Rust for payments engineers", Price: 4900, Currency: "USD"},
		{ID: "pdt_basic", Name: "Basic", Price: 3000, Currency: "USD", Recurring: true, Interval: "Month"},
		{ID: "pdt_pro", Name: "Pro", Price: 8000, Currency: "USD", Recurring: true, Interval: "Month"},
	}
	for _, p := range products {
		if _, err := srv.AddProduct(p); err != nil {
			srv.Close()
			return nil, fmt.Errorf("seed product %s: %w", p.ID, err)
		}
	}
	d := &devDodo{srv: srv, key: key, url: "http://" + ln.Addr().String(), done: make(chan error, 1),
		http: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go func() { d.done <- d.http.Serve(ln) }()
	return d, nil
}

// addCustomer seeds a customer with a saved card that succeeds (4242).
func (d *devDodo) addCustomer(id, name, email string) (paymentMethodID string, err error) {
	if _, err := d.srv.AddCustomer(standin.Customer{ID: id, Name: name, Email: email, Country: "US", Zipcode: "94102"}); err != nil {
		return "", err
	}
	return d.srv.AddPaymentMethod(id, standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3})
}

// close stops sending webhooks, then stops serving.
func (d *devDodo) close() {
	d.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.http.Shutdown(ctx) // a dev server; nothing to do if it cannot shut down in time
	<-d.done
}

// runDodoJourney is the demo's second part: a customer buys and upgrades
// through Dodo's API (the stand-in, called with offerflow's own client),
// and offerflow reacts to the webhooks Dodo sends.
func (demo *demo) runDodoJourney(ctx context.Context, d *devDodo) error {
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
	if err := demo.follow(ctx, 1); err != nil {
		return err
	}

	demo.p.line("10. Ben subscribes to Basic with one click")
	if session, err = client.CreateCheckout(ctx, oneClick("pdt_basic", "basic")); err != nil {
		return err
	}
	payment, err := client.GetPayment(ctx, deref(session.PaymentID))
	if err != nil {
		return err
	}
	sub := deref(payment.SubscriptionID)
	if sub == "" {
		return errors.New("the subscription checkout created no subscription")
	}
	demo.p.line("   -> Dodo POST /checkouts <- payment %s, subscription %s; Dodo sends payment.succeeded, subscription.active", payment.PaymentID, sub)
	if err := demo.follow(ctx, 1); err != nil {
		return err
	}

	change := dodo.ChangePlanRequest{ProductID: "pdt_pro", Quantity: 1, ProrationBillingMode: dodo.ProratedImmediately,
		EffectiveAt: dodo.EffectiveImmediately, OnPaymentFailure: dodo.PreventChange}
	demo.p.line("11. Ben previews, then makes, the upgrade to Pro (prorated_immediately)")
	preview, err := client.PreviewChangePlan(ctx, sub, change)
	if err != nil {
		return err
	}
	sum := preview.ImmediateCharge.Summary
	demo.p.line("   -> Dodo POST .../change-plan/preview <- due now %s %.2f, credits %d", sum.Currency, float64(sum.TotalAmount)/100, sum.CustomerCredits)
	if err := client.ChangePlan(ctx, sub, change); err != nil {
		return err
	}
	demo.p.line("   -> Dodo POST .../change-plan <- 200; Dodo sends payment.succeeded, subscription.plan_changed, subscription.active")
	if err := demo.follow(ctx, 2); err != nil {
		return err
	}
	demo.p.line("   Dodo charged %s %d times in all (the stand-in counts every charge).", customer, d.srv.Charges(customer))
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
