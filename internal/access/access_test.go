package access

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
)

type catalog map[string][]string

func (c catalog) Features(p string) []string { return c[p] }

var testCatalog = catalog{
	"pdt_basic":  {"reports", "export"},
	"pdt_pro":    {"reports", "export", "api", "sso"},
	"pdt_course": {"course"},
}

var t0 = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func strp(s string) *string { return &s }

func subEvent(typ string, sec int, sub, product, status string) events.Event {
	return events.Event{Type: typ, Timestamp: at(sec), Payload: &events.Subscription{
		SubscriptionID: sub, ProductID: product, Status: status,
		Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
	}}
}

func payEvent(sec int, pay string, products ...string) events.Event {
	p := &events.Payment{PaymentID: pay, Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}}
	for _, id := range products {
		p.ProductCart = append(p.ProductCart, wire.ProductCartItem{ProductID: id, Quantity: 1})
	}
	return events.Event{Type: events.TypePaymentSucceeded, Timestamp: at(sec), Payload: p}
}

func refundEvent(sec int, pay string, partial bool) events.Event {
	return events.Event{Type: events.TypeRefundSucceeded, Timestamp: at(sec), Payload: &events.Refund{
		RefundID: "ref_" + pay, PaymentID: pay, IsPartial: partial, Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
	}}
}

type delivery struct {
	id string
	ev events.Event
}

// applyAll applies deliveries in order and returns the final doc and every
// change published.
func applyAll(t *testing.T, ds []delivery) (Doc, []Change) {
	t.Helper()
	doc := NewDoc("cus_1")
	var all []Change
	for i, d := range ds {
		u, ok := FromEvent(d.id, d.ev)
		if !ok {
			continue
		}
		next, changes, _ := Apply(doc, u, testCatalog, t0.Add(time.Duration(i)*time.Second), nil)
		doc = next
		all = append(all, changes...)
	}
	return doc, all
}

func active(d Doc) []string {
	var out []string
	for _, p := range d.View(testCatalog).Products {
		out = append(out, p.ProductID+"="+string(p.Status))
	}
	return out
}

func TestFromEvent(t *testing.T) {
	tests := []struct {
		name  string
		ev    events.Event
		want  Update
		wantK bool
	}{
		{name: "one-time payment grants its cart", ev: payEvent(0, "pay_1", "pdt_course", "pdt_course", "pdt_ebook"),
			want: Update{CustomerID: "cus_1", Kind: KindPayment, ID: "pay_1", Products: []string{"pdt_course", "pdt_ebook"}, State: Active}, wantK: true},
		{name: "subscription payment grants nothing itself", ev: events.Event{Type: events.TypePaymentSucceeded, Timestamp: at(0), Payload: &events.Payment{
			PaymentID: "pay_2", SubscriptionID: strp("sub_1"), Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_basic", Quantity: 1}}}}},
		{name: "multi-subscription payment grants nothing itself", ev: events.Event{Type: events.TypePaymentSucceeded, Timestamp: at(0), Payload: &events.Payment{
			PaymentID: "pay_5", SubscriptionIDs: []string{"sub_1", "sub_2"}, IsMultiSubscription: boolp(true), Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_basic", Quantity: 1}, {ProductID: "pdt_addon", Quantity: 1}}}}},
		{name: "one-time payment of the new shape grants", ev: events.Event{Type: events.TypePaymentSucceeded, Timestamp: at(0), Payload: &events.Payment{
			PaymentID: "pay_6", SubscriptionIDs: []string{}, IsMultiSubscription: boolp(false), Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"},
			ProductCart: []wire.ProductCartItem{{ProductID: "pdt_ebook", Quantity: 1}}}},
			want: Update{CustomerID: "cus_1", Kind: KindPayment, ID: "pay_6", Products: []string{"pdt_ebook"}, State: Active}, wantK: true},
		{name: "failed payment grants nothing", ev: events.Event{Type: events.TypePaymentFailed, Timestamp: at(0), Payload: &events.Payment{
			PaymentID: "pay_3", Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}, ProductCart: []wire.ProductCartItem{{ProductID: "pdt_basic"}}}}},
		{name: "payment without a cart grants nothing", ev: payEvent(0, "pay_4")},
		{name: "full refund revokes the payment", ev: refundEvent(0, "pay_1", false),
			want: Update{CustomerID: "cus_1", Kind: KindPayment, ID: "pay_1", State: Revoked}, wantK: true},
		{name: "partial refund keeps the purchase", ev: refundEvent(0, "pay_1", true)},
		{name: "active", ev: subEvent(events.TypeSubscriptionActive, 0, "sub_1", "pdt_basic", "active"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Active}, wantK: true},
		{name: "renewed", ev: subEvent(events.TypeSubscriptionRenewed, 0, "sub_1", "pdt_basic", "active"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Active}, wantK: true},
		{name: "on hold suspends", ev: subEvent(events.TypeSubscriptionOnHold, 0, "sub_1", "pdt_basic", "on_hold"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Suspended}, wantK: true},
		{name: "past due suspends", ev: subEvent(events.TypeSubscriptionPastDue, 0, "sub_1", "pdt_basic", "past_due"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Suspended}, wantK: true},
		{name: "updated while past due suspends", ev: subEvent(events.TypeSubscriptionUpdated, 0, "sub_1", "pdt_basic", "past_due"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Suspended}, wantK: true},
		{name: "paused suspends", ev: subEvent(events.TypeSubscriptionPaused, 0, "sub_1", "pdt_basic", "paused"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Suspended}, wantK: true},
		{name: "cancelled revokes", ev: subEvent(events.TypeSubscriptionCancelled, 0, "sub_1", "pdt_basic", "cancelled"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Revoked}, wantK: true},
		{name: "expired revokes", ev: subEvent(events.TypeSubscriptionExpired, 0, "sub_1", "pdt_basic", "expired"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Revoked}, wantK: true},
		{name: "failed revokes", ev: subEvent(events.TypeSubscriptionFailed, 0, "sub_1", "pdt_basic", "failed"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Revoked}, wantK: true},
		{name: "updated follows the payload status", ev: subEvent(events.TypeSubscriptionUpdated, 0, "sub_1", "pdt_basic", "on_hold"),
			want: Update{CustomerID: "cus_1", Kind: KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: Suspended}, wantK: true},
		{name: "updated while pending changes nothing", ev: subEvent(events.TypeSubscriptionUpdated, 0, "sub_1", "pdt_basic", "pending")},
		{name: "no customer, no update", ev: events.Event{Type: events.TypeSubscriptionActive, Timestamp: at(0), Payload: &events.Subscription{SubscriptionID: "sub_1", ProductID: "p"}}},
		{name: "other families are ignored", ev: events.Event{Type: "dispute.opened", Timestamp: at(0), Payload: &events.Dispute{}}},
		{name: "unknown types are ignored", ev: events.Event{Type: "foo.bar", Timestamp: at(0), Payload: &events.Unknown{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromEvent("msg_1", tt.ev)
			if ok != tt.wantK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantK)
			}
			if !ok {
				return
			}
			tt.want.EventType, tt.want.EventAt, tt.want.WebhookID = tt.ev.Type, tt.ev.Timestamp, "msg_1"
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("FromEvent = %+v\nwant        %+v", got, tt.want)
			}
		})
	}
}

func TestJourney(t *testing.T) {
	doc, changes := applyAll(t, []delivery{
		{"w1", payEvent(0, "pay_1", "pdt_course")},
		{"w2", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		{"w3", subEvent(events.TypeSubscriptionPlanChanged, 20, "sub_1", "pdt_pro", "active")},
		{"w4", subEvent(events.TypeSubscriptionOnHold, 30, "sub_1", "pdt_pro", "on_hold")},
		{"w5", subEvent(events.TypeSubscriptionActive, 40, "sub_1", "pdt_pro", "active")},
		{"w6", refundEvent(50, "pay_1", false)},
		{"w7", subEvent(events.TypeSubscriptionCancelled, 60, "sub_1", "pdt_pro", "cancelled")},
	})
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s %s %s %v", c.Kind(), c.ProductID, c.Status, c.Features))
	}
	want := []string{
		"granted pdt_course active [course]",
		"granted pdt_basic active [export reports]",
		// Basic -> Pro: basic is revoked, but Pro still gives its features.
		"revoked pdt_basic revoked []",
		"granted pdt_pro active [api export reports sso]",
		"revoked pdt_pro suspended [api export reports sso]",
		"granted pdt_pro active [api export reports sso]",
		"revoked pdt_course revoked [course]",
		"revoked pdt_pro revoked [api export reports sso]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a := active(doc); len(a) != 0 {
		t.Fatalf("final access = %v, want none", a)
	}
	for _, c := range changes {
		if c.CustomerID != "cus_1" || c.ID == "" || !strings.Contains(c.ID, c.WebhookID) || c.Type != "access."+c.Kind() {
			t.Fatalf("change %+v lacks ids", c)
		}
	}
}

// TestAnyOrder: every arrival order of the same deliveries ends in the same
// state, and the state is the one the newest events describe.
func TestAnyOrder(t *testing.T) {
	ds := []delivery{
		{"w1", payEvent(0, "pay_1", "pdt_course")},
		{"w2", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		{"w3", subEvent(events.TypeSubscriptionPlanChanged, 20, "sub_1", "pdt_pro", "active")},
		{"w4", subEvent(events.TypeSubscriptionOnHold, 15, "sub_1", "pdt_basic", "on_hold")},
		{"w5", refundEvent(30, "pay_2", false)},
		{"w6", payEvent(5, "pay_2", "pdt_ebook")},
		{"w2", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")}, // redelivery
	}
	want := []string{"pdt_course=active", "pdt_pro=active"}
	n := 0
	permute(ds, func(order []delivery) {
		n++
		doc, _ := applyAll(t, order)
		if got := active(doc); !slices.Equal(got, want) {
			var ids []string
			for _, d := range order {
				ids = append(ids, d.id)
			}
			t.Fatalf("order %v: access %v, want %v", ids, got, want)
		}
	})
	if n != 5040 {
		t.Fatalf("tried %d orders, want 7! = 5040", n)
	}
}

func permute(ds []delivery, f func([]delivery)) {
	var rec func(k int)
	a := slices.Clone(ds)
	rec = func(k int) {
		if k == len(a) {
			f(a)
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			rec(k + 1)
			a[k], a[i] = a[i], a[k]
		}
	}
	rec(0)
}

func TestGrantAndRevokeInReverseOrder(t *testing.T) {
	tests := []struct {
		name string
		ds   []delivery
		want []string
	}{
		{name: "cancel before active", ds: []delivery{
			{"w2", subEvent(events.TypeSubscriptionCancelled, 20, "sub_1", "pdt_basic", "cancelled")},
			{"w1", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		}, want: nil},
		{name: "refund before payment", ds: []delivery{
			{"w2", refundEvent(20, "pay_1", false)},
			{"w1", payEvent(10, "pay_1", "pdt_course")},
		}, want: nil},
		{name: "plan_changed before active", ds: []delivery{
			{"w2", subEvent(events.TypeSubscriptionPlanChanged, 20, "sub_1", "pdt_pro", "active")},
			{"w1", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		}, want: []string{"pdt_pro=active"}},
		{name: "same instant: the more final state wins either way", ds: []delivery{
			{"w1", subEvent(events.TypeSubscriptionCancelled, 10, "sub_1", "pdt_basic", "cancelled")},
			{"w2", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, changes := applyAll(t, tt.ds)
			if got := active(doc); !slices.Equal(got, tt.want) {
				t.Fatalf("access = %v, want %v", got, tt.want)
			}
			if tt.want == nil && len(changes) != 0 {
				t.Fatalf("published %d changes for a grant that never held, want none", len(changes))
			}
		})
	}
}

func TestTwoSourcesForOneProduct(t *testing.T) {
	// The product bought once and also in a subscription: cancelling the
	// subscription keeps it.
	doc, changes := applyAll(t, []delivery{
		{"w1", payEvent(0, "pay_1", "pdt_basic")},
		{"w2", subEvent(events.TypeSubscriptionActive, 10, "sub_1", "pdt_basic", "active")},
		{"w3", subEvent(events.TypeSubscriptionCancelled, 20, "sub_1", "pdt_basic", "cancelled")},
	})
	if got := active(doc); !slices.Equal(got, []string{"pdt_basic=active"}) {
		t.Fatalf("access = %v, want basic kept by the payment", got)
	}
	if len(changes) != 1 {
		t.Fatalf("changes = %d, want only the first grant", len(changes))
	}
}

func TestApplyIsIdempotentAndKeepsOutbox(t *testing.T) {
	u, _ := FromEvent("w1", payEvent(0, "pay_1", "pdt_course"))
	doc := NewDoc("cus_1")
	first, changes, dirty := Apply(doc, u, testCatalog, t0, nil)
	if !dirty || len(changes) != 1 {
		t.Fatalf("first apply: dirty %v, %d changes; want true, 1", dirty, len(changes))
	}
	if len(doc.Sources) != 0 {
		t.Fatal("Apply modified its argument")
	}
	// A redelivery after a crash before publishing: the same changes
	// again, from the outbox, with nothing to store.
	again, changes2, dirty2 := Apply(first, u, testCatalog, t0.Add(time.Minute), nil)
	if dirty2 || !slices.EqualFunc(changes, changes2, func(a, b Change) bool { return a.ID == b.ID }) {
		t.Fatalf("re-apply: dirty %v, changes %v; want false and the same changes", dirty2, changes2)
	}
	// After the outbox TTL the entry is pruned and re-applying is a no-op
	// (the pruning is stored with the next write).
	later, changes3, dirty3 := Apply(again, u, testCatalog, t0.Add(OutboxTTL+time.Minute), nil)
	if dirty3 || len(changes3) != 0 || len(later.Outbox) != 0 {
		t.Fatalf("after TTL: dirty %v, %d changes, outbox %d; want false, 0, 0", dirty3, len(changes3), len(later.Outbox))
	}
}

func TestSettledOutboxEntriesArePrunedAtTheNextWrite(t *testing.T) {
	u1, _ := FromEvent("w1", payEvent(0, "pay_1", "pdt_course"))
	u2, _ := FromEvent("w2", payEvent(10, "pay_2", "pdt_ebook"))
	doc, _, _ := Apply(NewDoc("cus_1"), u1, testCatalog, t0, nil)
	settled := func(id string) bool { return id == "w1" }
	doc, changes, dirty := Apply(doc, u2, testCatalog, t0.Add(time.Second), settled)
	if !dirty || len(changes) != 1 {
		t.Fatalf("dirty %v, %d changes; want true, 1", dirty, len(changes))
	}
	if _, ok := doc.Outbox["w1"]; ok {
		t.Fatal("the settled webhook's outbox entry was kept")
	}
	if _, ok := doc.Outbox["w2"]; !ok {
		t.Fatal("the current webhook's outbox entry is missing")
	}
	// The current webhook's own entry is never pruned, even if settled.
	again, changes, _ := Apply(doc, u2, testCatalog, t0.Add(2*time.Second), func(string) bool { return true })
	if len(changes) != 1 || len(again.Outbox) != 1 {
		t.Fatalf("re-applying w2: %d changes, outbox %d; want 1, 1", len(changes), len(again.Outbox))
	}
}

func TestViewWithoutCatalog(t *testing.T) {
	u, _ := FromEvent("w1", payEvent(0, "pay_1", "pdt_course"))
	doc, changes, _ := Apply(NewDoc("cus_1"), u, nil, t0, nil)
	v := doc.View(nil)
	if len(v.Products) != 1 || v.Products[0].ProductID != "pdt_course" || len(v.Products[0].Features) != 0 || v.Features == nil {
		t.Fatalf("view = %+v, want pdt_course by id with empty features", v)
	}
	if changes[0].Features == nil {
		t.Fatal("features must be [] not null in JSON")
	}
}

// The contact and an offer's id ride along the update: the first for
// confirmations, the second so an offer's own confirmation covers its grant.
func TestContactAndOfferID(t *testing.T) {
	body := []byte(`{"business_id":"b","type":"payment.succeeded","timestamp":"2026-04-01T00:00:00Z","data":{"payload_type":"Payment",
		"payment_id":"pay_1","total_amount":1900,"currency":"USD","status":"succeeded",
		"customer":{"customer_id":"cus_1","email":"ana@example.com","name":"Ana","metadata":{"locale":"es-MX"}},
		"metadata":{"offerflow_offer_id":"ofr_1"},"product_cart":[{"product_id":"pdt_workbook","quantity":1}],"created_at":"2026-04-01T00:00:00Z"}}`)
	ev, err := events.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := FromEvent("msg_1", ev)
	if !ok || u.OfferID != "ofr_1" || u.Contact != (Contact{Email: "ana@example.com", Name: "Ana", Language: "es-MX"}) {
		t.Fatalf("update %+v", u)
	}
	doc, changes, _ := Apply(NewDoc("cus_1"), u, nil, time.Now(), func(string) bool { return false })
	if doc.Contact.Email != "ana@example.com" || doc.Contact.Language != "es-MX" || len(changes) != 1 || changes[0].OfferID != "ofr_1" {
		t.Fatalf("doc contact %+v, changes %+v", doc.Contact, changes)
	}
}

// A document does not keep every source ever seen: a revoked one is dropped
// once an event RevokedRetention newer is applied, and what it still did
// (refuse an older grant) is kept by ForgottenUpTo. Live sources stay,
// however old.
func TestRevokedSourcesAreForgotten(t *testing.T) {
	day := 24 * 60 * 60
	apply := func(doc Doc, id string, ev events.Event, now time.Time) (Doc, []Change, bool) {
		t.Helper()
		u, ok := FromEvent(id, ev)
		if !ok {
			t.Fatalf("%s: no update", id)
		}
		return Apply(doc, u, testCatalog, now, nil)
	}
	doc := NewDoc("cus_1")
	doc, _, _ = apply(doc, "w_course", payEvent(0, "pay_course", "pdt_course"), at(0))
	doc, _, _ = apply(doc, "w_sub", subEvent(events.TypeSubscriptionActive, 0, "sub_1", "pdt_basic", "active"), at(0))
	// Applied long after it happened (a replay): the clock does not
	// matter, only the events' own times.
	doc, _, _ = apply(doc, "w_refund", refundEvent(10, "pay_course", false), at(400*day))
	if len(doc.Sources) != 2 {
		t.Fatalf("sources %v, want the refunded payment and the subscription", doc.Sources)
	}
	// 91 days later, another event: the refund is forgotten, the live
	// subscription (older still) is kept, access is unchanged.
	later := at(91 * day)
	doc, changes, dirty := apply(doc, "w_pay2", payEvent(91*day, "pay_ebook", "pdt_ebook"), later)
	if !dirty || len(changes) != 1 {
		t.Fatalf("new purchase: dirty %v, changes %v", dirty, changes)
	}
	if _, ok := doc.Sources[sourceKey(KindPayment, "pay_course")]; ok {
		t.Fatal("the refunded payment is still in the document after RevokedRetention")
	}
	if _, ok := doc.Sources[sourceKey(KindSubscription, "sub_1")]; !ok {
		t.Fatal("a live subscription was dropped")
	}
	if !doc.ForgottenUpTo.Equal(at(10)) {
		t.Fatalf("ForgottenUpTo %s, want the refund's time %s", doc.ForgottenUpTo, at(10))
	}
	if got := active(doc); !slices.Equal(got, []string{"pdt_basic=active", "pdt_ebook=active"}) {
		t.Fatalf("access %v", got)
	}
	// The refunded payment's own webhook, delivered very late: it must not
	// grant the course again, though its source is gone.
	if _, changes, dirty := apply(doc, "w_course", payEvent(0, "pay_course", "pdt_course"), later.Add(time.Hour)); dirty || len(changes) != 0 {
		t.Fatalf("late grant of a forgotten, refunded payment: dirty %v, changes %v; want nothing", dirty, changes)
	}
	// An event after ForgottenUpTo about a source never seen is applied.
	if _, changes, dirty := apply(doc, "w_pay3", payEvent(20, "pay_new", "pdt_pro"), later.Add(time.Hour)); !dirty || len(changes) != 1 {
		t.Fatalf("grant stamped after ForgottenUpTo: dirty %v, changes %v; want one grant", dirty, changes)
	}
}

func boolp(b bool) *bool { return &b }

// TestPastDueJourney: a failed renewal's grace period (past_due) suspends
// the plan without revoking it, and the recovered payment's
// subscription.active (or .renewed) grants it again; a grace period that
// runs out (on_hold) stays suspended, a cancellation revokes.
func TestPastDueJourney(t *testing.T) {
	doc, changes := applyAll(t, []delivery{
		{"w1", subEvent(events.TypeSubscriptionActive, 0, "sub_1", "pdt_pro", "active")},
		{"w2", subEvent(events.TypeSubscriptionPastDue, 10, "sub_1", "pdt_pro", "past_due")},
		{"w3", subEvent(events.TypeSubscriptionActive, 20, "sub_1", "pdt_pro", "active")},
		{"w4", subEvent(events.TypeSubscriptionPastDue, 30, "sub_1", "pdt_pro", "past_due")},
		{"w5", subEvent(events.TypeSubscriptionRenewed, 40, "sub_1", "pdt_pro", "active")},
		{"w6", subEvent(events.TypeSubscriptionPastDue, 50, "sub_1", "pdt_pro", "past_due")},
		{"w7", subEvent(events.TypeSubscriptionOnHold, 60, "sub_1", "pdt_pro", "on_hold")},
	})
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s %s %s", c.Kind(), c.ProductID, c.Status))
	}
	want := []string{
		"granted pdt_pro active",
		"revoked pdt_pro suspended",
		"granted pdt_pro active",
		"revoked pdt_pro suspended",
		"granted pdt_pro active",
		"revoked pdt_pro suspended",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	v := doc.View(nil)
	if len(v.Products) != 1 || v.Products[0].Status != Suspended {
		t.Fatalf("view after on_hold: got %+v, want pdt_pro suspended", v.Products)
	}
	// A late past_due, older than the recovery, changes nothing.
	doc, ch, _ := Apply(doc, mustUpdate(t, "w8", subEvent(events.TypeSubscriptionActive, 70, "sub_1", "pdt_pro", "active")), nil, at(70), nil)
	if len(ch) != 1 || ch[0].Status != Active {
		t.Fatalf("recovery after on_hold: got %+v, want one grant", ch)
	}
	if _, ch, _ = Apply(doc, mustUpdate(t, "w9", subEvent(events.TypeSubscriptionPastDue, 65, "sub_1", "pdt_pro", "past_due")), nil, at(71), nil); len(ch) != 0 {
		t.Fatalf("stale past_due: got %+v, want no change", ch)
	}
}

func mustUpdate(t *testing.T, id string, ev events.Event) Update {
	t.Helper()
	u, ok := FromEvent(id, ev)
	if !ok {
		t.Fatalf("FromEvent(%s): no update", ev.Type)
	}
	return u
}
