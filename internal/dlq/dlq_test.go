package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/webhook"
	"github.com/offerflow/offerflow/internal/worker"
)

// harness is the real worker (ledger, access store, publisher, consumer
// runner) on an embedded JetStream server. Its handler fails transiently
// while outage is set, as the worker does while Dodo's API or the SMTP
// server is down, so messages exhaust their attempts and are
// dead-lettered with kind max_deliveries.
type harness struct {
	conn   *natsbus.Conn
	js     jetstream.JetStream
	secret webhook.Secret
	outage atomic.Bool
	ledger *natsbus.Ledger
	store  *natsbus.AccessStore
}

// signedAt is when the test webhooks were "sent": long ago, as for a dead
// letter redriven days later. Redrive must not care.
var signedAt = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)

func startHarness(t *testing.T) *harness {
	t.Helper()
	conn := connect(t)
	js := conn.JetStream()
	ctx := context.Background()
	h := &harness{conn: conn, js: js, secret: webhook.NewSecret([]byte("dlq-test-secret-dlq-test-secret"))}
	var err error
	if h.ledger, err = natsbus.NewLedger(ctx, js, "dlq-test", 2*time.Second, time.Now); err != nil {
		t.Fatal(err)
	}
	if h.store, err = natsbus.NewAccessStore(ctx, js); err != nil {
		t.Fatal(err)
	}
	w := worker.New(h.ledger, h.store, natsbus.NewPublisher(js, 5*time.Second), nil, time.Now, nil)
	handler := func(ctx context.Context, d natsbus.Delivery) error {
		if h.outage.Load() {
			return errors.New("dodo api: 503 service unavailable (simulated outage)")
		}
		return w.Handle(ctx, d)
	}
	cfg := natsbus.DefaultConsumerConfig()
	cfg.Concurrency = 4
	cfg.AckWait = 2 * time.Second
	cfg.MaxAttempts = 2
	cfg.Backoff = func(uint64) time.Duration { return 20 * time.Millisecond }
	cfg.HandlerTimeout = 5 * time.Second
	cfg.DrainTimeout = 5 * time.Second
	runner := natsbus.NewConsumerRunner(js, cfg, handler, zap.NewNop(), natsbus.ConsumerMetrics{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
	return h
}

// signed returns a webhook as the ingest stores it, signed at signedAt.
func (h *harness) signed(typ, id string, body []byte) *nats.Msg {
	return natsbus.WebhookMsg(events.SubjectPrefix+typ, id, strconv.FormatInt(signedAt.Unix(), 10),
		webhook.Sign(h.secret, id, signedAt, body), body)
}

func (h *harness) publish(t *testing.T, msg *nats.Msg) uint64 {
	t.Helper()
	ack, err := natsbus.PublishSync(context.Background(), h.js, msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// fakeDeadLetter stores original as a dead letter the way the runner
// does, for dead letters the worker would never produce (tampered,
// reconciled, forged).
func (h *harness) fakeDeadLetter(t *testing.T, original *nats.Msg, subject string) uint64 {
	t.Helper()
	hd := nats.Header{}
	for k, v := range original.Header {
		hd[k] = append([]string(nil), v...)
	}
	hd.Set(jetstream.MsgIDHeader, "fake."+subject+"."+strconv.FormatInt(time.Now().UnixNano(), 10))
	hd.Set(natsbus.HeaderDLQReason, "fake for a test")
	hd.Set(natsbus.HeaderDLQKind, natsbus.DLQKindMaxDeliveries)
	hd.Set(natsbus.HeaderDLQSubject, original.Subject)
	hd.Set(natsbus.HeaderDLQStream, natsbus.EventsStream)
	hd.Set(natsbus.HeaderDLQStreamSeq, "1")
	hd.Set(natsbus.HeaderDLQDeliveries, "2")
	hd.Set(natsbus.HeaderDLQDeadAt, time.Now().UTC().Format(time.RFC3339Nano))
	return h.publish(t, &nats.Msg{Subject: subject, Data: original.Data, Header: hd})
}

func (h *harness) settled() bool {
	return natstest.Settled(h.js, natsbus.EventsStream, natsbus.WorkerConsumer)()
}

func (h *harness) deadLetters(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, h.js, natsbus.OutStream, natsbus.DeadLetterPrefix)
}

func (h *harness) grants(t *testing.T, customer string) int {
	t.Helper()
	return len(natstest.Messages(t, h.js, natsbus.OutStream, worker.AccessSubject("granted", customer)))
}

func (h *harness) eventCount(t *testing.T) uint64 {
	t.Helper()
	st, err := h.js.Stream(context.Background(), natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func (h *harness) ledgerState(t *testing.T, webhookID string) string {
	t.Helper()
	s, err := h.ledger.State(context.Background(), "webhook."+webhookID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *harness) waitSettled(t *testing.T) {
	t.Helper()
	natstest.WaitFor(t, time.Minute, "the worker to settle", h.settled)
}

func payment(customer, payID, product string) []byte {
	b, _ := json.Marshal(map[string]any{"business_id": "bus_1", "type": "payment.succeeded", "timestamp": signedAt.Format(time.RFC3339),
		"data": map[string]any{"payload_type": "Payment", "payment_id": payID, "status": "succeeded",
			"customer":     map[string]any{"customer_id": customer, "email": customer + "@example.com", "name": customer},
			"product_cart": []map[string]any{{"product_id": product, "quantity": 1}}, "total_amount": 1900, "currency": "USD", "subscription_id": nil}})
	return b
}

func subscriptionActive(customer, subID, product string) []byte {
	b, _ := json.Marshal(map[string]any{"business_id": "bus_1", "type": "subscription.active", "timestamp": signedAt.Format(time.RFC3339),
		"data": map[string]any{"payload_type": "Subscription", "subscription_id": subID, "status": "active", "product_id": product, "quantity": 1,
			"customer": map[string]any{"customer_id": customer, "email": customer + "@example.com", "name": customer}}})
	return b
}

func ids(entries []Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.WebhookID
	}
	return out
}

func mustList(t *testing.T, conn *natsbus.Conn, f Filter) []Entry {
	t.Helper()
	entries, err := List(context.Background(), conn, f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return entries
}

// TestDLQEndToEnd runs an outage through the real worker: events are
// dead-lettered, listed with each filter, shown, dry-run redriven (nothing
// changes), and redriven once the outage is over, after which the worker
// applies each exactly once. Then the cases redrive must refuse or treat
// specially: a redrive repeated, a crash between republish and delete, a
// tampered body, a reconciled message without signature, a forged target.
func TestDLQEndToEnd(t *testing.T) {
	h := startHarness(t)
	ctx := context.Background()

	// A poison message first: signed, not JSON, so permanent at once.
	poison := h.signed("_invalid.json", "msg_poison", []byte("not json at all"))
	poison.Subject = events.SubjectInvalidJSON
	h.publish(t, poison)
	natstest.WaitFor(t, time.Minute, "the poison's dead letter", func() bool { return len(h.deadLetters(t)) == 1 })
	mark := time.Now()

	// Then the outage: three events exhaust their two attempts.
	h.outage.Store(true)
	bodies := map[string][]byte{
		"msg_a": payment("cus_a", "pay_a", "pdt_a"),
		"msg_b": payment("cus_b", "pay_b", "pdt_b"),
		"msg_c": subscriptionActive("cus_c", "sub_c", "pdt_c"),
	}
	// One at a time, so the dead letters' order is known.
	for i, m := range []*nats.Msg{
		h.signed("payment.succeeded", "msg_a", bodies["msg_a"]),
		h.signed("payment.succeeded", "msg_b", bodies["msg_b"]),
		h.signed("subscription.active", "msg_c", bodies["msg_c"]),
	} {
		h.publish(t, m)
		natstest.WaitFor(t, time.Minute, m.Header.Get("webhook-id")+"'s dead letter", func() bool { return len(h.deadLetters(t)) == i+2 })
	}
	h.waitSettled(t)
	events0 := h.eventCount(t)

	all := mustList(t, h.conn, Filter{})
	if got, want := ids(all), []string{"msg_poison", "msg_a", "msg_b", "msg_c"}; !slices.Equal(got, want) {
		t.Fatalf("List() = %v, want %v", got, want)
	}
	seqOf := map[string]uint64{}
	for _, e := range all {
		seqOf[e.WebhookID] = e.Seq
	}

	t.Run("entries", func(t *testing.T) {
		a := all[1]
		want := Entry{Seq: a.Seq, Subject: "offerflow.deadletter.payment.succeeded", OriginalSubject: "dodo.events.payment.succeeded",
			EventType: "payment.succeeded", WebhookID: "msg_a", CustomerID: "cus_a", Reason: a.Reason, Kind: natsbus.DLQKindMaxDeliveries,
			Deliveries: 2, DeadAt: a.DeadAt, Size: len(bodies["msg_a"])}
		if a != want {
			t.Fatalf("entry\n got %+v\nwant %+v", a, want)
		}
		if !strings.Contains(a.Reason, "simulated outage") || a.DeadAt.Before(mark) || a.DeadAt.After(time.Now()) {
			t.Fatalf("reason %q dead at %s, want the outage after %s", a.Reason, a.DeadAt, mark)
		}
		p := all[0]
		if p.Kind != natsbus.DLQKindPermanent || p.EventType != "_invalid.json" || p.CustomerID != "" || !strings.Contains(p.Reason, "not JSON") || !p.DeadAt.Before(mark) {
			t.Fatalf("poison entry %+v", p)
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name string
			f    Filter
			want []string
		}{
			{"type", Filter{Types: []string{"payment.succeeded"}}, []string{"msg_a", "msg_b"}},
			{"type wildcard", Filter{Types: []string{"subscription.*"}}, []string{"msg_c"}},
			{"type tail wildcard", Filter{Types: []string{"subscription.>"}}, []string{"msg_c"}},
			{"several types", Filter{Types: []string{"payment.succeeded", "_invalid.json"}}, []string{"msg_poison", "msg_a", "msg_b"}},
			{"several types, one wildcard", Filter{Types: []string{"payment.*", "subscription.active"}}, []string{"msg_a", "msg_b", "msg_c"}},
			{"unknown type", Filter{Types: []string{"refund.succeeded"}}, nil},
			{"customer", Filter{CustomerID: "cus_b"}, []string{"msg_b"}},
			{"customer of a subscription", Filter{CustomerID: "cus_c"}, []string{"msg_c"}},
			{"since", Filter{Since: mark}, []string{"msg_a", "msg_b", "msg_c"}},
			{"until", Filter{Until: mark}, []string{"msg_poison"}},
			{"since and until", Filter{Since: mark.Add(-time.Hour), Until: mark}, []string{"msg_poison"}},
			{"future", Filter{Since: time.Now().Add(time.Hour)}, nil},
			{"reason, any case", Filter{Reason: "SIMULATED Outage"}, []string{"msg_a", "msg_b", "msg_c"}},
			{"reason of the poison", Filter{Reason: "not json"}, []string{"msg_poison"}},
			{"kind permanent", Filter{Kind: natsbus.DLQKindPermanent}, []string{"msg_poison"}},
			{"kind max deliveries", Filter{Kind: "MAX_DELIVERIES"}, []string{"msg_a", "msg_b", "msg_c"}},
			{"seqs in the order given", Filter{Seqs: []uint64{seqOf["msg_b"], seqOf["msg_poison"], seqOf["msg_b"]}}, []string{"msg_b", "msg_poison"}},
			{"seqs that are no dead letter", Filter{Seqs: []uint64{0, 999}}, nil},
			{"seqs and a filter", Filter{Seqs: []uint64{seqOf["msg_a"], seqOf["msg_poison"]}, Kind: natsbus.DLQKindPermanent}, []string{"msg_poison"}},
			{"limit", Filter{Limit: 2}, []string{"msg_poison", "msg_a"}},
			{"limit after a filter", Filter{Kind: natsbus.DLQKindMaxDeliveries, Limit: 1}, []string{"msg_a"}},
			{"kind and customer", Filter{Kind: natsbus.DLQKindMaxDeliveries, CustomerID: "cus_a"}, []string{"msg_a"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := ids(mustList(t, h.conn, tt.f)); !slices.Equal(got, tt.want) {
					t.Fatalf("List(%+v) = %v, want %v", tt.f, got, tt.want)
				}
			})
		}
	})

	t.Run("bad filters", func(t *testing.T) {
		for _, f := range []Filter{
			{Kind: "nope"},
			{Types: []string{"payment..succeeded"}},
			{Types: []string{"payment.>.x"}},
			{Types: []string{"pay ment"}},
			{Limit: -1},
			{Since: mark, Until: mark},
		} {
			if _, err := List(ctx, h.conn, f); err == nil {
				t.Errorf("List(%+v) succeeded, want an error", f)
			}
		}
	})

	t.Run("reading changes nothing", func(t *testing.T) {
		if n := len(h.deadLetters(t)); n != 4 {
			t.Fatalf("%d dead letters after listing, want 4", n)
		}
		// The scan's consumer is gone, and the workers' is the only one
		// on DODO_EVENTS.
		st, _ := h.js.Stream(ctx, natsbus.OutStream)
		if names := consumerNames(t, st); len(names) != 0 {
			t.Fatalf("consumers left on %s: %v", natsbus.OutStream, names)
		}
		ev, _ := h.js.Stream(ctx, natsbus.EventsStream)
		if names := consumerNames(t, ev); !slices.Equal(names, []string{natsbus.WorkerConsumer}) {
			t.Fatalf("consumers on %s: %v", natsbus.EventsStream, names)
		}
	})

	t.Run("show", func(t *testing.T) {
		e, m, err := Show(ctx, h.conn, seqOf["msg_a"])
		if err != nil {
			t.Fatal(err)
		}
		if e != all[1] || !bytes.Equal(m.Body, bodies["msg_a"]) {
			t.Fatalf("Show = %+v, body %q", e, m.Body)
		}
		want := h.signed("payment.succeeded", "msg_a", bodies["msg_a"]).Header
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			if header(m.Headers, k) != want.Get(k) {
				t.Errorf("header %s = %q, want %q", k, header(m.Headers, k), want.Get(k))
			}
		}
		for _, k := range []string{natsbus.HeaderDLQReason, natsbus.HeaderDLQKind, natsbus.HeaderDLQSubject, natsbus.HeaderDLQStream,
			natsbus.HeaderDLQStreamSeq, natsbus.HeaderDLQDeliveries, natsbus.HeaderDLQDeadAt} {
			if header(m.Headers, k) == "" {
				t.Errorf("header %s missing", k)
			}
		}
		if _, _, err := Show(ctx, h.conn, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(999) error = %v, want ErrNotFound", err)
		}
		if _, _, err := Show(ctx, h.conn, 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(0) error = %v, want ErrNotFound", err)
		}
		other := h.publish(t, &nats.Msg{Subject: "offerflow.test.other", Data: []byte("{}")})
		if _, _, err := Show(ctx, h.conn, other); !errors.Is(err, ErrNotDeadLetter) {
			t.Errorf("Show(access grant) error = %v, want ErrNotDeadLetter", err)
		}
	})

	checker, err := NewChecker([]webhook.Secret{webhook.NewSecret([]byte("an-older-secret-still-valid")), h.secret})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("dry run changes nothing", func(t *testing.T) {
		results, err := Redrive(ctx, h.conn, checker, all, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			want := Result{Seq: all[i].Seq, WebhookID: all[i].WebhookID, Subject: all[i].OriginalSubject, Action: ActionWouldRedrive, Verified: SignatureOK}
			if r != want {
				t.Errorf("result %d\n got %+v\nwant %+v", i, r, want)
			}
		}
		if n := len(h.deadLetters(t)); n != 4 {
			t.Fatalf("%d dead letters after a dry run, want 4", n)
		}
		if n := h.eventCount(t); n != events0 {
			t.Fatalf("DODO_EVENTS holds %d messages after a dry run, want %d", n, events0)
		}
	})

	h.outage.Store(false)
	outaged := mustList(t, h.conn, Filter{Kind: natsbus.DLQKindMaxDeliveries})

	t.Run("redrive after the outage", func(t *testing.T) {
		results, err := Redrive(ctx, h.conn, checker, outaged, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Action != ActionRedriven || r.Verified != SignatureOK || r.Error != "" || r.Duplicate || r.EventsSeq == 0 {
				t.Errorf("result %d = %+v, want redriven with signature_ok", i, r)
			}
		}
		if got := ids(mustList(t, h.conn, Filter{})); !slices.Equal(got, []string{"msg_poison"}) {
			t.Fatalf("dead letters after the redrive: %v, want only the poison", got)
		}
		h.waitSettled(t)
		for id, customer := range map[string]string{"msg_a": "cus_a", "msg_b": "cus_b", "msg_c": "cus_c"} {
			if s := h.ledgerState(t, id); s != "done" {
				t.Errorf("ledger state of %s = %q, want done", id, s)
			}
			if n := h.grants(t, customer); n != 1 {
				t.Errorf("%d access grants for %s, want exactly 1", n, customer)
			}
		}
		doc, _, err := h.store.Get(ctx, "cus_a")
		if err != nil {
			t.Fatal(err)
		}
		if v := doc.View(nil); len(v.Products) != 1 || v.Products[0].ProductID != "pdt_a" || v.Products[0].Status != "active" {
			t.Fatalf("access of cus_a = %+v", v.Products)
		}
		// The republished message: the original, with its own msg id.
		m, err := streamMsg(h.js, natsbus.EventsStream, results[0].EventsSeq)
		if err != nil {
			t.Fatal(err)
		}
		orig := h.signed("payment.succeeded", "msg_a", bodies["msg_a"])
		dl := strconv.FormatUint(seqOf["msg_a"], 10)
		if m.Subject != orig.Subject || !bytes.Equal(m.Data, orig.Data) ||
			m.Header.Get("Nats-Msg-Id") != "redrive.msg_a."+dl || m.Header.Get(HeaderRedrivenFrom) != dl ||
			m.Header.Get("webhook-id") != "msg_a" || m.Header.Get("webhook-signature") != orig.Header.Get("webhook-signature") ||
			m.Header.Get("webhook-timestamp") != orig.Header.Get("webhook-timestamp") {
			t.Fatalf("republished %s %q headers %v", m.Subject, m.Data, m.Header)
		}
		for k := range m.Header {
			if strings.HasPrefix(k, "Offerflow-Dlq-") {
				t.Fatalf("republished message kept %s", k)
			}
		}
	})

	t.Run("redrive again does nothing", func(t *testing.T) {
		before := h.eventCount(t)
		results, err := Redrive(ctx, h.conn, checker, outaged, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.Action != ActionSkipped || !strings.Contains(r.Error, ErrNotFound.Error()) {
				t.Errorf("result %d = %+v, want skipped: no such message", i, r)
			}
		}
		if n := h.eventCount(t); n != before {
			t.Fatalf("DODO_EVENTS grew from %d to %d", before, n)
		}
	})

	t.Run("redriven and failing again", func(t *testing.T) {
		// The poison is permanent: redriving it dead-letters it again,
		// and the new dead letter says where it came from.
		results, err := Redrive(ctx, h.conn, checker, []Entry{{Seq: seqOf["msg_poison"]}}, false)
		if err != nil || results[0].Action != ActionRedriven {
			t.Fatalf("Redrive = %+v, %v", results, err)
		}
		var again []Entry
		natstest.WaitFor(t, time.Minute, "the poison's second dead letter", func() bool {
			again = mustList(t, h.conn, Filter{Kind: natsbus.DLQKindPermanent})
			return len(again) == 1 && again[0].Seq != seqOf["msg_poison"]
		})
		if e := again[0]; e.WebhookID != "msg_poison" || e.RedrivenFrom != seqOf["msg_poison"] || e.Deliveries != 1 {
			t.Fatalf("second dead letter = %+v, want msg_poison redriven from %d", e, seqOf["msg_poison"])
		}
		h.waitSettled(t)
	})

	t.Run("crash between republish and delete", func(t *testing.T) {
		h.outage.Store(true)
		h.publish(t, h.signed("payment.succeeded", "msg_d", payment("cus_d", "pay_d", "pdt_d")))
		var e Entry
		natstest.WaitFor(t, time.Minute, "msg_d's dead letter", func() bool {
			l := mustList(t, h.conn, Filter{CustomerID: "cus_d"})
			if len(l) == 1 {
				e = l[0]
			}
			return len(l) == 1
		})
		h.outage.Store(false)
		// The first redrive published and crashed before deleting.
		_, m, err := Show(ctx, h.conn, e.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.conn.Publisher(5*time.Second).Send(ctx, RedriveMsg(e, m)); err != nil {
			t.Fatal(err)
		}
		h.waitSettled(t)
		before := h.eventCount(t)
		results, err := Redrive(ctx, h.conn, checker, []Entry{e}, false)
		if err != nil {
			t.Fatal(err)
		}
		if r := results[0]; r.Action != ActionRedriven || !r.Duplicate || r.Error != "" {
			t.Fatalf("result = %+v, want redriven as a duplicate", r)
		}
		if _, _, err := Show(ctx, h.conn, e.Seq); !errors.Is(err, ErrNotFound) {
			t.Fatalf("dead letter still there: %v", err)
		}
		h.waitSettled(t)
		if n := h.eventCount(t); n != before {
			t.Fatalf("DODO_EVENTS grew from %d to %d: the duplicate was stored", before, n)
		}
		if n := h.grants(t, "cus_d"); n != 1 || h.ledgerState(t, "msg_d") != "done" {
			t.Fatalf("%d grants for cus_d, want 1", n)
		}
	})

	t.Run("special dead letters", func(t *testing.T) {
		tampered := h.signed("payment.succeeded", "msg_t", payment("cus_t", "pay_t", "pdt_t"))
		tampered.Data = payment("cus_t", "pay_t", "pdt_everything")
		otherKey := webhook.NewSecret([]byte("not-our-secret-not-our-secret"))
		wrongKey := natsbus.WebhookMsg("dodo.events.payment.succeeded", "msg_w", strconv.FormatInt(signedAt.Unix(), 10),
			webhook.Sign(otherKey, "msg_w", signedAt, payment("cus_w", "pay_w", "pdt_w")), payment("cus_w", "pay_w", "pdt_w"))
		unsigned := h.signed("payment.succeeded", "msg_u", payment("cus_u", "pay_u", "pdt_u"))
		unsigned.Header.Del("webhook-signature")
		reconciled := &nats.Msg{Subject: "dodo.events.payment.succeeded", Data: payment("cus_r", "pay_r", "pdt_r"),
			Header: nats.Header{"webhook-id": {"rcn_pay_r"}, HeaderReconciled: {"true"}}}
		forged := &nats.Msg{Subject: "offerflow.access.granted.cus_x", Data: []byte(`{"product_id":"pdt_x"}`),
			Header: nats.Header{"webhook-id": {"rcn_x"}, HeaderReconciled: {"true"}}}
		noID := &nats.Msg{Subject: "dodo.events.payment.succeeded", Data: payment("cus_n", "pay_n", "pdt_n"),
			Header: nats.Header{HeaderReconciled: {"true"}}}

		tests := []struct {
			name         string
			msg          *nats.Msg
			action       string
			verified     string
			errContains  string
			customer     string
			wantGrants   int
			deadLetterOK bool // the dead letter stays
		}{
			{"tampered body", tampered, ActionSkipped, BadSignature, "no matching webhook signature", "cus_t", 0, true},
			{"signed with another key", wrongKey, ActionSkipped, BadSignature, "no matching webhook signature", "cus_w", 0, true},
			{"signature removed", unsigned, ActionSkipped, BadSignature, "missing webhook header", "cus_u", 0, true},
			{"reconciled, unsigned", reconciled, ActionRedriven, UnsignedReconciled, "", "cus_r", 1, false},
			{"reconciled, aimed outside DODO_EVENTS", forged, ActionSkipped, UnsignedReconciled, "not an event subject", "cus_x", 0, true},
			{"reconciled without webhook-id", noID, ActionSkipped, UnsignedReconciled, "no webhook-id", "cus_n", 0, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				seq := h.fakeDeadLetter(t, tt.msg, natsbus.DeadLetterSubject(tt.msg.Subject))
				before := h.eventCount(t)
				results, err := Redrive(ctx, h.conn, checker, []Entry{{Seq: seq}}, false)
				if err != nil {
					t.Fatal(err)
				}
				r := results[0]
				if r.Action != tt.action || r.Verified != tt.verified || (tt.errContains == "") != (r.Error == "") || !strings.Contains(r.Error, tt.errContains) {
					t.Fatalf("result = %+v, want action %s, verified %s, error containing %q", r, tt.action, tt.verified, tt.errContains)
				}
				_, _, err = Show(ctx, h.conn, seq)
				if stays := err == nil; stays != tt.deadLetterOK {
					t.Fatalf("dead letter stays: %v, want %v (%v)", stays, tt.deadLetterOK, err)
				}
				h.waitSettled(t)
				if n := h.grants(t, tt.customer); n != tt.wantGrants {
					t.Fatalf("%d grants for %s, want %d", n, tt.customer, tt.wantGrants)
				}
				if tt.action == ActionSkipped {
					if n := h.eventCount(t); n != before {
						t.Fatalf("DODO_EVENTS grew from %d to %d for a skipped dead letter", before, n)
					}
					if n := len(natstest.Messages(t, h.js, natsbus.OutStream, "offerflow.access.granted.cus_x")); n != 0 {
						t.Fatalf("the forged grant was published")
					}
				}
			})
		}
		if s := h.ledgerState(t, "rcn_pay_r"); s != "done" {
			t.Fatalf("ledger state of the reconciled message = %q, want done", s)
		}
	})

	t.Run("no checker", func(t *testing.T) {
		if _, err := Redrive(ctx, h.conn, nil, all, true); err == nil {
			t.Fatal("Redrive without a checker succeeded")
		}
		if _, err := NewChecker(nil); err == nil {
			t.Fatal("NewChecker(nil) succeeded")
		}
	})
}

// TestDLQScanStopsAtTheStartingPoint: dead letters that arrive while a
// scan runs (a redriven message failing again) are left for the next
// scan, so redriving while scanning cannot loop.
func TestDLQScanStopsAtTheStartingPoint(t *testing.T) {
	conn := connect(t)
	ctx := context.Background()
	h := &harness{conn: conn, js: conn.JetStream(), secret: webhook.NewSecret([]byte("k"))}
	// More than a batch, with other subjects in between.
	for i := 0; i < natsbus.ScanBatch+10; i++ {
		id := "msg_" + strconv.Itoa(i)
		h.fakeDeadLetter(t, h.signed("payment.succeeded", id, payment("cus_"+strconv.Itoa(i%3), "pay_"+id, "pdt")), "offerflow.deadletter.payment.succeeded")
		h.publish(t, &nats.Msg{Subject: "offerflow.access.granted.cus_" + strconv.Itoa(i), Data: []byte("{}")})
	}
	n := 0
	err := Scan(ctx, conn, Filter{}, func(e Entry) error {
		n++
		// Each one seen adds a new dead letter behind the scan.
		h.fakeDeadLetter(t, h.signed("payment.succeeded", "new_"+e.WebhookID, payment("cus_new", "pay_new", "pdt")), "offerflow.deadletter.payment.succeeded")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != natsbus.ScanBatch+10 {
		t.Fatalf("scan saw %d dead letters, want the %d there when it started", n, natsbus.ScanBatch+10)
	}
	if got := len(mustList(t, conn, Filter{})); got != 2*(natsbus.ScanBatch+10) {
		t.Fatalf("second scan saw %d, want %d", got, 2*(natsbus.ScanBatch+10))
	}
	if got := len(mustList(t, conn, Filter{CustomerID: "cus_1"})); got != (natsbus.ScanBatch+10+1)/3 {
		t.Fatalf("cus_1 has %d dead letters, want %d", got, (natsbus.ScanBatch+10+1)/3)
	}
	stop := errors.New("stop")
	if err := Scan(ctx, conn, Filter{}, func(Entry) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Scan returned %v, want fn's error", err)
	}
}

// connect starts an embedded server and connects to it as the dlq command
// does, with offerflow's streams created.
func connect(t *testing.T) *natsbus.Conn {
	t.Helper()
	srv := natstest.Start(t)
	conn, err := natsbus.Connect(natsbus.Dial{URL: srv.ClientURL(), Name: "dlq-test", MaxPending: 256, PublishTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := natsbus.EnsureStreams(context.Background(), conn.JetStream(), natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	return conn
}

func consumerNames(t *testing.T, st jetstream.Stream) []string {
	t.Helper()
	var names []string
	l := st.ConsumerNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func streamMsg(js jetstream.JetStream, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		return nil, err
	}
	return st.GetMsg(context.Background(), seq)
}
