package offerengine_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/worker"
)

// The differences of Dodo's API since spec v1.113.0 (docs/dodo-drift.md),
// end to end: the stand-in sends them, the ingest and the worker take
// them.

// subscriptionOf returns the subscription of the customer's last payment.
func (e *env) subscriptionOf(customer string) string {
	e.t.Helper()
	pays := e.Dodo.Payments()
	for i := len(pays) - 1; i >= 0; i-- {
		if pays[i].CustomerID == customer && pays[i].SubscriptionID != "" {
			return pays[i].SubscriptionID
		}
	}
	e.t.Fatalf("%s has no subscription payment", customer)
	return ""
}

// TestPastDueSuspendsThenRecovers: a subscription whose renewal failed goes
// past_due; its access is suspended, not revoked, and a plan change is not
// offered; the recovered payment makes it active, and access comes back.
func TestPastDueSuspendsThenRecovers(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_due", card(goodCard))
	e.buy("cus_due", pm, "pdt_basic")
	sub := e.subscriptionOf("cus_due")
	if got := e.Products(t, "cus_due"); !slices.Equal(got, []string{"pdt_basic=active"}) {
		t.Fatalf("access before: %v, want pdt_basic active", got)
	}

	// Each step an hour later: events stamped in the same instant order
	// by state, not by arrival (package access).
	e.Clock.Advance(time.Hour)
	if err := e.Dodo.PastDue(sub, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if got := e.Products(t, "cus_due"); !slices.Equal(got, []string{"pdt_basic=suspended"}) {
		t.Fatalf("access while past due: %v, want pdt_basic suspended", got)
	}
	revoked := testenv.Decode[access.Change](t, e.Messages(t, natsbus.OutStream, worker.AccessSubject(access.ChangeRevoked, "cus_due")))
	if len(revoked) != 1 || revoked[0].Status != access.Suspended || revoked[0].EventType != "subscription.past_due" {
		t.Fatalf("access.revoked: %+v, want one, suspended by subscription.past_due", revoked)
	}
	_, view := e.call(http.MethodGet, "/v1/customers/cus_due/access", "server", nil)
	if feats, _ := view["features"].([]any); len(feats) != 0 {
		t.Fatalf("features while past due: %v, want none", feats)
	}
	// No plan change while past due: the customer has no active plan, so
	// a recurring product asked for is no plan change, and Dodo's
	// subscription (past_due, not active) would refuse one anyway.
	status, body := e.call(http.MethodPost, "/v1/customers/cus_due/offers", "server",
		map[string]any{"request_id": "req-starter", "product_id": "pdt_starter", "proration": "prorated_immediately"})
	if status == http.StatusCreated && body["change_plan"] == true {
		t.Fatalf("plan change asked while past due: %d %v, want no plan change", status, body)
	}

	e.Clock.Advance(time.Hour)
	p, err := e.Dodo.Recover(sub, "")
	if err != nil || p.Status != standin.PaymentSucceeded {
		t.Fatalf("Recover: %+v, %v, want a succeeded payment", p, err)
	}
	e.settle()
	if got := e.Products(t, "cus_due"); !slices.Equal(got, []string{"pdt_basic=active"}) {
		t.Fatalf("access after the recovery: %v, want pdt_basic active", got)
	}
	granted := testenv.Decode[access.Change](t, e.Messages(t, natsbus.OutStream, worker.AccessSubject(access.ChangeGranted, "cus_due")))
	if last := granted[len(granted)-1]; len(granted) != 2 || last.ProductID != "pdt_basic" || last.Status != access.Active {
		t.Fatalf("access.granted: %+v, want the purchase and the recovery", granted)
	}
}

// TestPlanChangeRecordsDodosPayment: the payment Dodo's change-plan answer
// names is the one offers.converted carries, even when the lookup of the
// offer's payment finds nothing (here, Dodo refuses the payment list) and
// no payment webhook has come yet.
func TestPlanChangeRecordsDodosPayment(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_chg", card(goodCard))
	e.buy("cus_chg", pm, "pdt_basic")
	o := e.created("cus_chg", "pdt_pro")

	e.Dodo.SetDelivery(standin.Delivery{Hold: true})
	e.Dodo.FailNext("GET /payments", 100, http.StatusUnprocessableEntity, "INVALID_REQUEST_BODY", "refused on purpose")
	status, body := e.accept(o.ID, o.AcceptToken)
	if status != http.StatusOK || str(body, "outcome") != "charged" {
		t.Fatalf("accept: %d %v, want 200 charged", status, body)
	}
	pays := e.Dodo.Payments()
	last := pays[len(pays)-1]
	if last.SubscriptionID == "" || last.Metadata["offerflow_offer_id"] != o.ID {
		t.Fatalf("last payment %+v: want the plan change's", last)
	}
	if got := str(body, "offer.payment_id"); got != last.ID {
		t.Fatalf("accepted offer's payment_id %q, want %s (Dodo's answer)", got, last.ID)
	}
	conv := e.messages("converted", "cus_chg")
	if len(conv) != 1 || conv[0].PaymentID != last.ID || conv[0].State != offers.Charged {
		t.Fatalf("offers.converted: %+v, want one naming %s", conv, last.ID)
	}
	e.Dodo.FailNext("GET /payments", 0, 0, "", "")
	e.Dodo.SetDelivery(standin.Delivery{})
	e.Dodo.Release()
	e.settle()
	if conv := e.messages("converted", "cus_chg"); len(conv) != 1 {
		t.Fatalf("offers.converted after the webhooks: %d messages, want still 1", len(conv))
	}
}

// TestPlanChangeWithoutPaymentMethod: a subscription Dodo says has no
// payment method (has_payment_method false) gets the plan-change offer
// without one click, with the hint to add a card, even though the
// customer has a usable saved card.
func TestPlanChangeWithoutPaymentMethod(t *testing.T) {
	e := newEnv(t)
	e.customer("cus_nopm", card(goodCard))
	sub, err := e.Dodo.AddSubscription(standin.Subscription{CustomerID: "cus_nopm", ProductID: "pdt_basic", PeriodStart: e.Clock.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Dodo's subscription.active for it, as its API shows it.
	raw, err := e.Client.GetSubscriptionJSON(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if data["has_payment_method"] != false {
		t.Fatalf("subscription %v: want has_payment_method false", data)
	}
	data["payload_type"] = "Subscription"
	hook, _ := json.Marshal(map[string]any{"business_id": "bus_standin", "type": "subscription.active",
		"timestamp": e.Clock.Now().Format(time.RFC3339Nano), "data": data})
	if status := e.Post(t, "msg_nopm_1", hook); status != http.StatusOK {
		t.Fatalf("webhook: %d", status)
	}
	e.settle()
	o := e.created("cus_nopm", "pdt_pro")
	if !o.ChangePlan || o.OneClick || o.PaymentMethodID != "" || !o.Fallback.UpdatePaymentMethod {
		t.Fatalf("offer %+v: want a plan change without one click, with the hint to update the card", o.Offer)
	}
	before := e.Dodo.Charges("cus_nopm")
	if status, body := e.accept(o.ID, o.AcceptToken); status != http.StatusOK || str(body, "outcome") != "checkout" {
		t.Fatalf("accept: %d %v, want 200 checkout", status, body)
	}
	if got := e.Dodo.Charges("cus_nopm"); got != before {
		t.Fatalf("charges %d -> %d, want none", before, got)
	}
}
