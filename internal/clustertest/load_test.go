package clustertest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/events"
)

// webhook is one webhook Dodo sends (and may send again).
type delivery struct {
	id       string
	customer string
	body     []byte
}

// load is the webhooks of a run, in the order they are delivered (shuffled,
// some twice), and what offerflow must make of them.
type load struct {
	hooks      []delivery // each distinct webhook once
	deliveries []delivery // the order of delivery: shuffled, with duplicates
	customers  []string
	// access is each customer's access after every webhook, computed with
	// internal/access in the order the events happened; the order of
	// delivery must not matter.
	access map[string][]string
	// emails are the confirmations whose business change happens whatever
	// the order of delivery: the purchases never refunded (one
	// access_granted each). Refunded purchases and subscriptions confirm
	// what the first of their webhooks to arrive changes, which depends on
	// the order; for them the test checks only that nothing is confirmed
	// twice.
	emails map[string]bool
}

// newLoad makes the webhooks of n customers, four kinds in turn:
//
//	0: one purchase (payment.succeeded)
//	1: two purchases of two products
//	2: a purchase and its full refund
//	3: a subscription: active, plan_changed to another product, and for
//	   every other one cancelled
//
// A quarter of the webhooks are delivered twice (the second time later), and
// the whole delivery order is shuffled with seed.
func newLoad(run string, n int, seed uint64) (*load, error) {
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	l := &load{access: map[string][]string{}, emails: map[string]bool{}}
	var evs []struct {
		hook delivery
		ev   events.Event
	}
	add := func(cus string, body []byte) error {
		ev, err := events.Decode(body)
		if err != nil {
			return fmt.Errorf("decode a generated webhook: %w", err)
		}
		h := delivery{id: fmt.Sprintf("msg_%s_%d", run, len(l.hooks)), customer: cus, body: body}
		l.hooks = append(l.hooks, h)
		evs = append(evs, struct {
			hook delivery
			ev   events.Event
		}{h, ev})
		return nil
	}
	for c := range n {
		cus := fmt.Sprintf("cus_%s_%d", run, c)
		l.customers = append(l.customers, cus)
		at := base.Add(time.Duration(c) * time.Second)
		pay := func(k int) string { return fmt.Sprintf("pay_%s_%d_%d", run, c, k) }
		var err error
		switch c % 4 {
		case 0:
			err = add(cus, payload.PaymentSucceeded(at, cus, pay(1), "pdt_course", 4900))
		case 1:
			err = add(cus, payload.PaymentSucceeded(at, cus, pay(1), "pdt_course", 4900))
			if err == nil {
				err = add(cus, payload.PaymentSucceeded(at.Add(time.Minute), cus, pay(2), "pdt_book", 1900))
			}
		case 2:
			err = add(cus, payload.PaymentSucceeded(at, cus, pay(1), "pdt_course", 4900))
			if err == nil {
				err = add(cus, payload.RefundSucceeded(at.Add(time.Hour/2), cus, pay(1), 4900))
			}
		case 3:
			sub := fmt.Sprintf("sub_%s_%d", run, c)
			err = add(cus, payload.Subscription(events.TypeSubscriptionActive, at, cus, sub, "pdt_basic", "active", 3000))
			if err == nil {
				err = add(cus, payload.Subscription(events.TypeSubscriptionPlanChanged, at.Add(10*time.Minute), cus, sub, "pdt_pro", "active", 8000))
			}
			if err == nil && c%8 == 7 {
				err = add(cus, payload.Subscription(events.TypeSubscriptionCancelled, at.Add(20*time.Minute), cus, sub, "pdt_pro", "cancelled", 8000))
			}
		}
		if err != nil {
			return nil, err
		}
	}

	// The model: every customer's events applied in the order they happened.
	docs := map[string]access.Doc{}
	now := time.Now()
	for _, e := range evs {
		u, ok := access.FromEvent(e.hook.id, e.ev)
		if !ok {
			continue
		}
		doc, seen := docs[u.CustomerID]
		if !seen {
			doc = access.NewDoc(u.CustomerID)
		}
		doc, changes, _ := access.Apply(doc, u, nil, now, nil)
		docs[u.CustomerID] = doc
		if u.Kind == access.KindPayment && u.State == access.Active && !refunded(evs, u.ID) {
			for _, ch := range changes {
				if ch.Kind() == access.ChangeGranted {
					l.emails[ch.ID] = true
				}
			}
		}
	}
	for _, cus := range l.customers {
		doc, seen := docs[cus]
		if !seen {
			doc = access.NewDoc(cus)
		}
		l.access[cus] = accessOf(doc.View(nil))
	}

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	l.deliveries = slices.Clone(l.hooks)
	rng.Shuffle(len(l.deliveries), func(i, j int) { l.deliveries[i], l.deliveries[j] = l.deliveries[j], l.deliveries[i] })
	// A duplicate goes in somewhere after the first delivery, so that some
	// come back after a fault.
	for _, h := range l.hooks {
		if rng.IntN(4) != 0 {
			continue
		}
		first := slices.IndexFunc(l.deliveries, func(d delivery) bool { return d.id == h.id })
		at := first + 1 + rng.IntN(len(l.deliveries)-first)
		l.deliveries = slices.Insert(l.deliveries, at, h)
	}
	return l, nil
}

func refunded(evs []struct {
	hook delivery
	ev   events.Event
}, paymentID string) bool {
	for _, e := range evs {
		if r, ok := e.ev.Payload.(*events.Refund); ok && r.PaymentID == paymentID && !r.IsPartial {
			return true
		}
	}
	return false
}

// accessOf lists a customer's products as product=status, sorted.
func accessOf(v access.View) []string {
	out := []string{}
	for _, p := range v.Products {
		out = append(out, p.ProductID+"="+string(p.Status))
	}
	sort.Strings(out)
	return out
}
