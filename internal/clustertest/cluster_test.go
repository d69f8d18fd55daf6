package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/webhook"
)

// The environment variables of a longer run (see plan).
const (
	envLong  = "CLUSTERTEST_LONG" // any value: the long run
	envCusts = "CLUSTERTEST_CUSTOMERS"
	envRate  = "CLUSTERTEST_RATE" // deliveries per second
	envLogs  = "CLUSTERTEST_LOGS" // keep the processes' logs in this directory
)

// plan is what one run does: how many customers' webhooks, how fast, and
// which faults at which point of the load (the fraction of deliveries
// sent).
type plan struct {
	customers int
	shoppers  int // customers who buy through Dodo and accept an offer
	rate      int
	faults    []fault
}

type fault struct {
	at   float64
	kind string // a stream name (kill the node leading it), or workerA / workerB
}

const (
	workerA = "worker-a"
	workerB = "worker-b"
)

// planFor returns the short plan (CI, under 3 minutes with the build
// cached) or, with CLUSTERTEST_LONG set, a longer one that goes round every
// fault several times.
func planFor(t *testing.T) plan {
	// A node's kill takes up to 20 s to get over (election, restart,
	// catch-up) on a loaded 2-core machine; the faults come one after the
	// other, so the load lasts about 35 s.
	p := plan{customers: 500, shoppers: 40, rate: 40, faults: []fault{
		{at: 0.10, kind: workerA},
		{at: 0.25, kind: natsbus.EventsStream},
		{at: 0.55, kind: "KV_" + natsbus.AccessBucket},
	}}
	if os.Getenv(envLong) != "" {
		p = plan{customers: 4000, shoppers: 400, rate: 60}
		kinds := []string{natsbus.EventsStream, "KV_" + natsbus.AccessBucket, workerA, "KV_" + natsbus.LedgerBucket, workerB, natsbus.OutStream}
		const n = 18
		for i := range n {
			p.faults = append(p.faults, fault{at: 0.05 + 0.85*float64(i)/n, kind: kinds[i%len(kinds)]})
		}
	}
	for _, v := range []struct {
		env string
		dst *int
	}{{envCusts, &p.customers}, {envRate, &p.rate}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", v.env, s)
			}
			*v.dst = n
		}
	}
	return p
}

// TestFaultsOnACluster is issue 12's "faults on a real cluster": a 3-node
// cluster from deploy/nats/nats-server.conf, the ingest and two workers as
// processes, a load of signed webhooks with duplicates and out-of-order
// deliveries, and kill -9 of the stream leader, a bucket leader and a worker
// while it runs (each restarted). After the load drains: every webhook
// answered 2xx is stored once; every customer's access equals the model;
// every business change is emailed once; the consumer is not stuck; every
// worker replica (and each restarted one) took work.
func TestFaultsOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server, ingest and workers as processes")
	}
	p := planFor(t)
	bins := buildBinaries(t)
	logDir := os.Getenv(envLogs)
	if logDir == "" {
		logDir = t.TempDir()
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := randomHex(t, 4)
	l, err := newLoad(run, p.customers, uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run %s: %d customers, %d webhooks, %d deliveries at %d/s; logs in %s", run, p.customers, len(l.hooks), len(l.deliveries), p.rate, logDir)

	cl := startCluster(t, bins.natsServer, configFile, logDir)
	nc, err := nats.Connect(cl.urls(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, 2*time.Minute, "JetStream on the cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})

	in := startInbox(t)
	secret := webhook.NewSecret(randomBytes(t, 32))
	// Dodo's webhooks reach the ingest through a forwarder: the stand-in
	// is told where to deliver before the ingest, which must be told the
	// stand-in's API, has started and said its address.
	var ingestTarget atomic.Pointer[url.URL]
	fwd := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(ingestTarget.Load()) }})
	t.Cleanup(fwd.Close)
	dd := startDodo(t, fwd.URL, secret)
	apiToken := "srv_" + randomHex(t, 16)
	common := []string{"NATS_URL=" + cl.urls(), "STREAM_REPLICAS=3", "LOG_LEVEL=info",
		"OFFERFLOW_RULES=" + writeRules(t), "DODO_API_KEY=" + dd.key, "DODO_API_BASE_URL=" + dd.api.URL, "DODO_RATE_LIMIT=0",
		"OFFERFLOW_OFFER_KEY=k1:" + base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)),
		// An accepted offer whose charge outcome was lost is settled by
		// the sweep 2 minutes after its acceptance; sweeping often keeps
		// the wait near that.
		"OFFERFLOW_OFFER_SWEEP_INTERVAL=5s"}
	ingest, err := startProc(t, "ingest", logDir, bins.ingest, append(slices.Clone(common),
		"DODO_WEBHOOK_SECRET="+secret.Encode(), "INGEST_ADDR=127.0.0.1:0", "OFFERFLOW_API_TOKEN="+apiToken))
	if err != nil {
		t.Fatal(err)
	}
	ingestURL := "http://" + waitProcAddr(t, ingest, 2*time.Minute)
	target, err := url.Parse(ingestURL)
	if err != nil {
		t.Fatal(err)
	}
	ingestTarget.Store(target)

	ws := &workers{t: t, bin: bins.worker, logDir: logDir, env: append(slices.Clone(common),
		"WORKER_METRICS_ADDR=127.0.0.1:0",
		"SMTP_URL=smtp://"+in.addr+"?starttls=none&from=shop@example.com",
		// A killed worker's messages come back after the ack wait, and
		// its ledger claims after twice that: 5 s keeps a kill's cost
		// to seconds (the default, 30 s, is for slow Dodo calls).
		"WORKER_ACK_WAIT=5s", "WORKER_BACKOFF_BASE=200ms", "WORKER_BACKOFF_MAX=2s",
		"WORKER_MAX_ATTEMPTS=100", "WORKER_CONCURRENCY=16",
	)}
	// Both together, on a fresh cluster: issue 12's worker that took
	// nothing started this way.
	ws.start(workerA)
	ws.start(workerB)
	for _, w := range ws.current() {
		if !waitUntil(2*time.Minute, w.ready) {
			t.Fatalf("%s not ready within 2 minutes", w.name())
		}
	}
	stopScrape := ws.scrape()
	t.Cleanup(stopScrape)

	// The load runs in the background; the faults happen here, on the
	// test's goroutine, as the deliveries pass each fault's point.
	ld := &loader{url: ingestURL, secret: secret, http: &http.Client{Timeout: 20 * time.Second}, codes: map[int]int{}, ok: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-loadDone
	})
	loadStart := time.Now()
	go func() {
		defer close(loadDone)
		ld.run(ctx, l.deliveries, p.rate, 16)
	}()
	// Purchases through Dodo, spread over the first 80% of the load.
	sh := &shopper{dodo: dd, ingest: ingestURL, apiToken: apiToken, http: &http.Client{Timeout: 20 * time.Second},
		pms: map[string]string{}, accepted: map[string]string{}, answers: map[int]int{}}
	shoppers := sh.seed(t, run, p.shoppers)
	shopDone := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-shopDone
	})
	every := max(10*time.Millisecond, time.Duration(0.8*float64(len(l.deliveries))/float64(p.rate)/float64(p.shoppers)*float64(time.Second)))
	go func() {
		defer close(shopDone)
		sh.run(ctx, shoppers, every)
	}()

	var results []faultResult
	for _, f := range p.faults {
		if !waitUntil(10*time.Minute, func() bool {
			return float64(ld.taken.Load()) >= f.at*float64(len(l.deliveries))
		}) {
			t.Fatalf("the load did not reach %.0f%% in 10 minutes", 100*f.at)
		}
		at := time.Since(loadStart)
		var r faultResult
		if f.kind == workerA || f.kind == workerB {
			r = ws.kill(f.kind, loadDone)
		} else {
			r = killLeader(t, cl, js, f.kind)
		}
		r.at = at
		t.Logf("fault at %s: %s", r.at.Round(time.Millisecond), r)
		results = append(results, r)
	}
	<-loadDone
	loadTook := time.Since(loadStart)
	if ld.failed.Load() > 0 {
		t.Fatalf("%d webhooks never got a 2xx in 2 minutes of retries", ld.failed.Load())
	}
	<-shopDone
	for _, f := range sh.failures {
		t.Errorf("purchase: %s", f)
	}

	// Drain: Dodo has delivered its webhooks, and the workers have handled
	// everything stored.
	drainStart := time.Now()
	fctx, fcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	if err := dd.srv.Flush(fctx); err != nil {
		t.Errorf("Dodo's webhooks not delivered: %v", err)
	}
	fcancel()
	natstest.WaitFor(t, 3*time.Minute, "the workers to handle every stored webhook, its offers and every signal", func() bool {
		return natstest.Settled(js, natsbus.EventsStream, natsbus.WorkerConsumer)() &&
			natstest.Settled(js, natsbus.EventsStream, service.OffersConsumer)() &&
			natstest.Settled(js, natsbus.OutStream, service.SignalsConsumer)()
	})
	drained := time.Since(drainStart)

	// 0. Charges at Dodo: each shopper bought the course once and was
	// charged at most once for the offer it accepted, whatever answers
	// were lost. An offer whose acceptance was recorded but whose accept
	// got no good answer (the write's acknowledgement lost in a leader
	// election: 503, then 409 already_accepted) is not charged by the
	// accept; the sweep settles it after StuckAfter (2 minutes): charged
	// if Dodo has its payment, else failed with the fallback. Each offer
	// must end charged once or failed uncharged.
	states := map[string]string{}
	natstest.WaitFor(t, 4*time.Minute, "every accepted offer to be charged or failed", func() bool {
		for _, cus := range shoppers {
			id := sh.accepted[cus]
			if st := states[id]; id == "" || st == "charged" || st == "failed" {
				continue // no offer accepted: a failure reported above
			}
			var o struct {
				State string `json:"state"`
			}
			if sh.call(context.Background(), http.MethodGet, "/v1/offers/"+id, &o) != http.StatusOK {
				return false
			}
			states[id] = o.State
			if o.State != "charged" && o.State != "failed" {
				return false
			}
		}
		return true
	})
	// The sweep's own webhooks and confirmations, if any, are handled too.
	natstest.WaitFor(t, 3*time.Minute, "the workers to handle what the sweep caused", func() bool {
		return natstest.Settled(js, natsbus.EventsStream, natsbus.WorkerConsumer)() &&
			natstest.Settled(js, natsbus.EventsStream, service.OffersConsumer)() &&
			natstest.Settled(js, natsbus.OutStream, service.SignalsConsumer)()
	})
	course, offerCharges, offerIDs := sh.charges(shoppers)
	failedOffers := 0
	for _, cus := range shoppers {
		id := sh.accepted[cus]
		if course[cus] != 1 {
			t.Errorf("%s: %d course payments, want 1", cus, course[cus])
		}
		l.customers = append(l.customers, cus)
		switch states[id] {
		case "":
			l.access[cus] = []string{"pdt_course_live=active"}
			if offerCharges[cus] != 0 {
				t.Errorf("%s: no offer accepted, yet Dodo has %d offer charges %v", cus, offerCharges[cus], offerIDs[cus])
			}
		case "charged":
			if offerCharges[cus] != 1 || offerIDs[cus][0] != id {
				t.Errorf("%s: offer %s charged, Dodo has %d charges %v; want one for it", cus, id, offerCharges[cus], offerIDs[cus])
			}
			l.access[cus] = []string{"pdt_course_live=active", "pdt_workbook=active"}
			l.emails["offer."+id+".charged"] = true
		default: // failed
			failedOffers++
			if offerCharges[cus] != 0 {
				t.Errorf("%s: offer %s failed, yet Dodo has %d charges %v", cus, id, offerCharges[cus], offerIDs[cus])
			}
			t.Logf("%s: offer %s accepted (answers lost), not charged by the accept, failed by the sweep with the fallback", cus, id)
			l.access[cus] = []string{"pdt_course_live=active"}
			l.emails["offer."+id+".failed"] = true
		}
	}
	totalOfferCharges := 0
	for _, n := range offerCharges {
		totalOfferCharges += n
	}

	// 1. Every webhook answered 2xx, the test's and Dodo's, is stored
	// once, and nothing else.
	answered := map[string]bool{}
	for _, h := range l.hooks {
		if ld.ok[h.id] == 0 {
			t.Errorf("webhook %s never answered 2xx", h.id)
		}
		answered[h.id] = true
	}
	dodoHooks, dodoDeliveries := 0, 0
	for _, sw := range dd.srv.Sent() {
		dodoDeliveries++
		if sw.Status/100 == 2 && !answered[sw.ID] {
			answered[sw.ID] = true
			dodoHooks++
		}
	}
	stored := storedIDs(t, js)
	for id := range answered {
		if stored[id] != 1 {
			t.Errorf("webhook %s stored %d times, want once", id, stored[id])
		}
	}
	if len(stored) != len(answered) {
		t.Errorf("%d webhook ids stored, %d answered 2xx: want the same", len(stored), len(answered))
	}
	for code, n := range ld.codes {
		if code/100 == 4 {
			t.Errorf("%d answers %d: never a 4xx for a fault of ours", n, code)
		}
	}

	// 2. Access equals the model. Bucket reads may come from a follower a
	// moment behind, so they are asked again for a while.
	store, err := natsbus.NewAccessStore(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	var wrong []string
	waitUntil(30*time.Second, func() bool {
		wrong = wrong[:0]
		for _, cus := range l.customers {
			doc, _, err := store.Get(context.Background(), cus)
			if err != nil {
				wrong = append(wrong, cus+": "+err.Error())
				continue
			}
			if got, want := accessOf(doc.View(nil)), l.access[cus]; !slices.Equal(got, want) {
				wrong = append(wrong, fmt.Sprintf("%s: %v, model %v", cus, got, want))
			}
		}
		return len(wrong) == 0
	})
	for _, w := range wrong[:min(len(wrong), 10)] {
		t.Errorf("access of %s", w)
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d customers' access differs from the model", len(wrong), len(l.customers))
	}

	// 3. Confirmations: every business change whose confirmation does
	// not depend on the order is emailed; none is emailed under two
	// Message-IDs; and each is published once.
	byID, messageIDs, rawEmails := in.counts()
	for id := range l.emails {
		if byID[id] == 0 {
			t.Errorf("confirmation %s never emailed", id)
		}
	}
	if messageIDs != len(byID) {
		t.Errorf("%d confirmations emailed under %d Message-IDs, want one each", len(byID), messageIDs)
	}
	twice := 0
	for _, n := range byID {
		twice += n - 1
	}
	published := countSubjects(t, js, natsbus.OutStream, "offerflow.confirmations.sent.>")
	if published != len(byID) {
		t.Errorf("%d confirmations published, %d emailed: want one message per email", published, len(byID))
	}
	if dl := countSubjects(t, js, natsbus.OutStream, natsbus.DeadLetterPrefix+">"); dl != 0 {
		t.Errorf("%d dead letters, want none", dl)
	}

	// 4. No consumer is stuck, every worker is ready, and every replica,
	// each restarted one too, took work.
	ci, err := js.Consumer(context.Background(), natsbus.EventsStream, natsbus.WorkerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ci.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("consumer: %d pending, %d unacknowledged after the drain, want none", info.NumPending, info.NumAckPending)
	}
	stopScrape()
	perReplica := map[string]int64{}
	var lines []string
	for _, w := range ws.all() {
		perReplica[w.replica] += w.handled.Load()
		lines = append(lines, fmt.Sprintf("%s: handled %d, pull errors %d", w.name(), w.handled.Load(), w.pullErrors.Load()))
	}
	for _, w := range ws.current() {
		if !w.ready() {
			t.Errorf("%s is not ready after the drain", w.name())
		}
		if w.handled.Load() == 0 {
			t.Errorf("%s took no work", w.name())
		}
	}
	for _, r := range []string{workerA, workerB} {
		if perReplica[r] == 0 {
			t.Errorf("replica %s took no work", r)
		}
	}

	// The figures.
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nwebhooks: %d distinct, %d deliveries (%d duplicates), %d posts with retries\n",
		len(l.hooks), len(l.deliveries), len(l.deliveries)-len(l.hooks), ld.posts.Load())
	fmt.Fprintf(&sb, "answers: %s; longest time without a 2xx: %s\n", codesString(ld.codes), ld.maxGap().Round(time.Millisecond))
	fmt.Fprintf(&sb, "Dodo's own webhooks (purchases and offer charges): %d, in %d delivery attempts\n", dodoHooks, dodoDeliveries)
	fmt.Fprintf(&sb, "stored: %d (each webhook answered 2xx once)\n", len(stored))
	fmt.Fprintf(&sb, "faults injected: %d\n", len(results))
	for _, r := range results {
		fmt.Fprintf(&sb, "  at %s: %s\n", r.at.Round(time.Second), r)
	}
	fmt.Fprintf(&sb, "charges at Dodo: %d customers bought the course once each, %d offers accepted (accept answers: %s), %d one-click charges, %d offers failed uncharged by the sweep\n",
		len(shoppers), len(sh.accepted), codesString(sh.answers), totalOfferCharges, failedOffers)
	fmt.Fprintf(&sb, "effects: access of %d customers as the model; %d confirmations emailed (%d whatever the order, all there), %d emails received (%d repeats under the same Message-ID), %d published\n",
		len(l.customers), len(byID), len(l.emails), rawEmails, twice, published)
	fmt.Fprintf(&sb, "workers: %s\n", strings.Join(lines, "; "))
	fmt.Fprintf(&sb, "load %s, drained %s after it\n", loadTook.Round(time.Millisecond), drained.Round(time.Millisecond))
	t.Log(sb.String())
}

// faultResult is what one fault did and how long the system took to get
// over it.
type faultResult struct {
	at       time.Duration
	what     string
	recover  time.Duration // a new leader elected, or the new worker ready
	rejoined time.Duration // the node caught up, or the new worker took work
}

func (r faultResult) String() string {
	return fmt.Sprintf("%s; recovered in %s, back in full in %s", r.what, r.recover.Round(time.Millisecond), r.rejoined.Round(time.Millisecond))
}

// killLeader kills the node leading stream with SIGKILL, waits for another
// leader, starts the node again and waits until it has caught up.
func killLeader(t *testing.T, cl *natsCluster, js jetstream.JetStream, stream string) faultResult {
	t.Helper()
	var name string
	natstest.WaitFor(t, time.Minute, stream+" to have a leader", func() bool {
		name = leader(js, stream)
		return name != ""
	})
	i := cl.index(name)
	start := time.Now()
	cl.kill(i)
	natstest.WaitFor(t, time.Minute, stream+" to elect a new leader", func() bool {
		l := leader(js, stream)
		return l != "" && l != name
	})
	elected := time.Since(start)
	cl.restart(i)
	natstest.WaitFor(t, 2*time.Minute, name+" to catch up on "+stream, func() bool { return current(js, stream) })
	return faultResult{what: fmt.Sprintf("kill -9 %s, leader of %s", name, stream), recover: elected, rejoined: time.Since(start)}
}

// loader posts the deliveries at a steady rate from many senders, as Dodo
// would: a delivery that gets no 2xx is sent again after a short wait,
// until it gets one.
type loader struct {
	url    string
	secret webhook.Secret
	http   *http.Client

	taken  atomic.Int64 // deliveries handed to a sender
	posts  atomic.Int64
	failed atomic.Int64

	mu     sync.Mutex
	codes  map[int]int
	ok     map[string]int
	lastOK time.Time
	gap    time.Duration
}

func (ld *loader) run(ctx context.Context, deliveries []delivery, rate, senders int) {
	ch := make(chan delivery)
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range ch {
				ld.deliver(ctx, d)
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
feed:
	for _, d := range deliveries {
		select {
		case <-ctx.Done():
			break feed
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			break feed
		case ch <- d:
			ld.taken.Add(1)
		}
	}
	close(ch)
	wg.Wait()
}

func (ld *loader) deliver(ctx context.Context, d delivery) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		code := ld.post(ctx, d)
		if code/100 == 2 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	ld.failed.Add(1)
}

func (ld *loader) post(ctx context.Context, d delivery) int {
	ld.posts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ld.url+"/webhooks/dodo", bytes.NewReader(d.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	testenv.SignWebhook(req.Header, ld.secret, d.id, time.Now(), d.body)
	resp, err := ld.http.Do(req)
	code := 0 // no answer
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
	}
	now := time.Now()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.codes[code]++
	if code/100 == 2 {
		ld.ok[d.id]++
		if !ld.lastOK.IsZero() {
			ld.gap = max(ld.gap, now.Sub(ld.lastOK))
		}
		ld.lastOK = now
	}
	return code
}

func (ld *loader) maxGap() time.Duration {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.gap
}

func codesString(codes map[int]int) string {
	var keys []int
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s x%d", name, codes[k]))
	}
	return strings.Join(parts, ", ")
}

// storedIDs counts the stored messages of DODO_EVENTS by webhook-id. A
// read that fails (a node just restarted: "no responders" for the reading
// consumer) is started again, for up to two minutes.
func storedIDs(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	var out map[string]int
	var err error
	if !waitUntil(2*time.Minute, func() bool {
		out, err = readStoredIDs(js)
		return err == nil
	}) {
		t.Fatalf("read %s: %v", natsbus.EventsStream, err)
	}
	return out
}

func readStoredIDs(js jetstream.JetStream) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		return nil, err
	}
	total := st.CachedInfo().State.Msgs
	oc, err := js.OrderedConsumer(ctx, natsbus.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for got := uint64(0); got < total; {
		batch, err := oc.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		for m := range batch.Messages() {
			out[m.Headers().Get(events.HeaderWebhookID)]++
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// countSubjects counts the messages of stream under filter.
func countSubjects(t *testing.T, js jetstream.JetStream, stream, filter string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	return hex.EncodeToString(randomBytes(t, n))
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// workers runs the worker replicas; a killed one is started again under
// the same replica name, as an orchestrator would.
type workers struct {
	t      *testing.T
	bin    string
	logDir string
	env    []string

	mu    sync.Mutex
	procs []*workerProc
}

// workerProc is one process of a replica.
type workerProc struct {
	replica     string
	incarnation int
	proc        *proc
	addr        string

	handled    atomic.Int64 // offerflow_worker_handled_seconds_count, all outcomes, last scraped
	pullErrors atomic.Int64 // offerflow_consumer_pull_errors_total, last scraped
}

func (w *workerProc) name() string { return fmt.Sprintf("%s#%d", w.replica, w.incarnation) }

func (w *workerProc) ready() bool {
	resp, err := http.Get("http://" + w.addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metrics reads the worker's counters from its /metrics.
func (w *workerProc) metrics() {
	resp, err := http.Get("http://" + w.addr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var handled, pullErrors float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "offerflow_worker_handled_seconds_count"):
			handled += v
		case strings.HasPrefix(name, "offerflow_consumer_pull_errors_total"):
			pullErrors += v
		}
	}
	if sc.Err() == nil {
		w.handled.Store(int64(handled))
		w.pullErrors.Store(int64(pullErrors))
	}
}

func (ws *workers) start(replica string) *workerProc {
	ws.t.Helper()
	ws.mu.Lock()
	n := 1
	for _, w := range ws.procs {
		if w.replica == replica {
			n++
		}
	}
	ws.mu.Unlock()
	w := &workerProc{replica: replica, incarnation: n}
	p, err := startProc(ws.t, w.name(), ws.logDir, ws.bin, ws.env)
	if err != nil {
		ws.t.Fatal(err)
	}
	w.proc = p
	w.addr = waitProcAddr(ws.t, p, 2*time.Minute)
	ws.mu.Lock()
	ws.procs = append(ws.procs, w)
	ws.mu.Unlock()
	return w
}

func (ws *workers) all() []*workerProc {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return slices.Clone(ws.procs)
}

// current returns the live process of each replica.
func (ws *workers) current() []*workerProc {
	var out []*workerProc
	for _, w := range ws.all() {
		if !w.proc.exited() {
			out = append(out, w)
		}
	}
	return out
}

// scrape reads every live worker's counters every 250 ms until stop is
// called; stop reads them a last time and waits for the goroutine.
func (ws *workers) scrape() (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, w := range ws.current() {
				w.metrics()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-ended
		})
	}
}

// kill kills the replica's process with SIGKILL and starts another, as an
// orchestrator would. Recovered: the new one is ready; back in full: it
// took work (or the load ended first).
func (ws *workers) kill(replica string, loadDone <-chan struct{}) faultResult {
	ws.t.Helper()
	var old *workerProc
	for _, w := range ws.current() {
		if w.replica == replica {
			old = w
		}
	}
	if old == nil {
		ws.t.Fatalf("no live process of %s", replica)
	}
	start := time.Now()
	old.metrics()
	old.proc.kill()
	w := ws.start(replica)
	if !waitUntil(2*time.Minute, w.ready) {
		ws.t.Fatalf("%s not ready within 2 minutes of its start", w.name())
	}
	ready := time.Since(start)
	worked := false
	waitUntil(2*time.Minute, func() bool {
		select {
		case <-loadDone:
			return true
		default:
		}
		w.metrics()
		worked = w.handled.Load() > 0
		return worked
	})
	what := fmt.Sprintf("kill -9 %s (had handled %d), %s started", old.name(), old.handled.Load(), w.name())
	if !worked {
		what += " (the load ended before it took work)"
	}
	return faultResult{what: what, recover: ready, rejoined: time.Since(start)}
}
