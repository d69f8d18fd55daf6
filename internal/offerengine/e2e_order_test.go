package offerengine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/mail"
	"slices"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// A journey is one business change: how to bring a new customer up to it,
// and the webhooks Dodo sends for the change itself.
type journey struct {
	name string
	// change brings customer c to the business change and returns its
	// webhooks, undelivered.
	change func(e *env, c string) []standin.HeldWebhook
	// want is the kind of the one confirmation the change makes.
	want string
}

// One confirmation per business change, under every delivery order: each
// journey's webhooks are delivered one by one, each handled before the
// next, in every order (a seeded sample of 50 where there are more), for a
// new customer each time; then all of them once more under new webhook
// ids, as Dodo's dashboard replays them. Counted at the SMTP server and on
// offerflow.confirmations.>: exactly one, of the right kind, every time.
func TestConfirmationOnePerBusinessChangeInEveryOrder(t *testing.T) {
	in := startInbox(t)
	e := newEnv(t, testenv.WithSMTP("smtp://"+in.addr+"?starttls=none&from=shop@example.com"))

	journeys := []journey{
		{name: "one-click purchase through an offer", want: "offer_purchased", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			e.checkout(c, "pdt_course")
			wb := e.created(c, "pdt_workbook")
			return e.held(func() { e.mustAccept(wb.ID, wb.AcceptToken) })
		}},
		{name: "plan upgrade through an offer", want: "plan_upgraded", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			e.checkout(c, "pdt_basic")
			pro := e.created(c, "pdt_pro")
			return e.held(func() { e.mustAccept(pro.ID, pro.AcceptToken) })
		}},
		{name: "downgrade with credit through an offer", want: "plan_downgraded", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			e.checkout(c, "pdt_pro")
			e.later(15 * 24 * time.Hour) // half a month used: the rest is credit
			status, body := e.call(http.MethodPost, "/v1/customers/"+c+"/offers", "server",
				map[string]any{"request_id": "req-down-" + c, "product_id": "pdt_basic", "proration": "prorated_immediately"})
			if status != http.StatusCreated || num(body, "amounts.credit_kept") <= 0 {
				e.t.Fatalf("downgrade offer: %d %v, want one with credit kept", status, body)
			}
			return e.held(func() { e.mustAccept(str(body, "id"), str(body, "accept_token")) })
		}},
		{name: "plan change outside offerflow", want: "plan_changed", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			sub := e.checkout(c, "pdt_basic")
			return e.held(func() {
				_, err := e.Client.ChangePlan(context.Background(), sub, dodo.ChangePlanRequest{
					ProductID: "pdt_pro", Quantity: 1, ProrationBillingMode: offers.ProratedImmediately,
					EffectiveAt: dodo.EffectiveImmediately, OnPaymentFailure: dodo.PreventChange,
				})
				if err != nil {
					e.t.Fatalf("change plan in Dodo: %v", err)
				}
			})
		}},
		{name: "refund", want: "access_revoked", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			e.checkout(c, "pdt_course")
			// The stand-in has no refunds yet: Dodo's refund.succeeded, built
			// from the payment, and the payment's own webhook again, as
			// Dodo's dashboard resends it.
			p := e.lastPayment(c)
			refund := e.event("refund.succeeded", map[string]any{
				"payload_type": "Refund", "refund_id": "ref_" + c, "payment_id": p.ID, "business_id": "bus_e2e",
				"brand_id": "bus_e2e", "status": "succeeded", "is_partial": false, "amount": p.TotalAmount,
				"currency": p.Currency, "reason": nil, "metadata": map[string]any{},
				"customer":   map[string]any{"customer_id": c, "email": c + "@example.com", "name": "Ana " + c},
				"created_at": e.Clock.Now().Format(time.RFC3339),
			})
			return []standin.HeldWebhook{refund}
		}},
		{name: "cancel", want: "access_revoked", change: func(e *env, c string) []standin.HeldWebhook {
			e.customer(c, card(goodCard))
			e.checkout(c, "pdt_basic")
			// The stand-in cannot cancel yet: the subscription's last
			// webhook, as subscription.cancelled and as the
			// subscription.updated Dodo sends with it.
			active := e.lastSubscriptionEvent(c)
			var out []standin.HeldWebhook
			for _, typ := range []string{"subscription.cancelled", "subscription.updated"} {
				var env map[string]any
				if err := json.Unmarshal(active.Body, &env); err != nil {
					e.t.Fatal(err)
				}
				data := env["data"].(map[string]any)
				data["status"] = "cancelled"
				data["cancelled_at"] = e.Clock.Now().Format(time.RFC3339)
				out = append(out, e.event(typ, data))
			}
			return out
		}},
	}

	rng := rand.New(rand.NewPCG(16, 16))
	for _, j := range journeys {
		t.Run(j.name, func(t *testing.T) {
			e.t = t
			// The first customer's webhooks tell how many there are, and
			// so the orders to try.
			var perms [][]int
			for i := 0; perms == nil || i < len(perms); i++ {
				c := fmt.Sprintf("cus_%s_%d", slug(j.name), i)
				hooks := j.change(e, c)
				if perms == nil {
					perms = orders(len(hooks), 50, rng)
					t.Logf("%d webhooks %s, %d orders", len(hooks), types(hooks), len(perms))
				}
				if len(hooks) != len(perms[i]) {
					t.Fatalf("customer %s: %d webhooks, want %d", c, len(hooks), len(perms[i]))
				}
				before := len(e.confirmations(c))
				for _, k := range perms[i] {
					e.deliver(hooks[k], hooks[k].ID)
				}
				order := types(pick(hooks, perms[i]))
				e.checkOne(in, c, before, j.want, order)
				for _, h := range hooks {
					e.deliver(h, "replay_"+h.ID)
				}
				e.checkOne(in, c, before, j.want, order+" and replayed")
			}
		})
	}
}

// The accept call records an offer's outcome after Dodo has answered, and
// Dodo's webhooks can come first. Such a webhook finds the offer accepted:
// it is retried, not confirmed as a plan change made elsewhere, and once the
// outcome is recorded the customer gets the offer's one confirmation.
// (Before, the customer got an access email and the offer's email in this
// order.) Deterministic: the test plays the accept call's two writes itself,
// with Dodo's webhooks in between.
func TestPlanChangeWebhookWaitsForTheOfferOutcome(t *testing.T) {
	in := startInbox(t)
	e := newEnv(t, testenv.WithSMTP("smtp://"+in.addr+"?starttls=none&from=shop@example.com"), testenv.WithWorker(func(wc *service.WorkerConfig) {
		wc.MaxAttempts = 1_000_000 // retried for as long as the test takes
	}))
	ctx := context.Background()
	const c = "cus_race"
	e.customer(c, card(goodCard))
	sub := e.checkout(c, "pdt_basic")
	pro := e.created(c, "pdt_pro")
	store, err := e.Conn.OfferStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The accept's first write...
	if _, err := store.Transition(ctx, pro.ID, func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, e.Clock.Now()) }); err != nil {
		t.Fatal(err)
	}
	// ...Dodo changes the plan and charges...
	hooks := e.held(func() {
		_, err := e.Client.ChangePlan(ctx, sub, dodo.ChangePlanRequest{
			ProductID: "pdt_pro", Quantity: 1, ProrationBillingMode: offers.ProratedImmediately,
			EffectiveAt: dodo.EffectiveImmediately, OnPaymentFailure: dodo.PreventChange,
		})
		if err != nil {
			t.Fatalf("change plan: %v", err)
		}
	})
	before := len(e.confirmations(c))
	// ...and its webhooks arrive before the accept records the outcome.
	for _, h := range hooks {
		e.post(h, h.ID)
	}
	natstest.WaitFor(t, time.Minute, "the plan change's webhooks to be retried", func() bool {
		cons, err := e.Conn.JetStream().Consumer(ctx, natsbus.EventsStream, natsbus.WorkerConsumer)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumRedelivered > 0
	})
	if sent := e.confirmations(c); len(sent) != before {
		t.Fatalf("confirmed %s before the offer's outcome was known", sent[len(sent)-1].Kind)
	}
	// The accept's second write: the charge.
	pay := e.lastPayment(c)
	if _, err := store.Transition(ctx, pro.ID, func(o offers.Offer) (offers.Offer, error) { return offers.Convert(o, pay.ID, e.Clock.Now()) }); err != nil {
		t.Fatal(err)
	}
	e.settle()
	e.checkOne(in, c, before, "plan_upgraded", "webhooks before the outcome")
}

// checkOne checks that customer c has exactly one confirmation more than
// the before it had, of kind want, published and emailed.
func (e *env) checkOne(in *inbox, c string, before int, want, order string) {
	e.t.Helper()
	sent := e.confirmations(c)
	if len(sent) != before+1 {
		var kinds []string
		for _, s := range sent[before:] {
			kinds = append(kinds, string(s.Kind)+" "+s.ID)
		}
		e.t.Fatalf("order %s: %d confirmations for the change (%v), want 1 %s", order, len(sent)-before, kinds, want)
	}
	if got := string(sent[before].Kind); got != want {
		e.t.Fatalf("order %s: confirmation %s is %s, want %s", order, sent[before].ID, got, want)
	}
	if got := in.to(c + "@example.com"); got != len(sent) {
		e.t.Fatalf("order %s: %d emails to %s, want %d (one per confirmation)", order, got, c, len(sent))
	}
}

// orders returns the permutations of 0..n-1: all of them, or limit
// distinct ones drawn with rng when there are more.
func orders(n, limit int, rng *rand.Rand) [][]int {
	var all [][]int
	var gen func(prefix, rest []int)
	gen = func(prefix, rest []int) {
		if len(rest) == 0 {
			all = append(all, slices.Clone(prefix))
			return
		}
		for i := range rest {
			next := append(slices.Clone(rest[:i]), rest[i+1:]...)
			gen(append(prefix, rest[i]), next)
		}
	}
	first := make([]int, n)
	for i := range first {
		first[i] = i
	}
	gen(nil, first)
	if len(all) > limit {
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		all = all[:limit]
	}
	return all
}

func pick(h []standin.HeldWebhook, perm []int) []standin.HeldWebhook {
	var out []standin.HeldWebhook
	for _, k := range perm {
		out = append(out, h[k])
	}
	return out
}

func types(h []standin.HeldWebhook) string {
	var out []string
	for _, w := range h {
		out = append(out, w.Type)
	}
	return fmt.Sprint(out)
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// later moves the shared clock on.
func (e *env) later(d time.Duration) { e.Clock.Set(e.Clock.Now().Add(d)) }

// checkout buys product for c with the first saved card, delivers Dodo's
// webhooks in Dodo's order and waits until they are handled; it returns the
// subscription id of a subscription product.
func (e *env) checkout(c, product string) string {
	e.t.Helper()
	e.later(time.Minute)
	pms, err := e.Client.ListPaymentMethods(context.Background(), c)
	if err != nil || len(pms) == 0 {
		e.t.Fatalf("payment methods of %s: %v %v", c, pms, err)
	}
	var sub string
	hooks := e.held(func() {
		_, err := e.Client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
			CustomerID: c, PaymentMethodID: pms[0].PaymentMethodID, ProductID: product, Country: "US", Zipcode: "94102",
			IdempotencyKey: "buy-" + c + "-" + product,
		}))
		if err != nil {
			e.t.Fatalf("buy %s for %s: %v", product, c, err)
		}
	})
	for _, h := range hooks {
		e.deliver(h, h.ID)
		if h.Type == "subscription.active" {
			sub = str(decode(e.t, h.Body), "data.subscription_id")
		}
	}
	e.later(time.Minute)
	return sub
}

// held runs action with Dodo's webhook delivery held and returns the
// webhooks it caused, undelivered.
func (e *env) held(action func()) []standin.HeldWebhook {
	e.t.Helper()
	e.Dodo.SetDelivery(standin.Delivery{Hold: true})
	defer e.Dodo.SetDelivery(standin.Delivery{})
	action()
	return e.Dodo.TakeHeld()
}

func (e *env) mustAccept(id, token string) {
	e.t.Helper()
	if status, body := e.accept(id, token); status != http.StatusOK || str(body, "outcome") != "charged" {
		e.t.Fatalf("accept %s: %d %v", id, status, body)
	}
}

// deliver signs h as Dodo would, under webhook id, posts it to the ingest
// and waits until the worker has handled it.
func (e *env) deliver(h standin.HeldWebhook, id string) {
	e.t.Helper()
	e.post(h, id)
	e.settle()
}

// post signs h as Dodo would, under webhook id, and posts it to the ingest.
func (e *env) post(h standin.HeldWebhook, id string) {
	e.t.Helper()
	code := e.Post(e.t, id, h.Body)
	e.delivered = append(e.delivered, h)
	if code/100 != 2 {
		e.t.Fatalf("deliver %s %s: status %d", h.Type, id, code)
	}
}

// event builds a webhook of Dodo's envelope around data, at the clock's
// time.
func (e *env) event(typ string, data map[string]any) standin.HeldWebhook {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{
		"business_id": "bus_e2e", "type": typ, "timestamp": e.Clock.Now().Format(time.RFC3339Nano), "data": data,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return standin.HeldWebhook{ID: fmt.Sprintf("msg_built_%s_%d", typ, e.Clock.Now().UnixNano()), Type: typ, Body: body}
}

func (e *env) lastPayment(c string) standin.Payment {
	e.t.Helper()
	var last *standin.Payment
	for _, p := range e.Dodo.Payments() {
		if p.CustomerID == c {
			last = &p
		}
	}
	if last == nil {
		e.t.Fatalf("no payment of %s", c)
	}
	return *last
}

// lastSubscriptionEvent returns the last subscription.* webhook Dodo sent
// about customer c.
func (e *env) lastSubscriptionEvent(c string) standin.HeldWebhook {
	e.t.Helper()
	for i := len(e.delivered) - 1; i >= 0; i-- {
		h := e.delivered[i]
		b := decode(e.t, h.Body)
		if str(b, "data.customer.customer_id") == c && str(b, "data.subscription_id") != "" && str(b, "data.payment_id") == "" {
			return h
		}
	}
	e.t.Fatalf("no subscription webhook for %s", c)
	return standin.HeldWebhook{}
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// to counts the messages sent to addr.
func (in *inbox) to(addr string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, m := range in.msgs {
		list, err := mail.ParseAddressList(m.Header.Get("To"))
		if err != nil {
			continue
		}
		for _, a := range list {
			if a.Address == addr {
				n++
			}
		}
	}
	return n
}
