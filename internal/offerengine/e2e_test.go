package offerengine_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// Basic bought -> Pro offered -> accepted -> charged once -> converted,
// through Dodo's webhooks, the ingest, JetStream, the worker and the API.
func TestUpsellAcceptedChargedOnceConverted(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_ana", card(goodCard))
	e.buy("cus_ana", pm, "pdt_basic")

	o := e.created("cus_ana", "pdt_pro")
	switch {
	case o.Kind != offers.Upsell || !o.ChangePlan || o.FromProductID != "pdt_basic" || o.Proration != offers.ProratedImmediately:
		t.Fatalf("offer %+v: want a prorated plan change from pdt_basic", o.Offer)
	case !o.OneClick || o.Card.Last4 != "4242" || o.AcceptToken == "":
		t.Fatalf("offer %+v: want one-click on the card ending 4242, with a token", o.Offer)
	case o.Amounts.Currency != "USD" || o.Amounts.Price != 8000 || o.Amounts.CurrentPrice != 3000 || o.Amounts.PriceDifference != 5000:
		t.Fatalf("amounts %+v: want Pro at 8000 USD, 5000 more than Basic", o.Amounts)
	case o.Amounts.DueNow <= 0 || o.Amounts.DueNow > 5000:
		t.Fatalf("due now %d: want the prorated difference, at most 5000", o.Amounts.DueNow)
	case !slices.Equal(o.Gains, []string{"api", "sso"}) || o.Display.Badge != "most popular":
		t.Fatalf("gains %v display %+v: want [api sso] and the rule's badge", o.Gains, o.Display)
	}
	before := e.Dodo.Charges("cus_ana")

	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "charged" {
		t.Fatalf("accept: %d %v, want 200 charged", status, body)
	}
	e.settle()
	if got := e.Dodo.Charges("cus_ana"); got != before+1 {
		t.Fatalf("charges %d -> %d, want exactly one more", before, got)
	}
	pays := e.Dodo.Payments()
	last := pays[len(pays)-1]
	if last.TotalAmount != o.Amounts.DueNow || last.Metadata["offerflow_offer_id"] != o.ID {
		t.Fatalf("charge %d with metadata %v: want %d for offer %s", last.TotalAmount, last.Metadata, o.Amounts.DueNow, o.ID)
	}
	if sub, ok := e.Dodo.Subscription(last.SubscriptionID); !ok || sub.ProductID != "pdt_pro" {
		t.Fatalf("subscription after accept: %+v", sub)
	}

	// Clicking again, with the token or the server token, charges nothing.
	if status, body := e.accept(o.ID, o.AcceptToken); status != http.StatusConflict {
		t.Fatalf("second accept: %d %v, want 409", status, body)
	}
	if status, body := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/accept", "server", nil); status != http.StatusConflict || str(body, "error") != "already_accepted" {
		t.Fatalf("accept with the server token: %d %v, want 409 already_accepted", status, body)
	}
	e.settle()
	if got := e.Dodo.Charges("cus_ana"); got != before+1 {
		t.Fatalf("charges after more clicks: %d, want %d", got, before+1)
	}
	if n := len(e.messages("accepted", "cus_ana")); n != 1 {
		t.Fatalf("offers.accepted: %d messages, want 1", n)
	}
	conv := e.messages("converted", "cus_ana")
	if len(conv) != 1 || conv[0].PaymentID != last.ID || conv[0].State != offers.Charged {
		t.Fatalf("offers.converted: %+v, want one naming payment %s", conv, last.ID)
	}
	// Access moved to Pro from the webhooks Dodo sent for the change.
	_, acc := e.call(http.MethodGet, "/v1/customers/cus_ana/access", "server", nil)
	if feats, _ := acc["features"].([]any); !slices.Contains(feats, any("sso")) {
		t.Fatalf("access after the upgrade: %v, want sso", acc)
	}
	// The rule's figures.
	_, st := e.call(http.MethodGet, "/v1/offers/stats", "server", nil)
	rules, _ := st["rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("stats: %v", st)
	}
	r := rules[0].(map[string]any)
	if r["rule_id"] != "basic-to-pro" || r["shown"] != 1.0 || r["accepted"] != 1.0 || r["converted"] != 1.0 || num(r, "revenue.USD") != float64(o.Amounts.DueNow) {
		t.Fatalf("stats %v: want basic-to-pro shown 1, accepted 1, converted 1, revenue %d USD", r, o.Amounts.DueNow)
	}
}

// A course purchase makes a one-click cross-sell of the workbook; accepting
// charges the saved card once and the payment's webhook converts it.
func TestCrossSellAfterCoursePurchase(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_bo", card(goodCard))
	e.buy("cus_bo", pm, "pdt_course")
	o := e.created("cus_bo", "pdt_workbook")
	if o.Kind != offers.CrossSell || o.ChangePlan || !o.OneClick || o.Amounts.DueNow != 1900 || o.PaymentMethodID != pm {
		t.Fatalf("offer %+v: want a one-click cross-sell at 1900 on %s", o.Offer, pm)
	}
	if !slices.Equal(o.Gains, []string{"workbook"}) {
		t.Fatalf("gains %v", o.Gains)
	}
	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "charged" {
		t.Fatalf("accept: %d %v", status, body)
	}
	e.settle()
	if got := e.Dodo.Charges("cus_bo"); got != 2 {
		t.Fatalf("charges %d, want 2 (course, workbook)", got)
	}
	if n := len(e.messages("converted", "cus_bo")); n != 1 {
		t.Fatalf("offers.converted: %d, want 1", n)
	}
	_, acc := e.call(http.MethodGet, "/v1/customers/cus_bo/access", "server", nil)
	if feats, _ := acc["features"].([]any); !slices.Contains(feats, any("workbook")) {
		t.Fatalf("access: %v, want workbook", acc)
	}
}

// Each proration mode, up and down, halfway through the period (April 1 to
// May 1, on April 16): the offer shows what Dodo's guide computes, and
// accepting charges exactly that (or, down, keeps the credit).
func TestPlanChangeEachProrationMode(t *testing.T) {
	e := newEnv(t)
	type want struct {
		dueNow, creditKept int64
	}
	tests := []struct {
		from, to, mode string
		want           want
	}{
		{"pdt_basic", "pdt_pro", "prorated_immediately", want{2500, 0}},
		{"pdt_basic", "pdt_pro", "difference_immediately", want{5000, 0}},
		{"pdt_basic", "pdt_pro", "full_immediately", want{8000, 0}},
		{"pdt_basic", "pdt_pro", "do_not_bill", want{0, 0}},
		{"pdt_pro", "pdt_starter", "prorated_immediately", want{0, 3000}},
		{"pdt_pro", "pdt_starter", "difference_immediately", want{0, 6000}},
		{"pdt_pro", "pdt_starter", "full_immediately", want{2000, 0}},
		{"pdt_pro", "pdt_starter", "do_not_bill", want{0, 0}},
	}
	// Every customer subscribes on April 1; the changes happen on the 16th.
	e.Clock.Set(date(2026, 4, 1))
	subs := map[string]string{}
	for i, tt := range tests {
		c := "cus_plan_" + string(rune('a'+i))
		pm := e.customer(c, card(goodCard))
		e.buy(c, pm, tt.from)
		for _, p := range e.Dodo.Payments() {
			if p.CustomerID == c && p.SubscriptionID != "" {
				subs[c] = p.SubscriptionID
			}
		}
	}
	e.Clock.Set(date(2026, 4, 16))
	for i, tt := range tests {
		c := "cus_plan_" + string(rune('a'+i))
		t.Run(tt.from+"->"+tt.to+" "+tt.mode, func(t *testing.T) {
			status, body := e.call(http.MethodPost, "/v1/customers/"+c+"/offers", "server",
				map[string]any{"request_id": "req-" + c, "product_id": tt.to, "proration": tt.mode})
			if status != http.StatusCreated {
				t.Fatalf("offer request: %d %v", status, body)
			}
			kind := "upsell"
			if tt.to == "pdt_starter" {
				kind = "downsell"
			}
			if str(body, "kind") != kind || body["change_plan"] != true || str(body, "proration") != tt.mode {
				t.Fatalf("offer %v: want a %s plan change in %s", body, kind, tt.mode)
			}
			if due, kept := num(body, "amounts.due_now"), num(body, "amounts.credit_kept"); due != float64(tt.want.dueNow) || kept != float64(tt.want.creditKept) {
				t.Fatalf("due now %v, credit kept %v: want %d and %d", due, kept, tt.want.dueNow, tt.want.creditKept)
			}
			before := e.Dodo.Charges(c)
			status, res := e.accept(str(body, "id"), str(body, "accept_token"))
			if status != http.StatusOK || str(res, "outcome") != "charged" {
				t.Fatalf("accept: %d %v", status, res)
			}
			e.settle()
			wantCharges := before
			if tt.want.dueNow > 0 {
				wantCharges++
			}
			if got := e.Dodo.Charges(c); got != wantCharges {
				t.Fatalf("charges %d, want %d", got, wantCharges)
			}
			if tt.want.dueNow > 0 {
				pays := e.Dodo.Payments()
				if last := pays[len(pays)-1]; last.CustomerID != c || last.TotalAmount != tt.want.dueNow {
					t.Fatalf("last charge %+v: want %d for %s", last, tt.want.dueNow, c)
				}
			}
			sub, _ := e.Dodo.Subscription(subs[c])
			if sub.ProductID != tt.to || sub.Credit != tt.want.creditKept {
				t.Fatalf("subscription on %s with credit %d: want %s with %d kept for renewals", sub.ProductID, sub.Credit, tt.to, tt.want.creditKept)
			}
			if n := len(e.messages("converted", c)); n != 1 {
				t.Fatalf("offers.converted: %d, want 1", n)
			}
		})
	}
}

// Declining makes the downsell the rule names; the declined product is
// never offered again, even when its trigger comes again.
func TestDeclineDownsellNeverOfferedAgain(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_cy", card(goodCard))
	e.buy("cus_cy", pm, "pdt_course")
	o := e.created("cus_cy", "pdt_workbook")

	status, body := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/decline", "", map[string]string{"token": o.AcceptToken})
	if status != http.StatusOK || str(body, "offer.state") != "declined" {
		t.Fatalf("decline: %d %v", status, body)
	}
	down, _ := body["downsell"].(map[string]any)
	if str(down, "product_id") != "pdt_workbook_lite" || str(down, "kind") != "downsell" || str(down, "accept_token") == "" || num(down, "amounts.due_now") != 900 {
		t.Fatalf("downsell %v: want workbook lite at 900 with a token", down)
	}
	// Declining again is a no-op and returns the same downsell.
	status, again := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/decline", "server", nil)
	if status != http.StatusOK || str(again, "downsell.id") != str(down, "id") {
		t.Fatalf("second decline: %d %v", status, again)
	}
	e.settle()
	if n := len(e.messages("declined", "cus_cy")); n != 1 {
		t.Fatalf("offers.declined: %d, want 1", n)
	}
	if n := len(e.messages("created", "cus_cy")); n != 2 {
		t.Fatalf("offers.created: %d, want 2 (workbook, workbook lite)", n)
	}
	// Another course: the rule triggers again, and the workbook stays
	// suppressed.
	e.buy("cus_cy", pm, "pdt_course_2")
	for _, m := range e.messages("created", "cus_cy") {
		if m.ProductID == "pdt_workbook" && m.ID != o.ID {
			t.Fatalf("the declined workbook was offered again: %+v", m.Offer)
		}
	}
	// A declined offer cannot be accepted.
	if status, body := e.accept(o.ID, o.AcceptToken); status != http.StatusConflict || str(body, "error") != "declined" {
		t.Fatalf("accepting the declined offer: %d %v", status, body)
	}
	if got := e.Dodo.Charges("cus_cy"); got != 2 {
		t.Fatalf("charges %d, want 2 (the two courses)", got)
	}
}

// Without a saved payment method there is no one-click offer: the offer
// links to Dodo's checkout, and accepting charges nothing.
func TestNoSavedMethodGetsFallback(t *testing.T) {
	e := newEnv(t)
	e.customer("cus_dee")
	e.signal("cus_dee", "onb-1", "onboarding_completed", 1)
	o := e.created("cus_dee", "pdt_course")
	if o.OneClick || o.Card != (offers.Card{}) || !strings.HasPrefix(o.Fallback.CheckoutURL, "http") {
		t.Fatalf("offer %+v: want no one-click, a checkout link", o.Offer)
	}
	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "checkout" || !strings.HasPrefix(str(body, "offer.fallback.checkout_url"), "http") {
		t.Fatalf("accept: %d %v, want the checkout link", status, body)
	}
	e.settle()
	if got := e.Dodo.Charges("cus_dee"); got != 0 {
		t.Fatalf("charges %d, want 0", got)
	}
	// The same signal id again makes no second offer.
	e.signal("cus_dee", "onb-1", "onboarding_completed", 1)
	if n := len(e.messages("created", "cus_dee")); n != 1 {
		t.Fatalf("offers.created after a repeated signal: %d, want 1", n)
	}
}

// An expired card, or one Dodo says cannot be charged off-session, is not
// eligible for a one-click charge; a product in a currency the customer
// never paid in is not offered at all.
func TestNotEligible(t *testing.T) {
	e := newEnv(t)
	t.Run("expired card", func(t *testing.T) {
		e.customer("cus_exp", standin.Card{Number: goodCard, ExpMonth: 1, ExpYear: 2025})
		e.signal("cus_exp", "onb-exp", "onboarding_completed", 1)
		o := e.created("cus_exp", "pdt_course")
		if o.OneClick || o.PaymentMethodID != "" || !o.Fallback.UpdatePaymentMethod {
			t.Fatalf("offer %+v: want no one-click, the hint to update the card", o.Offer)
		}
		if status, body := e.accept(o.ID, o.AcceptToken); status != http.StatusOK || str(body, "outcome") != "checkout" {
			t.Fatalf("accept: %d %v", status, body)
		}
		if got := e.Dodo.Charges("cus_exp"); got != 0 {
			t.Fatalf("charges %d, want 0", got)
		}
	})
	t.Run("recurring not enabled", func(t *testing.T) {
		no := false
		e.customer("cus_norec", standin.Card{Number: goodCard, ExpMonth: 12, ExpYear: 2030, RecurringEnabled: &no})
		e.signal("cus_norec", "onb-norec", "onboarding_completed", 1)
		if o := e.created("cus_norec", "pdt_course"); o.OneClick {
			t.Fatalf("offer %+v: want no one-click", o.Offer)
		}
	})
	t.Run("currency mismatch", func(t *testing.T) {
		pm := e.customer("cus_usd", card(goodCard))
		e.buy("cus_usd", pm, "pdt_course")
		e.signal("cus_usd", "limit-1", "plan_limit_near", 0.95)
		for _, m := range e.messages("created", "cus_usd") {
			if m.ProductID == "pdt_course_eur" {
				t.Fatalf("an EUR product was offered to a customer who paid in USD: %+v", m.Offer)
			}
		}
	})
}

// A one-click charge that fails is not retried: the offer fails with the
// fallback (a checkout link, update the card), and nothing charges twice.
func TestFailedChargeFallbackNoSecondCharge(t *testing.T) {
	e := newEnv(t)
	// Two cards: the course is bought with the good one; the declining
	// one was used more recently, so the one-click offer picks it.
	good := e.customer("cus_fay", card(goodCard))
	bad := card(declineCard)
	bad.LastUsedAt = e.Clock.Now().Add(24 * time.Hour)
	if _, err := e.Dodo.AddPaymentMethod("cus_fay", bad); err != nil {
		t.Fatal(err)
	}
	e.buy("cus_fay", good, "pdt_course")
	o := e.created("cus_fay", "pdt_workbook")
	if !o.OneClick || o.Card.Last4 != "0002" {
		t.Fatalf("offer %+v: want one-click on the card ending 0002 (it looks usable until charged)", o.Offer)
	}
	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "failed" {
		t.Fatalf("accept: %d %v, want failed", status, body)
	}
	if !strings.HasPrefix(str(body, "offer.fallback.checkout_url"), "http") || body["offer"].(map[string]any)["fallback"].(map[string]any)["update_payment_method"] != true {
		t.Fatalf("fallback %v: want a checkout link and the hint to update the card", body["offer"])
	}
	e.settle()
	failed := e.messages("failed", "cus_fay")
	if len(failed) != 1 || failed[0].Fallback.CheckoutURL == "" || failed[0].PaymentID == "" {
		t.Fatalf("offers.failed: %+v, want one with the fallback and the payment", failed)
	}
	if status, _ := e.call(http.MethodPost, "/v1/offers/"+o.ID+"/accept", "server", nil); status != http.StatusConflict {
		t.Fatalf("accepting a failed offer: %d, want 409", status)
	}
	e.settle()
	if got := e.Dodo.Charges("cus_fay"); got != 2 {
		t.Fatalf("charges %d, want 2 (the course, the failed workbook): a failed one-click charge is never retried", got)
	}
}

// Accept refuses every request that does not prove it is the customer's,
// and charges nothing for them; 50 concurrent accepts charge once.
func TestAcceptSecurity(t *testing.T) {
	e := newEnv(t)
	pmA := e.customer("cus_sa", card(goodCard))
	pmB := e.customer("cus_sb", card(goodCard))
	e.buy("cus_sa", pmA, "pdt_course")
	e.buy("cus_sb", pmB, "pdt_course")
	a, b := e.created("cus_sa", "pdt_workbook"), e.created("cus_sb", "pdt_workbook")
	forged := a.AcceptToken[:len(a.AcceptToken)-2] + flip(a.AcceptToken[len(a.AcceptToken)-2:])
	tests := []struct {
		name   string
		do     func() (int, map[string]any)
		status int
		code   string
	}{
		{"no token", func() (int, map[string]any) { return e.call(http.MethodPost, "/v1/offers/"+a.ID+"/accept", "", nil) }, 401, "unauthorized"},
		{"wrong server token", func() (int, map[string]any) {
			return e.call(http.MethodPost, "/v1/offers/"+a.ID+"/accept", "not-the-token", nil)
		}, 401, "unauthorized"},
		{"another customer's token", func() (int, map[string]any) { return e.accept(a.ID, b.AcceptToken) }, 403, "forbidden"},
		{"forged token", func() (int, map[string]any) { return e.accept(a.ID, forged) }, 401, "unauthorized"},
		{"garbage token", func() (int, map[string]any) { return e.accept(a.ID, "v1.k1.abc.def") }, 401, "unauthorized"},
		{"unknown offer", func() (int, map[string]any) { return e.accept("ofr_nope", a.AcceptToken) }, 404, "offer_not_found"},
		{"bad body", func() (int, map[string]any) {
			return e.call(http.MethodPost, "/v1/offers/"+a.ID+"/accept", "", `{"token": 1}`)
		}, 400, "invalid_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.do()
			if status != tt.status || str(body, "error") != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	if got := e.Dodo.Charges("cus_sa"); got != 1 {
		t.Fatalf("charges %d after refused accepts, want 1 (the course)", got)
	}

	// 50 concurrent accepts of one offer, half with its token and half
	// with the server token: one charge.
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				statuses[i], _ = e.accept(b.ID, b.AcceptToken)
			} else {
				statuses[i], _ = e.call(http.MethodPost, "/v1/offers/"+b.ID+"/accept", "server", nil)
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("concurrent accept answered %d", s)
		}
	}
	e.settle()
	if ok != 1 || e.Dodo.Charges("cus_sb") != 2 {
		t.Fatalf("%d accepts succeeded and cus_sb has %d charges; want 1 and 2 (course, workbook)", ok, e.Dodo.Charges("cus_sb"))
	}
	// The token was used: presenting it again is refused.
	if status, body := e.accept(b.ID, b.AcceptToken); status != http.StatusConflict {
		t.Fatalf("reused token: %d %v, want 409", status, body)
	}

	// An expired offer (and token) is refused, and the sweep expires it.
	e.Clock.Set(e.Clock.Now().Add(2 * time.Hour))
	if status, body := e.accept(a.ID, a.AcceptToken); status != http.StatusGone {
		t.Fatalf("expired token: %d %v, want 410", status, body)
	}
	natstest.WaitFor(t, time.Minute, "the sweep to expire the offer", func() bool { return len(e.messages("expired", "cus_sa")) > 0 })
	if expired := len(e.messages("expired", "cus_sa")); expired != 1 {
		t.Fatalf("offers.expired for cus_sa: %d, want 1", expired)
	}
	if got := e.Dodo.Charges("cus_sa"); got != 1 {
		t.Fatalf("charges %d, want 1", got)
	}
}

// flip changes two base64url characters, keeping them in the alphabet.
func flip(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == 'A' {
			out[i] = 'B'
		} else {
			out[i] = 'A'
		}
	}
	return string(out)
}

// The merchant's app can also publish a signal to NATS directly; a signal
// that does not decode is dead-lettered with the reason, not dropped.
func TestSignalOverNATS(t *testing.T) {
	// Signal s2 breaks the contract on purpose: its dead letter is the
	// point.
	e := newEnv(t, testenv.WithOffContract("signal.s2"))
	e.customer("cus_nats", card(goodCard))
	publish := func(id string, body []byte) {
		t.Helper()
		msg := nats.NewMsg(service.SignalSubject("cus_nats"))
		msg.Data = body
		msg.Header.Set(jetstream.MsgIDHeader, "signal."+id)
		if _, err := e.Conn.JetStream().PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	publish("s1", []byte(`{"id":"s1","customer_id":"cus_nats","name":"onboarding_completed"}`))
	publish("s2", []byte(`{"id":"s2","customer_id":"cus_nats","name":"lunch"}`))
	e.settle()
	if o := e.created("cus_nats", "pdt_course"); o.Trigger.Signal != "onboarding_completed" || o.Trigger.SignalID != "s1" {
		t.Fatalf("offer trigger %+v", o.Trigger)
	}
	dead := e.Messages(t, natsbus.OutStream, "offerflow.deadletter.offerflow.signals.")
	if len(dead) != 1 || !strings.Contains(dead[0].HeaderValue(natsbus.HeaderDLQReason), `name "lunch"`) {
		t.Fatalf("dead letters %d, want the bad signal with its reason", len(dead))
	}
}

// An offer whose record left the offers bucket (OFFER_RETENTION ran out)
// while its customer's index still names it breaks nothing: the open-offer
// list skips it, and the sweep drops its entry instead of failing on it at
// every pass.
func TestOfferRecordGoneAfterRetention(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_ret", card(goodCard))
	e.buy("cus_ret", pm, "pdt_course")
	o := e.created("cus_ret", "pdt_workbook")
	ctx := context.Background()
	store, err := e.Conn.OfferStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	status, body := e.call(http.MethodGet, "/v1/customers/cus_ret/offers", "server", nil)
	if offs, _ := body["offers"].([]any); status != http.StatusOK || len(offs) != 0 {
		t.Fatalf("open offers: %d %v, want 200 and none", status, body)
	}
	e.later(2 * time.Hour) // past the offer's expiry: the sweep looks at it
	natstest.WaitFor(t, time.Minute, "the sweep to drop the entry", func() bool {
		ix, _, err := store.Index(ctx, "cus_ret")
		return err == nil && !slices.ContainsFunc(ix.Entries, func(en offers.IndexEntry) bool { return en.OfferID == o.ID })
	})
	if n := len(e.messages("expired", "cus_ret")); n != 0 {
		t.Fatalf("offers.expired: %d, want none for an offer no longer stored", n)
	}
}
