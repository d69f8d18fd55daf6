package offerengine_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/testenv"
)

// Two customers share one offerflow, and their clients choose the same ids.
// Each id is scoped by its customer: the same request_id and signal id from
// both sides make two offers, each charging only its own customer (counted
// at the stand-in). Before, customer B's request with A's request_id was
// answered with A's offer, and accepting it charged A's card; B's signal
// with A's id was dropped as a duplicate.
func TestTwoCustomersSameClientIDs(t *testing.T) {
	e := newEnv(t)
	const a, b = "cus_tenant_a", "cus_tenant_b"
	// A purchase each: Dodo then knows their billing address, which a
	// one-click charge needs.
	e.buy(a, e.customer(a, card(goodCard)), "pdt_course_2")
	e.buy(b, e.customer(b, card(goodCard)), "pdt_course_2")
	baseA, baseB := e.Dodo.Charges(a), e.Dodo.Charges(b)

	// The same request id, the same body, from both.
	offerOf := func(c string) map[string]any {
		t.Helper()
		status, body := e.call(http.MethodPost, "/v1/customers/"+c+"/offers", "server",
			map[string]any{"request_id": "req-1", "product_id": "pdt_workbook_lite"})
		if status != http.StatusCreated {
			t.Fatalf("offer request of %s: %d %v", c, status, body)
		}
		return body
	}
	oa, ob := offerOf(a), offerOf(b)
	if str(oa, "id") == str(ob, "id") {
		t.Fatalf("both customers got offer %s", str(oa, "id"))
	}
	if str(oa, "customer_id") != a || str(ob, "customer_id") != b {
		t.Fatalf("offers of %s and %s, want %s and %s", str(oa, "customer_id"), str(ob, "customer_id"), a, b)
	}
	// B accepts theirs: B is charged, A is not.
	if status, res := e.accept(str(ob, "id"), str(ob, "accept_token")); status != http.StatusOK || str(res, "outcome") != "charged" {
		t.Fatalf("accept of %s: %d %v", b, status, res)
	}
	e.settle()
	if ca, cb := e.Dodo.Charges(a)-baseA, e.Dodo.Charges(b)-baseB; ca != 0 || cb != 1 {
		t.Fatalf("charges for the offers: %s %d, %s %d; want 0 and 1", a, ca, b, cb)
	}
	// A token of one customer's offer does not accept the other's.
	if status, _ := e.accept(str(oa, "id"), str(ob, "accept_token")); status != http.StatusForbidden {
		t.Fatalf("accept of %s's offer with %s's token: %d, want 403", a, b, status)
	}

	// The same signal id from both: each makes the customer's own offer.
	for _, c := range []string{a, b} {
		status, body := e.call(http.MethodPost, "/v1/customers/"+c+"/signals", "server",
			map[string]any{"id": "sig-1", "name": "onboarding_completed"})
		if status != http.StatusAccepted || body["duplicate"] != false {
			t.Fatalf("signal of %s: %d %v, want 202 and not a duplicate", c, status, body)
		}
	}
	e.settle()
	for _, c := range []string{a, b} {
		e.created(c, "pdt_course") // exactly one each
	}
	if ca, cb := e.Dodo.Charges(a)-baseA, e.Dodo.Charges(b)-baseB; ca != 0 || cb != 1 {
		t.Fatalf("charges after the signals: %s %d, %s %d; want 0 and 1", a, ca, b, cb)
	}
}

// A request_id is an idempotency key: the same customer's same id with the
// same request returns the same offer; with another request it is refused
// with 409, naming the id, and nothing is made or charged. Before, the
// earlier offer (of another product) came back, and accepting it charged
// for what the client had not asked for.
func TestRequestIDReusedForAnotherRequest(t *testing.T) {
	e := newEnv(t)
	const c = "cus_reuse"
	e.customer(c, card(goodCard))
	ask := func(body map[string]any) (int, map[string]any) {
		t.Helper()
		return e.call(http.MethodPost, "/v1/customers/"+c+"/offers", "server", body)
	}
	status, first := ask(map[string]any{"request_id": "req-x", "product_id": "pdt_workbook"})
	if status != http.StatusCreated {
		t.Fatalf("first request: %d %v", status, first)
	}
	status, again := ask(map[string]any{"request_id": "req-x", "product_id": "pdt_workbook"})
	if status/100 != 2 || str(again, "id") != str(first, "id") {
		t.Fatalf("same request again: %d %v, want offer %s", status, again, str(first, "id"))
	}
	tests := []struct {
		name string
		body map[string]any
	}{
		{"another product", map[string]any{"request_id": "req-x", "product_id": "pdt_course"}},
		{"another quantity", map[string]any{"request_id": "req-x", "product_id": "pdt_workbook", "quantity": 2}},
		{"another validity", map[string]any{"request_id": "req-x", "product_id": "pdt_workbook", "valid_for": "2h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := ask(tt.body)
			if status != http.StatusConflict || str(body, "error") != "idempotency_conflict" || !strings.Contains(str(body, "message"), `"req-x"`) {
				t.Fatalf("%d %v, want 409 idempotency_conflict naming req-x", status, body)
			}
		})
	}
	if n := len(e.messages("created", c)); n != 1 {
		t.Fatalf("%d offers made, want 1", n)
	}
	if n := e.Dodo.Charges(c); n != 0 {
		t.Fatalf("%d charges, want 0", n)
	}
}

// A payment settles an offer only if it is that offer's charge. Metadata is
// written by whoever creates a payment: another customer's payment, or the
// customer's own payment of another product, naming an open offer in
// offerflow_offer_id leaves the offer open (before, either converted it:
// the victim's offer counted as bought, with its confirmation). The
// offer's own payment still converts it.
func TestPaymentNamingAnotherOfferDoesNotSettleIt(t *testing.T) {
	e := newEnv(t)
	const victim, mallory = "cus_victim", "cus_mallory"
	e.customer(victim) // no saved card: the offer links to Dodo's checkout
	e.signal(victim, "onb-1", "onboarding_completed", 1)
	o := e.created(victim, "pdt_course")
	if o.OneClick {
		t.Fatalf("offer %s is one-click; want a checkout-link offer", o.ID)
	}
	payNaming := func(c, pm, product string) {
		t.Helper()
		_, err := e.Client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
			CustomerID: c, PaymentMethodID: pm, ProductID: product, Country: "US", Zipcode: "94102",
			Metadata:       wire.Metadata{offerengine.MetadataOfferID: wire.StringValue(o.ID)},
			IdempotencyKey: "hostile-" + c + "-" + product,
		}))
		if err != nil {
			t.Fatalf("checkout of %s for %s: %v", product, c, err)
		}
		e.settle()
	}
	state := func() string {
		t.Helper()
		status, body := e.call(http.MethodGet, "/v1/offers/"+o.ID, "server", nil)
		if status != http.StatusOK {
			t.Fatalf("get offer: %d %v", status, body)
		}
		return str(body, "state")
	}
	// Another customer's cheaper purchase, naming the victim's offer.
	payNaming(mallory, e.customer(mallory, card(goodCard)), "pdt_workbook")
	if s := state(); s != "open" {
		t.Fatalf("after another customer's payment naming it, the offer is %s, want open", s)
	}
	// The customer's own payment of another product, naming it.
	pm, err := e.Dodo.AddPaymentMethod(victim, card(goodCard))
	if err != nil {
		t.Fatal(err)
	}
	payNaming(victim, pm, "pdt_workbook")
	if s := state(); s != "open" {
		t.Fatalf("after a payment of another product naming it, the offer is %s, want open", s)
	}
	if n := len(e.messages("converted", victim)); n != 0 {
		t.Fatalf("%d offers.converted for %s, want none", n, victim)
	}
	// The offer's own payment (the checkout link's) converts it.
	payNaming(victim, pm, "pdt_course")
	if s := state(); s != "charged" {
		t.Fatalf("after its own payment the offer is %s, want charged", s)
	}
}

// An on-demand offer for a customer Dodo does not know is the client's
// mistake: 404 unknown_customer, never a 503 to retry.
func TestOfferRequestForUnknownCustomer(t *testing.T) {
	e := newEnv(t)
	status, body := e.call(http.MethodPost, "/v1/customers/cus_nobody/offers", "server",
		map[string]any{"request_id": "req-1", "product_id": "pdt_workbook"})
	if status != http.StatusNotFound || str(body, "error") != "unknown_customer" || !strings.Contains(str(body, "message"), "cus_nobody") {
		t.Fatalf("%d %v, want 404 unknown_customer naming cus_nobody", status, body)
	}
}

// Each offer state is published once, whatever the timing: declining an
// offer again after JetStream's duplicate window publishes neither a second
// offers.declined nor a second offers.created with a new token (before, it
// published both: the republish relied on the window alone).
func TestDecliningAgainPublishesNothing(t *testing.T) {
	// The probe of the duplicate window below is the test's own message,
	// on no channel of the contract.
	e := newEnv(t, testenv.WithOffContract("window-probe"))
	const c = "cus_decline_twice"
	e.customer(c)
	e.signal(c, "onb-1", "onboarding_completed", 1)
	o := e.created(c, "pdt_course")
	decline := func() {
		t.Helper()
		status, body := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/decline", "", map[string]string{"token": o.AcceptToken})
		if status != http.StatusOK {
			t.Fatalf("decline: %d %v", status, body)
		}
	}
	decline()
	// Shrink the OFFERFLOW stream's duplicate window and wait until it
	// has lapsed: a probe published twice under one id is stored twice.
	ctx := context.Background()
	st, err := e.Conn.JetStream().Stream(ctx, natsbus.OutStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	// The server purges expired ids on a timer that a change of the window
	// resets, but it can fire before the new window is set, and then waits
	// out the old one (10 minutes; seen once in CI). Each change of the
	// window purges again, with the window set by the change before: so
	// the window alternates between two short values until the probe
	// shows the purge happened.
	windows := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} // 100 ms: the least JetStream takes
	shrink := func(i int) {
		cfg.Duplicates = windows[i%2]
		if _, err := e.Conn.JetStream().UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	shrink(0)
	probe := func() bool {
		m := nats.NewMsg("offerflow.test.window_probe")
		m.Header.Set(jetstream.MsgIDHeader, "window-probe")
		ack, err := e.Conn.JetStream().PublishMsg(ctx, m)
		return err == nil && !ack.Duplicate
	}
	probe()
	polls := 0
	natstest.WaitFor(t, time.Minute, "the duplicate window to lapse", func() bool {
		if probe() {
			return true
		}
		if polls++; polls%10 == 0 {
			shrink(polls / 10)
		}
		return false
	})
	decline()
	e.settle()
	if n := len(e.messages("declined", c)); n != 1 {
		t.Fatalf("%d offers.declined messages, want 1", n)
	}
	if n := len(e.messages("created", c)); n != 1 {
		t.Fatalf("%d offers.created messages, want 1", n)
	}
}
