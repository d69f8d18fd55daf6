package bench

// The worker benchmark's input: a seeded mix of access events per customer,
// published in shuffled order with some webhooks delivered twice, and the
// access each customer must end with. The expected access comes from a small
// model written here, independently of package access, so that the bench
// checks the worker's result instead of repeating its code.

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/webhook"
)

// The model's states, as the access API reports them.
const (
	stActive    = "active"
	stSuspended = "suspended"
	stRevoked   = "revoked"
)

// accessScenario is the stream's content and the expected outcome.
type accessScenario struct {
	msgs      []scenarioMsg // in publish order
	customers []string
	// want is each customer's expected products: product id to "active"
	// or "suspended" (revoked products are not shown).
	want       map[string]map[string]string
	unique     int
	duplicates int
	// ties counts events stamped with the same instant as the customer's
	// previous event, so that the rank and webhook-id tie-breaks are used.
	ties  int
	types map[string]int
}

// scenarioMsg is one message to publish. A duplicate delivery keeps its
// webhook-id and gets a Nats-Msg-Id of its own, so that the stream keeps
// both copies and the worker's ledger has to catch the second.
type scenarioMsg struct {
	subject, id, msgID, ts, sig string
	body                        []byte
}

func (m scenarioMsg) message() events.Message {
	msg := events.WebhookMessage(m.subject, m.id, m.ts, m.sig, m.body)
	msg.ID = m.msgID
	return msg
}

// modelEvent is what the model keeps of an event: which source it is about,
// and what it says of it.
type modelEvent struct {
	source   string // "payment:<id>" or "subscription:<id>"
	at       time.Time
	state    string
	products []string // nil for a refund, which names the payment only
	id       string   // webhook-id
}

func stateRank(s string) int {
	switch s {
	case stActive:
		return 1
	case stSuspended:
		return 2
	case stRevoked:
		return 3
	}
	return 0
}

// beats reports whether e decides its source's state over f: the later
// event time, then the more final state, then the greater webhook-id. It is
// a total order, so the final state does not depend on arrival order.
func (e modelEvent) beats(f modelEvent) bool {
	if !e.at.Equal(f.at) {
		return e.at.After(f.at)
	}
	if stateRank(e.state) != stateRank(f.state) {
		return stateRank(e.state) > stateRank(f.state)
	}
	return e.id > f.id
}

// expectedAccess returns a customer's products after all of evs: each
// source is in the state of the event that beats all others about it; a
// product is active if an active source grants it, else suspended if a
// suspended one does, else not shown.
func expectedAccess(evs []modelEvent) map[string]string {
	winners := map[string]modelEvent{}
	for _, e := range evs {
		if w, ok := winners[e.source]; !ok || e.beats(w) {
			winners[e.source] = e
		}
	}
	out := map[string]string{}
	for _, w := range winners {
		if w.state == stRevoked {
			continue
		}
		for _, p := range w.products {
			if out[p] != stActive {
				out[p] = w.state
			}
		}
	}
	return out
}

// simSource is a purchase the generator is following.
type simSource struct {
	kind, id, product, state string
	price                    int
	closed                   bool // refunded or cancelled: no more events
}

// scenarioGen generates the events of one scenario.
type scenarioGen struct {
	rng      *rand.Rand
	secret   webhook.Secret
	signedAt time.Time
	sc       *accessScenario
	// The catalogue customers buy from.
	oneTime, plans []string
}

// Shares of the mix, in percent.
const (
	tiePct       = 4  // an event at the same instant as the previous one
	newSourcePct = 25 // a new purchase rather than an event of an open one
)

// genScenario builds n messages for the given number of customers: dupPct
// percent of them are second deliveries of another message's webhook, the
// rest unique events spread evenly over the customers. Everything but the
// signatures' timestamp follows from seed.
func genScenario(seed uint64, n, customers, dupPct int, secret webhook.Secret) (*accessScenario, error) {
	dups := n * dupPct / 100
	unique := n - dups
	if customers < 1 || unique < customers {
		return nil, fmt.Errorf("%d messages with %d%% duplicates leave %d events for %d customers: need at least one each", n, dupPct, unique, customers)
	}
	g := &scenarioGen{
		rng:      rand.New(rand.NewPCG(seed, 0x0ffe7f10)),
		secret:   secret,
		signedAt: time.Now(),
		sc:       &accessScenario{want: map[string]map[string]string{}, unique: unique, duplicates: dups, types: map[string]int{}},
		oneTime:  []string{"pdt_course_rust", "pdt_course_go", "pdt_ebook_nats", "pdt_template_pack", "pdt_workshop"},
		plans:    []string{"pdt_basic", "pdt_pro", "pdt_team"},
	}
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	msgs := make([]scenarioMsg, 0, n)
	for c := range customers {
		cust := fmt.Sprintf("cus_bench_%06d", c)
		count := unique / customers
		if c < unique%customers {
			count++
		}
		var model []modelEvent
		msgs, model = g.customer(msgs, cust, count, base.Add(time.Duration(c)*time.Second))
		g.sc.customers = append(g.sc.customers, cust)
		g.sc.want[cust] = expectedAccess(model)
	}
	for _, i := range g.rng.Perm(unique)[:dups] {
		d := msgs[i]
		d.msgID = d.id + ".redelivery"
		msgs = append(msgs, d)
	}
	// Arrival order unrelated to event order: that is what Dodo promises.
	g.rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	g.sc.msgs = msgs
	return g.sc, nil
}

// customer appends count events of one customer: purchases, refunds and
// subscription lifecycles, in increasing event time (a few share an
// instant), and returns them with the model's view of each.
func (g *scenarioGen) customer(msgs []scenarioMsg, cust string, count int, clock time.Time) ([]scenarioMsg, []modelEvent) {
	var (
		sources []*simSource
		model   []modelEvent
	)
	short := cust[len("cus_"):]
	for k := range count {
		if k > 0 && g.rng.IntN(100) < tiePct {
			g.sc.ties++
		} else {
			clock = clock.Add(time.Duration(1+g.rng.IntN(3600)) * time.Second)
		}
		var open []*simSource
		for _, s := range sources {
			if !s.closed {
				open = append(open, s)
			}
		}
		var (
			typ  string
			body []byte
			ev   = modelEvent{at: clock, id: fmt.Sprintf("msg_%s_%04d", short, k)}
		)
		if len(open) == 0 || g.rng.IntN(100) < newSourcePct {
			s := &simSource{state: stActive}
			if g.rng.IntN(2) == 0 {
				s.kind, s.id = "payment", fmt.Sprintf("pay_%s_%04d", short, k)
				s.product = g.oneTime[g.rng.IntN(len(g.oneTime))]
				s.price = 900 + 100*g.rng.IntN(90)
				typ, body = events.TypePaymentSucceeded, payload.PaymentSucceeded(clock, cust, s.id, s.product, s.price)
			} else {
				s.kind, s.id = "subscription", fmt.Sprintf("sub_%s_%04d", short, k)
				s.product = g.plans[g.rng.IntN(len(g.plans))]
				s.price = 1000 + 1000*g.rng.IntN(5)
				typ, body = events.TypeSubscriptionActive, payload.Subscription(events.TypeSubscriptionActive, clock, cust, s.id, s.product, "active", s.price)
			}
			sources = append(sources, s)
			ev.source, ev.state, ev.products = s.kind+":"+s.id, stActive, []string{s.product}
		} else {
			s := open[g.rng.IntN(len(open))]
			typ, body = g.next(s, clock, cust)
			ev.source, ev.state = s.kind+":"+s.id, s.state
			if s.kind == "subscription" {
				ev.products = []string{s.product}
			}
		}
		g.sc.types[typ]++
		model = append(model, ev)
		ts := strconv.FormatInt(g.signedAt.Unix(), 10)
		msgs = append(msgs, scenarioMsg{
			subject: events.Subject(typ), id: ev.id, msgID: ev.id, ts: ts,
			sig: webhook.Sign(g.secret, ev.id, g.signedAt, body), body: body,
		})
	}
	return msgs, model
}

// next is the next event of an open source: a payment is refunded in full;
// a subscription changes plan, goes on hold, comes back or renews, or is
// cancelled.
func (g *scenarioGen) next(s *simSource, at time.Time, cust string) (string, []byte) {
	if s.kind == "payment" {
		s.state, s.closed = stRevoked, true
		return events.TypeRefundSucceeded, payload.RefundSucceeded(at, cust, s.id, s.price)
	}
	var typ, status string
	switch r := g.rng.IntN(10); {
	case r < 3:
		others := []string{}
		for _, p := range g.plans {
			if p != s.product {
				others = append(others, p)
			}
		}
		s.product = others[g.rng.IntN(len(others))]
		typ, status, s.state = events.TypeSubscriptionPlanChanged, "active", stActive
	case r < 5:
		typ, status, s.state = events.TypeSubscriptionOnHold, "on_hold", stSuspended
	case r < 8:
		typ = events.TypeSubscriptionRenewed
		if s.state == stSuspended {
			typ = events.TypeSubscriptionActive
		}
		status, s.state = "active", stActive
	default:
		typ, status, s.state, s.closed = events.TypeSubscriptionCancelled, "cancelled", stRevoked, true
	}
	return typ, payload.Subscription(typ, at, cust, s.id, s.product, status, s.price)
}
