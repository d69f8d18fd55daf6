package offerengine_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

const previewRoute = "POST /subscriptions/{subscription_id}/change-plan/preview"

// An on-demand offer answers what the client should do next when Dodo says
// no: 422 dodo_refused when Dodo refuses for good (a retry is refused
// again), 503 when it fails (a retry may pass), and the same request then
// makes its offer once Dodo agrees. Nothing is stored for a refused one.
func TestOfferRequestWhenDodoRefuses(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_ref", card(goodCard))
	e.buy("cus_ref", pm, "pdt_basic")
	ask := func() (int, map[string]any) {
		return e.call(http.MethodPost, "/v1/customers/cus_ref/offers", "server",
			map[string]any{"request_id": "req-down", "product_id": "pdt_starter"})
	}

	e.Dodo.FailNext(previewRoute, 1, http.StatusUnprocessableEntity, "PLAN_CHANGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION", "cancelled at its next billing date")
	if status, body := ask(); status != http.StatusUnprocessableEntity || str(body, "error") != "dodo_refused" {
		t.Fatalf("Dodo refuses the preview: %d %v, want 422 dodo_refused", status, body)
	}
	// Every retry of the client (and of our own client) fails too.
	e.Dodo.FailNext(previewRoute, 100, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "boom")
	status, body := ask()
	if status != http.StatusServiceUnavailable {
		t.Fatalf("Dodo fails the preview: %d %v, want 503", status, body)
	}
	e.Dodo.FailNext(previewRoute, 0, 0, "", "")
	_, offs := e.call(http.MethodGet, "/v1/customers/cus_ref/offers", "server", nil)
	for _, o := range offs["offers"].([]any) {
		if str(o.(map[string]any), "product_id") == "pdt_starter" {
			t.Fatalf("open offers after the refusals: %v, want none of pdt_starter", offs)
		}
	}
	if status, body := ask(); status != http.StatusCreated || str(body, "product_id") != "pdt_starter" {
		t.Fatalf("once Dodo agrees: %d %v, want 201 and the offer", status, body)
	}
}

// A decline whose downsell Dodo refuses for good stands, without the
// downsell: a 200 the customer's page can show, not a 503 whose retry is
// refused again.
func TestDeclineWhenDodoRefusesTheDownsell(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_drf", card(goodCard))
	e.buy("cus_drf", pm, "pdt_course")
	o := e.created("cus_drf", "pdt_workbook")
	// Making the downsell reads the customer's payments at Dodo first.
	e.Dodo.FailNext("GET /payments", 100, http.StatusUnprocessableEntity, "INVALID_REQUEST_BODY", "refused")
	status, body := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/decline", "", map[string]string{"token": o.AcceptToken})
	e.Dodo.FailNext("GET /payments", 0, 0, "", "")
	if status != http.StatusOK || str(body, "offer.state") != "declined" || body["downsell"] != nil {
		t.Fatalf("decline: %d %v, want 200, declined, no downsell", status, body)
	}
	e.settle()
	if n := len(e.messages("declined", "cus_drf")); n != 1 {
		t.Fatalf("offers.declined: %d, want 1", n)
	}
	for _, m := range e.messages("created", "cus_drf") {
		if m.ProductID == "pdt_workbook_lite" {
			t.Fatalf("a downsell was made though Dodo refused: %+v", m.Offer)
		}
	}
}

// A payment found at Dodo under an offer's idempotency key settles the
// offer only if it is the offer's charge (customer, product, quantity,
// amount, currency), as a webhook's must: neither the accept call that lost
// Dodo's answer nor the sweep converts an offer on another purchase.
func TestRecoveredPaymentMustMatchTheOffer(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_rpm", card(goodCard))
	e.buy("cus_rpm", pm, "pdt_course")
	o := e.created("cus_rpm", "pdt_workbook")
	// Another purchase of the customer's that carries the offer's key.
	if _, err := e.Client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: "cus_rpm", PaymentMethodID: pm, ProductID: "pdt_course_2", Country: "US", Zipcode: "94102",
		IdempotencyKey: o.ID,
	})); err != nil {
		t.Fatal(err)
	}
	e.settle()
	// Dodo's answer to the offer's charge is lost: the client looks the
	// payment up by the key and finds that purchase.
	e.Dodo.FailNext("POST /checkouts", 1, http.StatusBadGateway, "BAD_GATEWAY", "lost")
	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "pending" {
		t.Fatalf("accept: %d %v, want 200 pending (the payment found is not the offer's)", status, body)
	}
	e.later(5 * time.Minute) // past StuckAfter: the sweep resolves it
	natstest.WaitFor(t, time.Minute, "the sweep to settle the offer", func() bool {
		return len(e.messages("failed", "cus_rpm")) > 0 || len(e.messages("converted", "cus_rpm")) > 0
	})
	e.settle()
	if n := len(e.messages("converted", "cus_rpm")); n != 0 {
		t.Fatalf("offers.converted: %d, want 0: the offer was settled on another purchase", n)
	}
	if failed := e.messages("failed", "cus_rpm"); len(failed) != 1 || failed[0].ID != o.ID {
		t.Fatalf("offers.failed: %+v, want the offer, with its fallback", failed)
	}
	if got := e.Dodo.Charges("cus_rpm"); got != 2 {
		t.Fatalf("charges %d, want 2 (the two courses): the offer's charge was never made", got)
	}
}
