package testenv_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
)

// TestMain checks that what an Env starts is all stopped and joined when
// its test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

// A signed webhook in, access granted out: the ingest stores it, the
// worker grants the product and publishes the change.
func TestWebhookInAccessOut(t *testing.T) {
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	e := testenv.Start(t, testenv.WithClock(fakeclock.At(at)))
	body := fmt.Appendf(nil, `{"business_id":"bus_1","type":"payment.succeeded","timestamp":%q,"data":{"payload_type":"Payment",
		"payment_id":"pay_1","status":"succeeded","total_amount":1900,"currency":"USD","subscription_id":null,
		"customer":{"customer_id":"cus_1","email":"ana@example.com","name":"Ana"},"product_cart":[{"product_id":"pdt_course","quantity":1}]}}`,
		at.Format(time.RFC3339))
	if code := e.Post(t, "msg_1", body); code != http.StatusOK {
		t.Fatalf("webhook: status %d, want 200", code)
	}
	e.Settle(t)
	if got, want := e.Products(t, "cus_1"), []string{"pdt_course=active"}; !slices.Equal(got, want) {
		t.Fatalf("access %v, want %v", got, want)
	}
	changes := testenv.Decode[access.Change](t, e.Messages(t, natsbus.OutStream, events.AccessPrefix+"granted."))
	if len(changes) != 1 || changes[0].CustomerID != "cus_1" || changes[0].ProductID != "pdt_course" || changes[0].WebhookID != "msg_1" {
		t.Fatalf("granted %+v, want one grant of pdt_course to cus_1 by msg_1", changes)
	}
	if st := e.Messages(t, natsbus.EventsStream, ""); len(st) != 1 {
		t.Fatalf("DODO_EVENTS holds %d messages, want 1", len(st))
	}
}

// A purchase through the stand-in's API: Dodo's own webhooks reach the
// ingest, signed, and Settle waits for them to be delivered and handled.
func TestPurchaseThroughDodo(t *testing.T) {
	e := testenv.Start(t, testenv.WithDodo())
	if _, err := e.Dodo.AddCustomer(standin.Customer{ID: "cus_1", Name: "Ana", Email: "ana@example.com"}); err != nil {
		t.Fatal(err)
	}
	pm, err := e.Dodo.AddPaymentMethod("cus_1", standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: e.Clock.Now().Year() + 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Dodo.AddProduct(standin.Product{ID: "pdt_guide", Name: "Guide", Price: 1900, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if pay := e.Buy(t, "cus_1", pm, "pdt_guide", nil); pay == "" {
		t.Fatal("no payment id")
	}
	e.Settle(t)
	if got, want := e.Products(t, "cus_1"), []string{"pdt_guide=active"}; !slices.Equal(got, want) {
		t.Fatalf("access %v, want %v", got, want)
	}
}
