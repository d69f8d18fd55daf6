package reconcile_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/reconcile"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

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

// world is offerflow as deployed (testenv): the real ingest and worker on
// an embedded NATS server, with Dodo's stand-in delivering its signed
// webhooks to the ingest, all on a clock that runs with real time and that
// a test moves on to the end of a billing period.
type world struct {
	*testenv.Env
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{testenv.Start(t, testenv.WithDodo(), testenv.WithIngest(func(ic *service.IngestConfig) {
		// The stand-in signs each delivery on the test clock, which a
		// test moves on by a month: a webhook signed just before a move
		// may be verified just after it.
		ic.Tolerance = 365 * 24 * time.Hour
	}))}
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Dodo.AddCustomer(standin.Customer{ID: ana, Email: "ana@example.com", Name: "Ana Ruiz", Zipcode: "94102"}))
	must(w.Dodo.AddCustomer(standin.Customer{ID: bo, Email: "bo@example.com", Name: "Bo Chen", Zipcode: "10001"}))
	year := w.Clock.Now().Year() + 3
	must(w.Dodo.AddPaymentMethod(ana, standin.Card{ID: pmAna, Number: "4242424242424242", ExpMonth: 12, ExpYear: year}))
	must(w.Dodo.AddPaymentMethod(bo, standin.Card{ID: pmBo, Number: "4242424242424242", ExpMonth: 12, ExpYear: year}))
	must(w.Dodo.AddPaymentMethod(bo, standin.Card{ID: pmDecline, Number: "4000000000000002", ExpMonth: 12, ExpYear: year}))
	must(w.Dodo.AddProduct(standin.Product{ID: guide, Name: "Pricing guide", Price: 1900, Currency: "USD"}))
	must(w.Dodo.AddProduct(standin.Product{ID: basic, Name: "Basic", Price: 3000, Currency: "USD", Recurring: true}))
	must(w.Dodo.AddProduct(standin.Product{ID: pro, Name: "Pro", Price: 8000, Currency: "USD", Recurring: true}))
	return w
}

func (w *world) subscriptionOf(t *testing.T, paymentID string) string {
	t.Helper()
	for _, p := range w.Dodo.Payments() {
		if p.ID == paymentID && p.SubscriptionID != "" {
			return p.SubscriptionID
		}
	}
	t.Fatalf("payment %s made no subscription", paymentID)
	return ""
}

func (w *world) reconcile(t *testing.T, o reconcile.Options) reconcile.Report {
	t.Helper()
	rep, err := reconcile.Run(context.Background(), reconcile.Deps{Dodo: w.Client, Publisher: w.Conn.Publisher(10 * time.Second), Access: w.AccessStore, Offers: w.OfferStore, Now: w.Clock.Now}, o)
	if err != nil {
		t.Fatalf("reconcile: %v\nreport: %+v", err, rep)
	}
	return rep
}

// release delivers the webhooks the stand-in held back, through the
// ingest, and waits for the worker.
func (w *world) release(t *testing.T) {
	t.Helper()
	w.Dodo.Release()
	w.Settle(t)
	for _, s := range w.Dodo.Sent() {
		if s.Status != http.StatusOK && s.Status != http.StatusAccepted && s.Status != http.StatusNoContent {
			t.Fatalf("the ingest answered %d (%v) to webhook %s %s", s.Status, s.Err, s.ID, s.Type)
		}
	}
}

// changes returns the access changes offerflow published, as
// kind:customer/product, sorted.
func (w *world) changes(t *testing.T) []string {
	t.Helper()
	out := []string{}
	for _, c := range testenv.Decode[access.Change](t, w.Messages(t, natsbus.OutStream, "offerflow.access.")) {
		out = append(out, c.Kind()+":"+c.CustomerID+"/"+c.ProductID)
	}
	sort.Strings(out)
	return out
}

func (w *world) events(t *testing.T) []natsbus.StoredMsg {
	t.Helper()
	return w.Messages(t, natsbus.EventsStream, "")
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
	w.Dodo.SetDelivery(standin.Delivery{Hold: true})
	start := w.Clock.Now()

	payGuide := w.Buy(t, ana, pmAna, guide, nil)
	paySub := w.Buy(t, ana, pmAna, basic, nil)
	subAna := w.subscriptionOf(t, paySub)
	payFail := w.Buy(t, bo, pmDecline, guide, nil)
	// A subscription Dodo never sent a webhook for (the stand-in's
	// AddSubscription sends none), ending at its first billing date.
	subBo, err := w.Dodo.AddSubscription(standin.Subscription{CustomerID: bo, ProductID: pro, PaymentMethodID: pmBo, CancelAtNextBillingDate: true})
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
			id := m.HeaderValue(natsbus.HeaderWebhookID)
			if m.HeaderValue(reconcile.HeaderReconciled) != "true" || m.HeaderValue(jetstream.MsgIDHeader) != id ||
				!strings.HasPrefix(id, reconcile.WebhookIDPrefix) || m.HeaderValue(natsbus.HeaderWebhookSignature) != "" || m.HeaderValue(natsbus.HeaderWebhookTimestamp) == "" {
				t.Errorf("%s: headers %v, want a reconciled, unsigned message keyed by its webhook-id", m.Subject, m.Header)
			}
		}

		w.SettleWorker(t)
		wantList(t, "ana's access", w.Products(t, ana), []string{basic + "=active", guide + "=active"})
		wantList(t, "bo's access", w.Products(t, bo), []string{pro + "=active"})
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro})
		// The worker's ledger holds the reconciled webhook-id like any other.
		ledger, err := w.Conn.Ledger(context.Background(), "test", time.Minute, time.Now)
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
		wantList(t, "ana's access", w.Products(t, ana), []string{basic + "=active", guide + "=active"})
	})

	t.Run("a subscription cancelled while webhooks are held is revoked", func(t *testing.T) {
		// A day later Dodo sends subscription.updated for Bo's subscription
		// (something else changed): offerflow now has an event of it newer
		// than any date on Dodo's object.
		w.Clock.Advance(24 * time.Hour)
		w.postSubscriptionUpdated(t, subBo)
		w.SettleWorker(t)

		// At the end of the period Dodo cancels it, as scheduled, and
		// renews Ana's; their webhooks are held back.
		w.Dodo.SetDelivery(standin.Delivery{Hold: true})
		s, _ := w.Dodo.Subscription(subBo)
		w.Clock.Advance(s.PeriodEnd.Sub(w.Clock.Now()) + time.Minute)
		if n := w.Dodo.RenewDue(); n != 1 {
			t.Fatalf("RenewDue renewed %d periods, want Ana's one", n)
		}
		if s, _ := w.Dodo.Subscription(subBo); s.Status != standin.StatusCancelled {
			t.Fatalf("Bo's subscription is %s, want cancelled", s.Status)
		}
		var renewal string
		for _, p := range w.Dodo.Payments() {
			if p.SubscriptionID == subAna && p.ID != paySub {
				renewal = p.ID
			}
		}

		// Only the last two hours: Ana's subscription is found by its
		// renewal, Bo's by its status and billing date.
		rep := w.reconcile(t, reconcile.Options{Since: w.Clock.Now().Add(-2 * time.Hour)})
		wantCounts(t, "after the cancellation", rep.Counts, reconcile.Counts{Seen: 3, Processed: 2, Fed: 1})
		wantItems(t, rep, map[string]string{renewal: "processed covered", subAna: "processed access", subBo: "fed differs"})
		if it := item(t, rep, subAna); it.Found != "charged" {
			t.Errorf("Ana's subscription found %q, want charged", it.Found)
		}
		it := item(t, rep, subBo)
		// Dodo's object records when it was cancelled (cancelled_at), and
		// that is later than anything offerflow holds for it: the fed
		// event carries that time.
		boSub, err := w.Client.GetSubscription(context.Background(), subBo)
		if err != nil || boSub.CancelledAt == nil {
			t.Fatalf("Bo's subscription from Dodo: %+v, %v; want it with cancelled_at", boSub, err)
		}
		if it.Found != "status:cancelled" || it.EventType != "subscription.cancelled" || it.Stamp != reconcile.StampObject || !it.EventAt.Equal(boSub.CancelledAt.UTC()) {
			t.Errorf("Bo's subscription: %+v; want subscription.cancelled found by status, stamped with its cancelled_at %s", it, boSub.CancelledAt)
		}
		w.SettleWorker(t)
		wantList(t, "bo's access", w.Products(t, bo), []string{})
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro, "revoked:" + bo + "/" + pro})

		// The held webhooks, delivered, change nothing either.
		w.release(t)
		wantList(t, "changes", w.changes(t), []string{"granted:" + ana + "/" + basic, "granted:" + ana + "/" + guide, "granted:" + bo + "/" + pro, "revoked:" + bo + "/" + pro})
		wantList(t, "ana's access", w.Products(t, ana), []string{basic + "=active", guide + "=active"})
		wantList(t, "bo's access", w.Products(t, bo), []string{})

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
	raw, err := w.Client.GetSubscriptionJSON(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	data["payload_type"] = "Subscription"
	now := w.Clock.Now()
	body, _ := json.Marshal(map[string]any{"business_id": "bus_standin", "type": "subscription.updated", "timestamp": now.Format(time.RFC3339Nano), "data": data})
	if code := w.Post(t, "msg_updated_"+id, body); code/100 != 2 {
		t.Fatalf("the ingest answered %d", code)
	}
}

// TestReconcileAsksTheOfferStore: a payment naming an offer the store does
// not know is fed (nothing shows it was handled).
func TestReconcileAsksTheOfferStore(t *testing.T) {
	w := newWorld(t)
	w.Dodo.SetDelivery(standin.Delivery{Hold: true})
	pay := w.Buy(t, bo, pmDecline, guide, wire.Metadata{access.MetadataOfferID: wire.StringValue("off_unknown")})
	rep := w.reconcile(t, reconcile.Options{Since: w.Clock.Now().Add(-time.Minute), DryRun: true})
	it := item(t, rep, pay)
	if it.Action != reconcile.ActionWouldFeed || it.Reason != reconcile.ReasonNoEvidence || !strings.Contains(it.Detail, "off_unknown") {
		t.Fatalf("got %+v, want it fed for want of evidence about off_unknown", it)
	}
}

func TestReconcileRefuses(t *testing.T) {
	w := newWorld(t)
	deps := reconcile.Deps{Dodo: w.Client, Publisher: w.Conn.Publisher(10 * time.Second), Access: w.AccessStore, Now: w.Clock.Now}
	now := w.Clock.Now()
	tests := []struct {
		name string
		deps reconcile.Deps
		o    reconcile.Options
		want string
	}{
		{"no start", deps, reconcile.Options{}, "since"},
		{"start after end", deps, reconcile.Options{Since: now, Until: now.Add(-time.Hour)}, "not before"},
		{"start in the future", deps, reconcile.Options{Since: now.Add(time.Hour)}, "not before"},
		{"no Dodo", reconcile.Deps{Publisher: w.Conn.Publisher(10 * time.Second), Access: w.AccessStore}, reconcile.Options{Since: now.Add(-time.Hour)}, "required"},
		{"no JetStream", reconcile.Deps{Dodo: w.Client, Access: w.AccessStore}, reconcile.Options{Since: now.Add(-time.Hour)}, "required"},
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
	c, err := dodo.New(dodo.Config{APIKey: "sk_test_reconcile", BaseURL: down.URL, MaxRetries: -1, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	deps.Dodo = c
	if _, err := reconcile.Run(context.Background(), deps, reconcile.Options{Since: now.Add(-time.Hour)}); err == nil || !strings.Contains(err.Error(), "list payments") {
		t.Fatalf("with Dodo down: got %v, want a listing error", err)
	}
}
