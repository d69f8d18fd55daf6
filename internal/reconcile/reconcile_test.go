package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/reconcile"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// clock is real time moved by an offset, shared by the stand-in, the worker
// and reconcile, so a test can jump to the end of a billing period.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off).UTC()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

const apiKey = "sk_test_reconcile"

// The stand-in's catalog.
const (
	ana       = "cus_ana"
	bo        = "cus_bo"
	pmAna     = "pm_ana"      // 4242: succeeds
	pmBo      = "pm_bo"       // 4242: succeeds
	pmDecline = "pm_declined" // ...0002: declined
	guide     = "pdt_guide"   // one-time
	basic     = "pdt_basic"   // monthly
	pro       = "pdt_pro"     // monthly
)

// world is offerflow as deployed, on an embedded NATS server: the real
// ingest and worker services, with Dodo's stand-in delivering its signed
// webhooks to the ingest, and a Dodo client of the stand-in's API.
type world struct {
	clock  *clock
	dodo   *standin.Server
	client *dodo.Client
	js     jetstream.JetStream
	access *natsbus.AccessStore
	offers *natsbus.OfferStore
	ingest string
	secret webhook.Secret
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := natstest.Start(t)
	secret := webhook.NewSecret([]byte("reconcile-test-webhook-secret-32"))
	clk := &clock{}

	var ic service.IngestConfig
	var wc service.WorkerConfig
	empty := func(string) string { return "" }
	si, sw := conf.New("ingest", empty, io.Discard), conf.New("worker", empty, io.Discard)
	ic.Declare(si)
	wc.Declare(sw)
	if err := si.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ic.NATSURL, wc.NATSURL = srv.ClientURL(), srv.ClientURL()
	ic.Secrets = secret.Encode()
	// The stand-in signs with the test clock, which runs a month ahead
	// at the end.
	ic.Tolerance = 365 * 24 * time.Hour
	wc.MetricsAddr = ""
	wc.BackoffBase, wc.BackoffMax = 50*time.Millisecond, 200*time.Millisecond

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ready := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := service.RunIngest(ctx, ic, zap.NewNop(), service.IngestOptions{Listener: ln, Ready: func(string) { close(ready) }}); err != nil {
			t.Errorf("ingest: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := service.RunWorker(ctx, wc, zap.NewNop(), service.WorkerOptions{Now: clk.Now}); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-ready

	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{clock: clk, js: js, ingest: "http://" + ln.Addr().String() + "/webhooks/dodo", secret: secret}
	// The worker creates the streams, buckets and its consumer as it starts.
	natstest.WaitFor(t, time.Minute, "the worker's consumer and buckets", func() bool {
		if _, err := js.Consumer(ctx, natsbus.EventsStream, natsbus.WorkerConsumer); err != nil {
			return false
		}
		if w.access, err = natsbus.NewAccessStore(ctx, js); err != nil {
			return false
		}
		w.offers, err = natsbus.NewOfferStore(ctx, js)
		return err == nil
	})

	w.dodo = standin.New(standin.Config{APIKey: apiKey, WebhookURL: w.ingest, WebhookSecret: secret, Now: clk.Now})
	api := httptest.NewServer(w.dodo.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		api.Close()
		w.dodo.Close()
	})
	if w.client, err = dodo.New(dodo.Config{APIKey: apiKey, BaseURL: api.URL, RateLimit: -1, HTTPClient: &http.Client{Transport: tr}}); err != nil {
		t.Fatal(err)
	}
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.dodo.AddCustomer(standin.Customer{ID: ana, Email: "ana@example.com", Name: "Ana Ruiz", Zipcode: "94102"}))
	must(w.dodo.AddCustomer(standin.Customer{ID: bo, Email: "bo@example.com", Name: "Bo Chen", Zipcode: "10001"}))
	year := clk.Now().Year() + 3
	must(w.dodo.AddPaymentMethod(ana, standin.Card{ID: pmAna, Number: "4242424242424242", ExpMonth: 12, ExpYear: year}))
	must(w.dodo.AddPaymentMethod(bo, standin.Card{ID: pmBo, Number: "4242424242424242", ExpMonth: 12, ExpYear: year}))
	must(w.dodo.AddPaymentMethod(bo, standin.Card{ID: pmDecline, Number: "4000000000000002", ExpMonth: 12, ExpYear: year}))
	must(w.dodo.AddProduct(standin.Product{ID: guide, Name: "Pricing guide", Price: 1900, Currency: "USD"}))
	must(w.dodo.AddProduct(standin.Product{ID: basic, Name: "Basic", Price: 3000, Currency: "USD", Recurring: true}))
	must(w.dodo.AddProduct(standin.Product{ID: pro, Name: "Pro", Price: 8000, Currency: "USD", Recurring: true}))
	return w
}

// buy makes a one-click purchase through Dodo's API and returns the
// payment id.
func (w *world) buy(t *testing.T, customer, pm, product string, metadata wire.Metadata) string {
	t.Helper()
	s, err := w.client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: customer, PaymentMethodID: pm, ProductID: product, Country: "US", Zipcode: "94102",
		Metadata: metadata, IdempotencyKey: customer + ":" + product + ":" + strconv.FormatInt(time.Now().UnixNano(), 36),
	}))
	if err != nil || s.PaymentID == nil {
		t.Fatalf("buy %s for %s: %v", product, customer, err)
	}
	return *s.PaymentID
}

func (w *world) subscriptionOf(t *testing.T, paymentID string) string {
	t.Helper()
	for _, p := range w.dodo.Payments() {
		if p.ID == paymentID && p.SubscriptionID != "" {
			return p.SubscriptionID
		}
	}
	t.Fatalf("payment %s made no subscription", paymentID)
	return ""
}

func (w *world) reconcile(t *testing.T, o reconcile.Options) reconcile.Report {
	t.Helper()
	rep, err := reconcile.Run(context.Background(), reconcile.Deps{Dodo: w.client, Publisher: natsbus.NewPublisher(w.js, 10*time.Second), Access: w.access, Offers: w.offers, Now: w.clock.Now}, o)
	if err != nil {
		t.Fatalf("reconcile: %v\nreport: %+v", err, rep)
	}
	return rep
}

// settle waits until the worker has handled everything in DODO_EVENTS.
func (w *world) settle(t *testing.T) {
	t.Helper()
	natstest.WaitFor(t, time.Minute, "the worker to settle", natstest.Settled(w.js, natsbus.EventsStream, natsbus.WorkerConsumer))
}

// release delivers the webhooks the stand-in held back, through the
// ingest, and waits for the worker.
func (w *world) release(t *testing.T) {
	t.Helper()
	w.dodo.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.dodo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range w.dodo.Sent() {
		if s.Status != http.StatusOK && s.Status != http.StatusAccepted && s.Status != http.StatusNoContent {
			t.Fatalf("the ingest answered %d (%v) to webhook %s %s", s.Status, s.Err, s.ID, s.Type)
		}
	}
	w.settle(t)
}

// products returns a customer's access: product=status, sorted.
func (w *world) products(t *testing.T, customer string) []string {
	t.Helper()
	doc, _, err := w.access.Get(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, p := range doc.View(nil).Products {
		out = append(out, p.ProductID+"="+string(p.Status))
	}
	return out
}

// changes returns the access changes offerflow published, as
// kind:customer/product, sorted.
func (w *world) changes(t *testing.T) []string {
	t.Helper()
	out := []string{}
	for _, m := range natstest.Messages(t, w.js, natsbus.OutStream, "offerflow.access.") {
		var c access.Change
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Kind()+":"+c.CustomerID+"/"+c.ProductID)
	}
	sort.Strings(out)
	return out
}

func (w *world) events(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, w.js, natsbus.EventsStream, "")
}

// item returns the report's item about id.
func item(t *testing.T, rep reconcile.Report, id string) reconcile.Item {
	t.Helper()
	for _, it := range rep.Items {
		if it.ID == id {
			return it
		}
	}
	t.Fatalf("the report has no item %s: %+v", id, rep.Items)
	return reconcile.Item{}
}

// wantItems checks action and reason of the named items.
func wantItems(t *testing.T, rep reconcile.Report, want map[string]string) {
	t.Helper()
	for id, w := range want {
		it := item(t, rep, id)
		if got := string(it.Action) + " " + it.Reason; got != w {
			t.Errorf("%s: got %s (%s), want %s", id, got, it.Detail, w)
		}
	}
}

func wantCounts(t *testing.T, step string, got, want reconcile.Counts) {
	t.Helper()
	want.SkippedBy, got.SkippedBy = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: counts %+v, want %+v", step, got, want)
	}
}

func wantList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// TestReconcileEndToEnd: purchases and subscriptions happen while Dodo
// holds back every webhook; reconcile finds them and the worker grants
// access; a second run feeds nothing new; the real webhooks, delivered at
// last, change nothing; a subscription cancelled while webhooks are held
// back is revoked by the next run.
func TestReconcileEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.dodo.SetDelivery(standin.Delivery{Hold: true})
	start := w.clock.Now()

	payGuide := w.buy(t, ana, pmAna, guide, nil)
	paySub := w.buy(t, ana, pmAna, basic, nil)
	subAna := w.subscriptionOf(t, paySub)
	payFail := w.buy(t, bo, pmDecline, guide, nil)
	// A subscription Dodo never sent a webhook for (the stand-in's
	// AddSubscription sends none), ending at its first billing date.
	subBo, err := w.dodo.AddSubscription(standin.Subscription{CustomerID: bo, ProductID: pro, PaymentMethodID: pmBo, CancelAtNextBillingDate: true})
	if err != nil {
		t.Fatal(err)
	}
	since := start.Add(-time.Hour)

	t.Run("dry run", func(t *testing.T) {
		rep := w.reconcile(t, reconcile.Options{Since: since, DryRun: true})
		wantCounts(t, "dry run", rep.Counts, reconcile.Counts{Seen: 5, WouldFeed: 5})
		wantItems(t, rep, map[string]string{
			payGuide: "would_feed missing", paySub: "would_feed no_evidence", payFail: "would_feed no_evidence",
			subAna: "would_feed missing", subBo: "would_feed missing",
		})
		if n := len(w.events(t)); n != 0 {
			t.Fatalf("a dry run published %d events", n)
		}
		one := w.reconcile(t, reconcile.Options{Since: since, DryRun: true, CustomerID: ana})
		wantCounts(t, "dry run for one customer", one.Counts, reconcile.Counts{Seen: 3, WouldFeed: 3})
	})

	t.Run("feeds what offerflow missed", func(t *testing.T) {
		rep := w.reconcile(t, reconcile.Options{Since: since})
		wantCounts(t, "first run", rep.Counts, reconcile.Counts{Seen: 5, Fed: 5})
		wantItems(t, rep, map[string]string{
			payGuide: "fed missing", paySub: "fed no_evidence", payFail: "fed no_evidence", subAna: "fed missing", subBo: "fed missing",
		})
		types := map[string]string{}
		for _, it := range rep.Items {
			types[it.ID] = it.EventType
			if it.Stamp != reconcile.StampObject || !strings.HasPrefix(it.WebhookID, reconcile.WebhookIDPrefix) || it.Sequence == 0 {
				t.Errorf("%s: stamp %q, webhook-id %q, sequence %d; want the object's time, a reconcile id, a sequence", it.ID, it.Stamp, it.WebhookID, it.Sequence)
			}
		}
		wantList(t, "event types", []string{types[payGuide], types[paySub], types[payFail], types[subAna], types[subBo]},
			[]string{"payment.succeeded", "payment.succeeded", "payment.failed", "subscription.active", "subscription.active"})

		msgs := w.events(t)
		if len(msgs) != 5 {
			t.Fatalf("DODO_EVENTS has %d messages, want 5", len(msgs))
		}
		for _, m := range msgs {
			id := m.Header.Get(natsbus.HeaderWebhookID)
			if m.Header.Get(reconcile.HeaderReconciled) != "true" || m.Header.Get(jetstream.MsgIDHeader) != id ||
				!strings.HasPrefix(id, reconcile.WebhookIDPrefix) || m.Header.Get(natsbus.HeaderWebhookSignature) != "" || m.Header.Get(natsbus.HeaderWebhookTimestamp) == "" {
				t.Errorf("%s: headers %v, want a reconciled, unsigned message keyed by its webhook-id", m.Subject, m.Header)
			}
		}

		w.settle(t)
		wantList(t, "ana's access", w.products(t, ana), []string{basic + "=active", guide + "=active"})
		wantList(t, "bo's access", w.products(t, bo), []string{pro + "=active"})
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro})
		// The worker's ledger holds the reconciled webhook-id like any other.
		ledger, err := natsbus.NewLedger(context.Background(), w.js, "test", time.Minute, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := ledger.State(context.Background(), "webhook."+item(t, rep, payGuide).WebhookID); err != nil || st != "done" {
			t.Fatalf("ledger state of the fed payment: %q, %v; want done", st, err)
		}
	})

	t.Run("a second run feeds nothing new", func(t *testing.T) {
		rep := w.reconcile(t, reconcile.Options{Since: since})
		// The failed payment leaves no trace in offerflow, so it is fed
		// again, and JetStream drops it as a duplicate.
		wantCounts(t, "second run", rep.Counts, reconcile.Counts{Seen: 5, Processed: 4, AlreadyFed: 1})
		wantItems(t, rep, map[string]string{
			payGuide: "processed access", paySub: "processed covered", payFail: "already_fed no_evidence",
			subAna: "processed access", subBo: "processed access",
		})
		if n := len(w.events(t)); n != 5 {
			t.Fatalf("DODO_EVENTS has %d messages, want still 5", n)
		}
	})

	t.Run("the real webhooks, late, change nothing", func(t *testing.T) {
		w.release(t)
		if n := len(w.events(t)); n != 9 {
			t.Fatalf("DODO_EVENTS has %d messages, want the 5 fed and the 4 real ones", n)
		}
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro})
		wantList(t, "ana's access", w.products(t, ana), []string{basic + "=active", guide + "=active"})
	})

	t.Run("a subscription cancelled while webhooks are held is revoked", func(t *testing.T) {
		// A day later Dodo sends subscription.updated for Bo's subscription
		// (something else changed): offerflow now has an event of it newer
		// than any date on Dodo's object.
		w.clock.Advance(24 * time.Hour)
		w.postSubscriptionUpdated(t, subBo)
		w.settle(t)

		// At the end of the period Dodo cancels it, as scheduled, and
		// renews Ana's; their webhooks are held back.
		w.dodo.SetDelivery(standin.Delivery{Hold: true})
		s, _ := w.dodo.Subscription(subBo)
		w.clock.Advance(s.PeriodEnd.Sub(w.clock.Now()) + time.Minute)
		if n := w.dodo.RenewDue(); n != 1 {
			t.Fatalf("RenewDue renewed %d periods, want Ana's one", n)
		}
		if s, _ := w.dodo.Subscription(subBo); s.Status != standin.StatusCancelled {
			t.Fatalf("Bo's subscription is %s, want cancelled", s.Status)
		}
		var renewal string
		for _, p := range w.dodo.Payments() {
			if p.SubscriptionID == subAna && p.ID != paySub {
				renewal = p.ID
			}
		}

		// Only the last two hours: Ana's subscription is found by its
		// renewal, Bo's by its status and billing date.
		rep := w.reconcile(t, reconcile.Options{Since: w.clock.Now().Add(-2 * time.Hour)})
		wantCounts(t, "after the cancellation", rep.Counts, reconcile.Counts{Seen: 3, Processed: 2, Fed: 1})
		wantItems(t, rep, map[string]string{renewal: "processed covered", subAna: "processed access", subBo: "fed differs"})
		if it := item(t, rep, subAna); it.Found != "charged" {
			t.Errorf("Ana's subscription found %q, want charged", it.Found)
		}
		it := item(t, rep, subBo)
		if it.Found != "status:cancelled" || it.EventType != "subscription.cancelled" || it.Stamp != reconcile.StampObserved || !it.EventAt.Equal(rep.ObservedAt) {
			t.Errorf("Bo's subscription: %+v; want subscription.cancelled found by status, stamped with the run's start", it)
		}
		w.settle(t)
		wantList(t, "bo's access", w.products(t, bo), []string{})
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro, "revoked:" + bo + "/" + pro})

		// The held webhooks, delivered, change nothing either.
		w.release(t)
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro, "revoked:" + bo + "/" + pro})
		wantList(t, "ana's access", w.products(t, ana), []string{basic + "=active", guide + "=active"})
		wantList(t, "bo's access", w.products(t, bo), []string{})

		rep = w.reconcile(t, reconcile.Options{Since: since})
		if rep.Counts.Fed != 0 || rep.Counts.Failed != 0 {
			t.Fatalf("a last run over everything: %+v, want nothing fed", rep.Counts)
		}
	})
}

// postSubscriptionUpdated delivers a signed subscription.updated for a
// subscription, as Dodo would, stamped now.
func (w *world) postSubscriptionUpdated(t *testing.T, id string) {
	t.Helper()
	raw, err := w.client.GetSubscriptionJSON(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	data["payload_type"] = "Subscription"
	now := w.clock.Now()
	body, _ := json.Marshal(map[string]any{"business_id": "bus_standin", "type": "subscription.updated", "timestamp": now.Format(time.RFC3339Nano), "data": data})
	req, _ := http.NewRequest(http.MethodPost, w.ingest, bytes.NewReader(body))
	msgID := "msg_updated_" + id
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", webhook.Sign(w.secret, msgID, now, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("the ingest answered %d", resp.StatusCode)
	}
}

// TestReconcileAsksTheOfferStore: a payment naming an offer the store does
// not know is fed (nothing shows it was handled).
func TestReconcileAsksTheOfferStore(t *testing.T) {
	w := newWorld(t)
	w.dodo.SetDelivery(standin.Delivery{Hold: true})
	pay := w.buy(t, bo, pmDecline, guide, wire.Metadata{access.MetadataOfferID: wire.StringValue("off_unknown")})
	rep := w.reconcile(t, reconcile.Options{Since: w.clock.Now().Add(-time.Minute), DryRun: true})
	it := item(t, rep, pay)
	if it.Action != reconcile.ActionWouldFeed || it.Reason != reconcile.ReasonNoEvidence || !strings.Contains(it.Detail, "off_unknown") {
		t.Fatalf("got %+v, want it fed for want of evidence about off_unknown", it)
	}
}

func TestReconcileRefuses(t *testing.T) {
	w := newWorld(t)
	deps := reconcile.Deps{Dodo: w.client, Publisher: natsbus.NewPublisher(w.js, 10*time.Second), Access: w.access, Now: w.clock.Now}
	now := w.clock.Now()
	tests := []struct {
		name string
		deps reconcile.Deps
		o    reconcile.Options
		want string
	}{
		{"no start", deps, reconcile.Options{}, "since"},
		{"start after end", deps, reconcile.Options{Since: now, Until: now.Add(-time.Hour)}, "not before"},
		{"start in the future", deps, reconcile.Options{Since: now.Add(time.Hour)}, "not before"},
		{"no Dodo", reconcile.Deps{Publisher: natsbus.NewPublisher(w.js, 10*time.Second), Access: w.access}, reconcile.Options{Since: now.Add(-time.Hour)}, "required"},
		{"no JetStream", reconcile.Deps{Dodo: w.client, Access: w.access}, reconcile.Options{Since: now.Add(-time.Hour)}, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reconcile.Run(context.Background(), tt.deps, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %q", err, tt.want)
			}
		})
	}

	// Dodo down: the run cannot list, and says so.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	c, err := dodo.New(dodo.Config{APIKey: apiKey, BaseURL: down.URL, MaxRetries: -1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	deps.Dodo = c
	if _, err := reconcile.Run(context.Background(), deps, reconcile.Options{Since: now.Add(-time.Hour)}); err == nil || !strings.Contains(err.Error(), "list payments") {
		t.Fatalf("with Dodo down: got %v, want a listing error", err)
	}
}
