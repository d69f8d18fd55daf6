package reconcile

import (
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/offers"
)

var t0 = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func ptr[T any](v T) *T { return &v }

func TestEventTypes(t *testing.T) {
	payments := []struct {
		status string
		want   string
	}{
		{"succeeded", events.TypePaymentSucceeded},
		{"failed", events.TypePaymentFailed},
		{"cancelled", events.TypePaymentCancelled},
		{"processing", ""},
		{"requires_customer_action", ""},
		{"partially_captured", ""},
		{"", ""},
	}
	for _, tt := range payments {
		got, ok := paymentEventType(tt.status)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("paymentEventType(%q) = %q, %v; want %q", tt.status, got, ok, tt.want)
		}
	}
	subs := []struct {
		status string
		want   string
	}{
		{"active", events.TypeSubscriptionActive},
		{"on_hold", events.TypeSubscriptionOnHold},
		{"past_due", events.TypeSubscriptionPastDue},
		{"paused", events.TypeSubscriptionPaused},
		{"cancelled", events.TypeSubscriptionCancelled},
		{"expired", events.TypeSubscriptionExpired},
		{"failed", events.TypeSubscriptionFailed},
		{"pending", ""},
		{"renewed", ""},
	}
	for _, tt := range subs {
		got, ok := subscriptionEventType(tt.status)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("subscriptionEventType(%q) = %q, %v; want %q", tt.status, got, ok, tt.want)
		}
		if ok {
			// Every type reconcile feeds moves access in the worker.
			if _, moves := subscriptionUpdate("w", got, t0, wire.Subscription{SubscriptionID: "sub_1", Status: tt.status, ProductID: "p", Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}}); !moves {
				t.Errorf("%s makes no access update", got)
			}
		}
	}
}

func TestPaymentTime(t *testing.T) {
	tests := []struct {
		name string
		p    wire.Payment
		want time.Time
	}{
		{"created only", wire.Payment{CreatedAt: at(1)}, at(1)},
		{"updated later", wire.Payment{CreatedAt: at(1), UpdatedAt: ptr(at(2))}, at(2)},
		{"updated earlier is ignored", wire.Payment{CreatedAt: at(2), UpdatedAt: ptr(at(1))}, at(2)},
		{"in UTC", wire.Payment{CreatedAt: at(1).In(time.FixedZone("X", 3600))}, at(1)},
	}
	for _, tt := range tests {
		if got := paymentTime(tt.p); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s: got %s, want %s in UTC", tt.name, got, tt.want)
		}
	}
}

func TestSubscriptionTime(t *testing.T) {
	now := at(100)
	base := wire.Subscription{CreatedAt: at(0), PreviousBillingDate: at(0), NextBillingDate: at(720)}
	with := func(f func(*wire.Subscription)) wire.Subscription { s := base; f(&s); return s }
	tests := []struct {
		name    string
		s       wire.Subscription
		charges []time.Time
		want    time.Time
	}{
		{"new", base, nil, at(0)},
		{"renewed", with(func(s *wire.Subscription) { s.PreviousBillingDate = at(50) }), nil, at(50)},
		{"cancelled", with(func(s *wire.Subscription) { s.CancelledAt = ptr(at(60)) }), nil, at(60)},
		{"paused", with(func(s *wire.Subscription) { s.PausedAt = ptr(at(70)) }), nil, at(70)},
		{"expired", with(func(s *wire.Subscription) { s.ExpiresAt = ptr(at(80)) }), nil, at(80)},
		{"a term ending in the future", with(func(s *wire.Subscription) { s.ExpiresAt = ptr(at(1000)) }), nil, at(0)},
		{"a charge after the last date (plan change, failed renewal)", base, []time.Time{at(10), at(90), at(20)}, at(90)},
		{"never next_billing_date", with(func(s *wire.Subscription) { s.NextBillingDate = at(99) }), nil, at(0)},
		{"never after now", with(func(s *wire.Subscription) { s.CancelledAt = ptr(at(101)) }), []time.Time{at(102)}, at(0)},
	}
	for _, tt := range tests {
		if got := subscriptionTime(tt.s, tt.charges, now); !got.Equal(tt.want) {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestTouched(t *testing.T) {
	since, until := at(10), at(20)
	base := wire.Subscription{CreatedAt: at(0), PreviousBillingDate: at(0), NextBillingDate: at(30)}
	with := func(f func(*wire.Subscription)) wire.Subscription { s := base; f(&s); return s }
	tests := []struct {
		name string
		s    wire.Subscription
		want bool
	}{
		{"nothing in the period", base, false},
		{"created in it", with(func(s *wire.Subscription) { s.CreatedAt = at(15) }), true},
		{"renewed in it", with(func(s *wire.Subscription) { s.PreviousBillingDate = at(10) }), true},
		{"billing date in it (scheduled cancellation)", with(func(s *wire.Subscription) { s.NextBillingDate = at(20) }), true},
		{"cancelled in it", with(func(s *wire.Subscription) { s.CancelledAt = ptr(at(12)) }), true},
		{"paused in it", with(func(s *wire.Subscription) { s.PausedAt = ptr(at(12)) }), true},
		{"expired in it", with(func(s *wire.Subscription) { s.ExpiresAt = ptr(at(12)) }), true},
		{"cancelled before it", with(func(s *wire.Subscription) { s.CancelledAt = ptr(at(9)) }), false},
	}
	for _, tt := range tests {
		if got := touched(tt.s, since, until); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// docWith returns a document of cus_1 with sources.
func docWith(sources ...access.Source) access.Doc {
	d := access.NewDoc("cus_1")
	for _, s := range sources {
		d.Sources[s.Kind+":"+s.ID] = s
	}
	return d
}

func TestJudgePayment(t *testing.T) {
	pay := func(status string, f ...func(*wire.Payment)) wire.Payment {
		p := wire.Payment{PaymentID: "pay_1", Status: &status, Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}, CreatedAt: t0}
		for _, g := range f {
			g(&p)
		}
		return p
	}
	ofSub := func(p *wire.Payment) { p.SubscriptionID = ptr("sub_1") }
	withOffer := func(p *wire.Payment) { p.Metadata = wire.Metadata{access.MetadataOfferID: wire.StringValue("off_1")} }
	refunded := func(kind string) func(*wire.Payment) { return func(p *wire.Payment) { p.RefundStatus = &kind } }
	granted := access.Source{Kind: access.KindPayment, ID: "pay_1", Products: []string{"pdt_1"}, State: access.Active}
	revoked := access.Source{Kind: access.KindPayment, ID: "pay_1", Products: []string{"pdt_1"}, State: access.Revoked}
	tracked := access.Source{Kind: access.KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: access.Revoked}
	trackedToo := access.Source{Kind: access.KindSubscription, ID: "sub_2", Products: []string{"pdt_addon"}, State: access.Active}
	// ofSubs makes a payment of Dodo's later shape: subscription_ids, and
	// no subscription_id when it starts several.
	ofSubs := func(ids ...string) func(*wire.Payment) {
		return func(p *wire.Payment) {
			multi := len(ids) > 1
			p.IsMultiSubscription, p.SubscriptionIDs = &multi, append([]string{}, ids...)
			if len(ids) == 1 {
				p.SubscriptionID = &ids[0]
			}
		}
	}
	offer := func(state offers.State, paymentID string) *offers.Offer {
		return &offers.Offer{ID: "off_1", State: state, PaymentID: paymentID}
	}
	empty := docWith()
	tests := []struct {
		name       string
		p          wire.Payment
		doc        access.Doc
		offer      *offers.Offer
		wantAction Action
		wantReason string
	}{
		{"one-time, never granted", pay("succeeded"), empty, nil, ActionFed, ReasonMissing},
		{"one-time, granted", pay("succeeded"), docWith(granted), nil, ActionProcessed, ReasonAccess},
		{"one-time, granted and revoked since", pay("succeeded"), docWith(revoked), nil, ActionProcessed, ReasonAccess},
		{"partly refunded, never granted", pay("succeeded", refunded("partial")), empty, nil, ActionFed, ReasonMissing},
		{"fully refunded, never granted", pay("succeeded", refunded("full")), empty, nil, ActionSkipped, ReasonRefunded},
		{"fully refunded, still granted", pay("succeeded", refunded("full")), docWith(granted), nil, ActionSkipped, ReasonRefundNotProcessed},
		{"fully refunded, revoked", pay("succeeded", refunded("full")), docWith(revoked), nil, ActionProcessed, ReasonAccess},
		{"charge of a tracked subscription", pay("succeeded", ofSub), docWith(tracked), nil, ActionProcessed, ReasonCovered},
		{"failed charge of a tracked subscription", pay("failed", ofSub), docWith(tracked), nil, ActionProcessed, ReasonCovered},
		{"charge of an unknown subscription", pay("succeeded", ofSub), docWith(granted), nil, ActionFed, ReasonNoEvidence},
		{"multi-subscription charge, all tracked", pay("succeeded", ofSubs("sub_1", "sub_2")), docWith(tracked, trackedToo), nil, ActionProcessed, ReasonCovered},
		{"multi-subscription charge, one unknown", pay("succeeded", ofSubs("sub_1", "sub_3")), docWith(tracked, trackedToo), nil, ActionFed, ReasonNoEvidence},
		{"one-time of the new shape, granted", pay("succeeded", ofSubs()), docWith(granted), nil, ActionProcessed, ReasonAccess},
		{"failed one-time", pay("failed"), docWith(granted), nil, ActionFed, ReasonNoEvidence},
		{"cancelled one-time", pay("cancelled"), empty, nil, ActionFed, ReasonNoEvidence},
		{"offer charged by it, granted", pay("succeeded", withOffer), docWith(granted), offer(offers.Charged, "pay_1"), ActionProcessed, ReasonAccess},
		{"offer charged by it, never granted", pay("succeeded", withOffer), empty, offer(offers.Charged, "pay_1"), ActionFed, ReasonMissing},
		{"offer still accepted", pay("succeeded", withOffer), docWith(granted), offer(offers.Accepted, ""), ActionFed, ReasonDiffers},
		{"offer failed, payment succeeded", pay("succeeded", withOffer), docWith(granted), offer(offers.Failed, "pay_1"), ActionFed, ReasonDiffers},
		{"offer charged by another payment", pay("succeeded", withOffer), docWith(granted), offer(offers.Charged, "pay_2"), ActionFed, ReasonDiffers},
		{"offer not in the store", pay("succeeded", withOffer), docWith(granted), nil, ActionFed, ReasonNoEvidence},
		{"offer failed by it", pay("failed", withOffer), empty, offer(offers.Failed, "pay_1"), ActionProcessed, ReasonOffer},
		{"offer failed, then charged", pay("failed", withOffer), empty, offer(offers.Charged, "pay_1"), ActionProcessed, ReasonOffer},
		{"cancelled charge of an offer that failed", pay("cancelled", withOffer), empty, offer(offers.Failed, "pay_1"), ActionProcessed, ReasonOffer},
		{"plan change offer converted without a payment id", pay("succeeded", ofSub, withOffer), empty, offer(offers.Charged, ""), ActionProcessed, ReasonOffer},
		{"plan change offer not converted", pay("succeeded", ofSub, withOffer), docWith(tracked), offer(offers.Accepted, ""), ActionFed, ReasonDiffers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, _ := paymentEventType(*tt.p.Status)
			got := judgePayment(tt.p, typ, tt.doc, tt.offer)
			if got.action != tt.wantAction || got.reason != tt.wantReason {
				t.Fatalf("got %s %s (%s), want %s %s", got.action, got.reason, got.detail, tt.wantAction, tt.wantReason)
			}
		})
	}
}

func TestJudgeSubscription(t *testing.T) {
	sub := func(status, product string) wire.Subscription {
		return wire.Subscription{SubscriptionID: "sub_1", Status: status, ProductID: product, Customer: wire.CustomerLimitedDetails{CustomerID: "cus_1"}, CreatedAt: t0}
	}
	src := func(state access.State, product string) access.Source {
		return access.Source{Kind: access.KindSubscription, ID: "sub_1", Products: []string{product}, State: state, EventType: "x", EventAt: t0}
	}
	tests := []struct {
		name       string
		s          wire.Subscription
		doc        access.Doc
		wantType   string
		wantAction Action
		wantReason string
	}{
		{"pending", sub("pending", "pdt_basic"), docWith(), "", ActionSkipped, ReasonNotFinal},
		{"no customer", wire.Subscription{SubscriptionID: "sub_1", Status: "active", ProductID: "p"}, docWith(), events.TypeSubscriptionActive, ActionSkipped, ReasonNoCustomer},
		{"never seen", sub("active", "pdt_basic"), docWith(), events.TypeSubscriptionActive, ActionFed, ReasonMissing},
		{"active, seen active", sub("active", "pdt_basic"), docWith(src(access.Active, "pdt_basic")), events.TypeSubscriptionActive, ActionProcessed, ReasonAccess},
		{"active on another plan", sub("active", "pdt_pro"), docWith(src(access.Active, "pdt_basic")), events.TypeSubscriptionPlanChanged, ActionFed, ReasonDiffers},
		{"active again after a hold", sub("active", "pdt_basic"), docWith(src(access.Suspended, "pdt_basic")), events.TypeSubscriptionActive, ActionFed, ReasonDiffers},
		{"on hold, seen active", sub("on_hold", "pdt_basic"), docWith(src(access.Active, "pdt_basic")), events.TypeSubscriptionOnHold, ActionFed, ReasonDiffers},
		{"paused, seen on hold", sub("paused", "pdt_basic"), docWith(src(access.Suspended, "pdt_basic")), events.TypeSubscriptionPaused, ActionProcessed, ReasonAccess},
		{"cancelled, seen active", sub("cancelled", "pdt_basic"), docWith(src(access.Active, "pdt_basic")), events.TypeSubscriptionCancelled, ActionFed, ReasonDiffers},
		{"expired, seen cancelled", sub("expired", "pdt_basic"), docWith(src(access.Revoked, "pdt_basic")), events.TypeSubscriptionExpired, ActionProcessed, ReasonAccess},
		{"failed, never seen", sub("failed", "pdt_basic"), docWith(), events.TypeSubscriptionFailed, ActionFed, ReasonMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, got := judgeSubscription(tt.s, tt.doc)
			if typ != tt.wantType || got.action != tt.wantAction || got.reason != tt.wantReason {
				t.Fatalf("got %q %s %s (%s), want %q %s %s", typ, got.action, got.reason, got.detail, tt.wantType, tt.wantAction, tt.wantReason)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	observed := at(100)
	src := func(state access.State, eventAt time.Time, webhookID string) access.Source {
		return access.Source{Kind: access.KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: state, EventAt: eventAt, WebhookID: webhookID}
	}
	update := func(state access.State, eventAt time.Time) access.Update {
		return access.Update{CustomerID: "cus_1", Kind: access.KindSubscription, ID: "sub_1", Products: []string{"pdt_basic"}, State: state, EventAt: eventAt, WebhookID: "reconcile_1"}
	}
	tests := []struct {
		name string
		doc  access.Doc
		u    access.Update
		want string
	}{
		{"never seen", docWith(), update(access.Revoked, at(10)), StampObject},
		{"seen in an older state", docWith(src(access.Active, at(5), "msg_1")), update(access.Revoked, at(10)), StampObject},
		{"seen at the same time, a less final state", docWith(src(access.Active, at(10), "msg_1")), update(access.Revoked, at(10)), StampObject},
		{"seen later than the object's dates (no cancelled_at)", docWith(src(access.Active, at(20), "msg_1")), update(access.Revoked, at(10)), StampObserved},
		{"seen at the same time, a more final state", docWith(src(access.Revoked, at(10), "msg_1")), update(access.Active, at(10)), StampObserved},
		{"seen during this run", docWith(src(access.Active, at(100), "msg_1")), update(access.Revoked, at(10)), ""},
		{"seen after this run started", docWith(src(access.Active, at(101), "msg_1")), update(access.Revoked, at(10)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := placement(tt.doc, tt.u, observed)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if got == StampObserved {
				// An update stamped then must win in the worker.
				u := tt.u
				u.EventAt = observed
				if _, _, dirty := access.Apply(tt.doc, u, nil, observed, nil); !dirty {
					t.Fatalf("an update at the observed time does not apply")
				}
			}
		})
	}
}
