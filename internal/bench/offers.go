package bench

// `offerflow bench offers`: the offer path end to end, in the deployed
// shape. nats-server, Dodo's stand-in, the ingest and the worker each run
// in a process of their own (`offerflow bench serve <part>`); the worker
// has a rule that offers an add-on after every purchase. This process
// posts signed payment.succeeded webhooks and follows, as a downstream
// service would, offerflow.access.granted.> and offerflow.offers.created.>;
// it reads the Dodo calls each phase cost from the stand-in
// (GET /_standin/calls) and the CPU time of every process from /proc.
//
// Two modes. The default measures throughput: offers made per second
// through one worker, Dodo calls per offer without and with the product
// cache, latency from the webhook's POST to its offer, and the accept path
// (accepts per second with the offers' tokens, Dodo calls per accept).
// Against the stand-in the rate limit would be the only bound, so the
// bench lifts it (DODO_RATE_LIMIT high) and says so. -burst instead keeps
// Dodo's real limit (240 a minute, 40 at once) and sends a burst of
// payments: access must not wait for offers, and every offer must be made
// once, late.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/service"
)

// OffersConfig is what `offerflow bench offers` measures; its flags, named
// after each field, set it.
type OffersConfig struct {
	// N is the payments sent per phase (-n).
	N int
	// Rate is the webhooks per second sent (-rate).
	Rate int
	// MaxInFlight bounds the webhooks awaiting an answer (-max-in-flight).
	MaxInFlight int
	// Accepts is how many offers are accepted in the accept phase, and
	// AcceptSenders how many at once (-accepts, -accept-c). 0: no accept
	// phase.
	Accepts, AcceptSenders int
	// Burst selects the burst mode (-burst): one phase of N payments
	// with the worker at DodoRateLimit, reporting how access and offers
	// progress.
	Burst bool
	// DodoRateLimit and DodoRateBurst are the worker's DODO_RATE_LIMIT (a
	// minute) and DODO_RATE_BURST (-dodo-rate-limit, -dodo-rate-burst).
	DodoRateLimit, DodoRateBurst int
	// Settle bounds the wait for the last offers after a phase's expected
	// end (-settle).
	Settle    time.Duration
	BodyBytes int // (-body-bytes)
	// CPUProfile, if set, has the worker write its CPU profile to
	// CPUProfile+".worker" (-cpuprofile).
	CPUProfile string
	Spawn      Spawn
	// Command and Settings are printed at the top of the report.
	Command, Settings string
}

func (c OffersConfig) validate() error {
	switch {
	case c.N < 1 || c.Rate < 1 || c.MaxInFlight < 1:
		return errors.New("-n, -rate and -max-in-flight must be at least 1")
	case c.Accepts < 0 || (c.Accepts > 0 && c.AcceptSenders < 1):
		return errors.New("-accepts must be >= 0 and -accept-c at least 1")
	case c.DodoRateLimit < 0 || c.DodoRateBurst < 1:
		return errors.New("-dodo-rate-limit must be >= 0 and -dodo-rate-burst at least 1")
	case c.Settle <= 0:
		return errors.New("-settle must be > 0")
	case c.Spawn == nil:
		return errors.New("bench offers needs a way to start its processes (Spawn)")
	}
	return nil
}

// benchRules offer the add-on after every purchase of the course.
const benchRules = `products:
  - {id: ` + benchCourse + `, name: Course, tier: 0, features: [course]}
  - {id: ` + benchAddon + `, name: Workbook, tier: 0, features: [workbook]}
rules:
  - id: workbook-after-course
    trigger: {event: payment.succeeded}
    when: '"` + benchCourse + `" in payment.product_ids'
    offer: {kind: cross_sell, product: ` + benchAddon + `, valid_for: 24h}
`

// Offers runs the offer path bench and writes the report to out. It fails
// if the settings are invalid, the bench cannot run, or once the report is
// written, if a webhook failed, an effect never came or an offer was made
// twice. It never fails on timing.
func Offers(ctx context.Context, cfg OffersConfig, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	b := &ingestBench{cfg: IngestConfig{Senders: cfg.MaxInFlight, BodyBytes: cfg.BodyBytes, Spawn: cfg.Spawn, Command: cfg.Command, Settings: cfg.Settings, N: 1},
		out: report{out}, started: time.Now()}
	if err := b.prepare(); err != nil {
		return err
	}
	defer b.closeIdle()
	ob := &offersBench{e2eBench: &e2eBench{ingestBench: b, cfg: E2EConfig{MaxInFlight: cfg.MaxInFlight, Settle: cfg.Settle}}, cfg: cfg}
	return ob.run(ctx)
}

type offersBench struct {
	*e2eBench
	cfg OffersConfig
}

// offersRig is the processes of the bench.
type offersRig struct {
	dir     string
	nats    *child
	standin *child
	ingest  *child
	worker  *child
	adm     *natsbus.Conn
	stream  *natsbus.Stream
	// workerEnv is the worker's environment but for its cache setting.
	workerEnv   []string
	metricsAddr string
	apiKey      string
}

func (r *offersRig) close() error {
	var err error
	for _, c := range []*child{r.worker, r.ingest, r.standin} {
		if c != nil {
			err = errors.Join(err, c.stop())
		}
	}
	if r.adm != nil {
		r.adm.Close()
	}
	if r.nats != nil {
		err = errors.Join(err, r.nats.stop())
	}
	_ = os.RemoveAll(r.dir) // a leftover temp dir is harmless
	return err
}

// ingestBase is the ingest's base URL.
func (r *offersRig) ingestBase() string { return strings.TrimSuffix(r.ingest.url, "/webhooks/dodo") }

func (o *offersBench) startRig(ctx context.Context, customers int, dodoLimit, dodoBurst int) (r *offersRig, err error) {
	dir, err := os.MkdirTemp("", "offerflow-bench-offers-*")
	if err != nil {
		return nil, err
	}
	r = &offersRig{dir: dir, apiKey: "sk_bench_" + base64.RawURLEncoding.EncodeToString(randomBytes(12))}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close())
		}
	}()
	if r.nats, err = startChild(ctx, o.cfg.Spawn, partNATS, []string{envStoreDir + "=" + filepath.Join(dir, "nats")}); err != nil {
		return r, err
	}
	if r.adm, r.stream, err = o.setupStreams(ctx, r.nats.url); err != nil {
		return r, err
	}
	if r.standin, err = startChild(ctx, o.cfg.Spawn, partStandin, []string{envStandinKey + "=" + r.apiKey, envStandinCustomers + "=" + strconv.Itoa(customers)}); err != nil {
		return r, err
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(benchRules), 0o600); err != nil {
		return r, err
	}
	offerKey := "k1:" + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	common := []string{"NATS_URL=" + r.nats.url, "OFFERFLOW_RULES=" + rules, "DODO_API_KEY=" + r.apiKey,
		"DODO_API_BASE_URL=" + r.standin.url, "OFFERFLOW_OFFER_KEY=" + offerKey, "LOG_LEVEL=error"}
	// The ingest accepts offers; the stand-in has no budget to keep to.
	ingestEnv := append(slices.Clone(common), "DODO_WEBHOOK_SECRET="+o.secretText, "DODO_RATE_LIMIT=0")
	if r.ingest, err = startChild(ctx, o.cfg.Spawn, varOfferflow, ingestEnv); err != nil {
		return r, err
	}
	if r.metricsAddr, err = freeAddr(); err != nil {
		return r, err
	}
	r.workerEnv = append(slices.Clone(common), "WORKER_METRICS_ADDR="+r.metricsAddr,
		"DODO_RATE_LIMIT="+strconv.Itoa(dodoLimit), "DODO_RATE_BURST="+strconv.Itoa(dodoBurst))
	if o.cfg.CPUProfile != "" {
		r.workerEnv = append(r.workerEnv, envCPUProfile+"="+o.cfg.CPUProfile+".worker")
	}
	return r, nil
}

// startWorker (re)starts the worker with the product cache's TTL and waits
// for both of its consumers of the webhooks.
func (o *offersBench) startWorker(ctx context.Context, r *offersRig, cacheTTL string) error {
	if r.worker != nil {
		if err := r.worker.stop(); err != nil {
			return err
		}
		r.worker = nil
	}
	w, err := startChild(ctx, o.cfg.Spawn, partWorker, append(slices.Clone(r.workerEnv), "DODO_PRODUCT_CACHE_TTL="+cacheTTL))
	if err != nil {
		return err
	}
	r.worker = w
	deadline := time.Now().Add(time.Minute)
	for _, name := range []string{natsbus.WorkerConsumer, service.OffersConsumer} {
		for {
			if _, err := r.stream.ConsumerState(ctx, name); err == nil {
				break
			} else if time.Now().After(deadline) {
				return fmt.Errorf("the worker's consumer %s did not appear within a minute: %w: %s", name, err, w.stderr.String())
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// offersPhase is one phase's measurement.
type offersPhase struct {
	label            string
	n, sent, ok      int
	grants, offers   int
	duplicates       int // offers.created for an offer id or a webhook seen before
	grantLat, offLat []time.Duration
	start            time.Time
	lastGrant        time.Time
	lastOffer        time.Time
	behind           time.Duration
	calls            standin.Calls
	cpu              rigCPU
	timeline         []offersSample
	tokens           []offerToken
}

// offerToken is an offer made, with what accepting it needs.
type offerToken struct{ id, token string }

// offersSample is the progress at a moment of a phase.
type offersSample struct {
	at             time.Duration
	grants, offers int
}

// rigCPU is the CPU time of each process.
type rigCPU struct{ ingest, worker, nats, standin time.Duration }

func (c rigCPU) sub(d rigCPU) rigCPU {
	return rigCPU{c.ingest - d.ingest, c.worker - d.worker, c.nats - d.nats, c.standin - d.standin}
}

func (r *offersRig) cpus() (rigCPU, error) {
	var c rigCPU
	var errs [4]error
	c.ingest, errs[0] = r.ingest.cpu()
	c.worker, errs[1] = r.worker.cpu()
	c.nats, errs[2] = r.nats.cpu()
	c.standin, errs[3] = r.standin.cpu()
	return c, errors.Join(errs[:]...)
}

// offerRate is offers made per second: from the first send to the last
// offer.
func (p offersPhase) offerRate() float64 {
	if p.lastOffer.IsZero() || !p.lastOffer.After(p.start) {
		return 0
	}
	return float64(p.offers) / p.lastOffer.Sub(p.start).Seconds()
}

func (p offersPhase) callsPerOffer() float64 {
	if p.offers == 0 {
		return 0
	}
	return float64(p.calls.Total) / float64(p.offers)
}

func pctOf(lat []time.Duration, q float64) time.Duration { return loadResult{lat: lat}.pct(q) }

func (o *offersBench) run(ctx context.Context) (err error) {
	out := o.out
	mode := "throughput"
	if o.cfg.Burst {
		mode = "burst"
	}
	out.line("offerflow bench offers (deployed shape, %s mode)", mode)
	out.line("command:  %s", o.cfg.Command)
	out.line("settings: %s", o.cfg.Settings)
	out.line("machine:  %s; %s", machineLine(), otherCPULoad())
	out.line("shape:    nats-server, Dodo's stand-in, the ingest and the worker (as cmd/ingest and cmd/worker run them, offers on,")
	out.line("          one rule: an add-on after every purchase) are processes of their own; this one posts signed")
	out.line("          payment.succeeded webhooks, each a new customer with a saved card, and follows offerflow.access.granted.>")
	out.line("          and offerflow.offers.created.> as a downstream service would.")
	if o.cfg.DodoRateLimit == 0 {
		out.line("rate:     the worker's DODO_RATE_LIMIT is 0 (off): against the stand-in the limit would be the only bound.")
		out.line("          Against Dodo (240 a minute per account) one worker makes at most 240/(calls per offer) offers a minute.")
	} else {
		out.line("rate:     the worker's DODO_RATE_LIMIT=%d a minute, DODO_RATE_BURST=%d (Dodo's default tier: 240 and 40).", o.cfg.DodoRateLimit, o.cfg.DodoRateBurst)
	}
	out.line("latency:  from the start of the POST to the message reaching this process, per webhook.")
	out.line("")
	if o.cfg.Burst {
		return o.runBurst(ctx)
	}
	r, err := o.startRig(ctx, 2*o.cfg.N, o.cfg.DodoRateLimit, o.cfg.DodoRateBurst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	fol, err := r.adm.Follow(ctx, natsbus.OutStream, events.AccessPrefix+access.ChangeGranted+".>", events.OffersPrefix+"created.>")
	if err != nil {
		return err
	}
	defer fol.Close()
	var phases []offersPhase
	for k, v := range []struct{ label, ttl string }{
		{"no product cache (DODO_PRODUCT_CACHE_TTL=0)", "0s"},
		{"product cache (DODO_PRODUCT_CACHE_TTL=5m, the default)", offerengine.DefaultProductTTL.String()},
	} {
		if err := o.startWorker(ctx, r, v.ttl); err != nil {
			return err
		}
		p, err := o.phase(ctx, r, fol, v.label, k*o.cfg.N, o.cfg.N, o.cfg.Rate, o.cfg.Settle)
		if err != nil {
			return err
		}
		o.printPhase(p)
		phases = append(phases, p)
	}
	acc, err := o.acceptPhase(ctx, r, phases[len(phases)-1].tokens)
	if err != nil {
		return err
	}
	o.printThroughputSummary(phases, acc)
	o.out.line("")
	return o.conclude("offers", "every webhook answered 200, its access.granted and its one offer were seen, no offer twice: OK")
}

// phase sends n payments of customers base.. at rate and waits for their
// grants and offers, at most settle after the sending ended (and, in burst
// mode, after the time the rate limit needs).
func (o *offersBench) phase(ctx context.Context, r *offersRig, fol *natsbus.Follower, label string, base, n, rate int, settle time.Duration) (offersPhase, error) {
	p := offersPhase{label: label, n: n}
	at := time.Now().UTC().Add(-time.Second)
	bodies := make([][]byte, n)
	for i := range bodies {
		body := payload.PaymentSucceeded(at, benchCustomer(base+i), fmt.Sprintf("pay_ob_%07d", base+i), benchCourse, 2900)
		padded, err := padBody(body, o.cfg.BodyBytes)
		if err != nil {
			return p, err
		}
		bodies[i] = padded
	}
	reqs := o.sign(bodies)
	index := make(map[string]int, n)
	for i, q := range reqs {
		index[q.id] = i
	}
	calls0, err := o.standinCalls(ctx, r)
	if err != nil {
		return p, err
	}
	cpu0, err := r.cpus()
	if err != nil {
		return p, err
	}
	f := &offersFollow{index: index, grantAt: make([]time.Time, n), offerAt: make([]time.Time, n), seen: map[string]bool{}}
	sendingDone := make(chan time.Time, 1)
	followed := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(followed)
		o.follow(ctx, fol, f, sendingDone, settle)
	}()
	stopSampling := make(chan struct{})
	sampled := make(chan []offersSample, 1)
	go func() { sampled <- sampleProgress(f, start, stopSampling) }()
	sr := o.sendAtRate(ctx, r.ingest.url, reqs, rate)
	sendingDone <- time.Now()
	<-followed
	close(stopSampling)
	p.timeline = <-sampled
	if err := ctx.Err(); err != nil {
		return p, err
	}
	cpu1, err := r.cpus()
	if err != nil {
		return p, err
	}
	calls1, err := o.standinCalls(ctx, r)
	if err != nil {
		return p, err
	}
	p.cpu = cpu1.sub(cpu0)
	p.calls = calls1.Since(calls0)
	p.sent, p.ok, p.behind, p.start = sr.sent, sr.ok, sr.behind, sr.start
	f.mu.Lock()
	p.grants, p.offers, p.duplicates, p.tokens = f.grants, f.offers, f.duplicates, f.tokens
	for i := range n {
		if sr.sentAt[i].IsZero() {
			continue
		}
		if t := f.grantAt[i]; !t.IsZero() {
			p.grantLat = append(p.grantLat, t.Sub(sr.sentAt[i]))
			p.lastGrant = maxTime(p.lastGrant, t)
		}
		if t := f.offerAt[i]; !t.IsZero() {
			p.offLat = append(p.offLat, t.Sub(sr.sentAt[i]))
			p.lastOffer = maxTime(p.lastOffer, t)
		}
	}
	f.mu.Unlock()
	slices.Sort(p.grantLat)
	slices.Sort(p.offLat)
	if len(sr.failed) > 0 {
		o.problems = append(o.problems, fmt.Sprintf("%s: %d of %d webhooks failed: %s", label, p.sent-p.ok, p.sent, strings.Join(sr.failed, "; ")))
	}
	if p.grants != p.ok || p.offers != p.ok {
		o.problems = append(o.problems, fmt.Sprintf("%s: %d access grants and %d offers for %d webhooks answered 200", label, p.grants, p.offers, p.ok))
	}
	if p.duplicates > 0 {
		o.problems = append(o.problems, fmt.Sprintf("%s: %d offers.created messages repeated an offer or a webhook", label, p.duplicates))
	}
	return p, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// offersFollow is what the follower recorded.
type offersFollow struct {
	index            map[string]int // webhook-id -> request
	mu               sync.Mutex
	grantAt, offerAt []time.Time
	grants, offers   int
	duplicates       int
	seen             map[string]bool // offer ids
	tokens           []offerToken
	progress         atomic.Int64 // grants<<32 | offers, for the sampler
}

// follow records grants and offers of the phase's webhooks until all came,
// or settle after the sending ended.
func (o *offersBench) follow(ctx context.Context, fol *natsbus.Follower, f *offersFollow, sendingDone <-chan time.Time, settle time.Duration) {
	var settleBy <-chan time.Time
	n := len(f.grantAt)
	for {
		f.mu.Lock()
		done := f.grants == n && f.offers == n
		f.mu.Unlock()
		if done {
			return
		}
		select {
		case m := <-fol.C:
			f.record(m, time.Now())
		case t := <-sendingDone:
			settleBy = time.After(time.Until(t.Add(settle)))
		case <-settleBy:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (f *offersFollow) record(m natsbus.StoredMsg, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(m.Subject, events.AccessPrefix) {
		var c struct {
			WebhookID string `json:"webhook_id"`
		}
		if json.Unmarshal(m.Data, &c) != nil {
			return
		}
		if i, ok := f.index[c.WebhookID]; ok && f.grantAt[i].IsZero() {
			f.grantAt[i] = now
			f.grants++
		}
	} else {
		var c offerengine.Message
		if json.Unmarshal(m.Data, &c) != nil {
			return
		}
		i, ok := f.index[c.Trigger.WebhookID]
		if !ok {
			return
		}
		if f.seen[c.ID] || !f.offerAt[i].IsZero() {
			f.duplicates++
			return
		}
		f.seen[c.ID] = true
		f.offerAt[i] = now
		f.offers++
		f.tokens = append(f.tokens, offerToken{id: c.ID, token: c.AcceptToken})
	}
	f.progress.Store(int64(f.grants)<<32 | int64(f.offers))
}

// sampleProgress notes grants and offers every second until stop.
func sampleProgress(f *offersFollow, start time.Time, stop <-chan struct{}) []offersSample {
	var out []offersSample
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return out
		case now := <-t.C:
			v := f.progress.Load()
			out = append(out, offersSample{at: now.Sub(start), grants: int(v >> 32), offers: int(v & 0xffffffff)})
		}
	}
}

// standinCalls reads the stand-in's count of Dodo calls.
func (o *offersBench) standinCalls(ctx context.Context, r *offersRig) (standin.Calls, error) {
	var c standin.Calls
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.standin.url+"/_standin/calls", nil)
	if err != nil {
		return c, err
	}
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	resp, err := o.client.Do(req)
	if err != nil {
		return c, fmt.Errorf("read the stand-in's calls: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("read the stand-in's calls: HTTP %d", resp.StatusCode)
	}
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

func (o *offersBench) printPhase(p offersPhase) {
	out := o.out
	out.line("%s", p.label)
	out.line("  sent %d (answered 200: %d, sending behind by at most %s); access.granted %d, offers.created %d, repeated %d",
		p.sent, p.ok, p.behind.Round(time.Millisecond), p.grants, p.offers, p.duplicates)
	out.line("  offers/s %s (first send to last offer); Dodo calls %d = %.2f per offer: %s", thousands(p.offerRate()), p.calls.Total, p.callsPerOffer(), routes(p.calls))
	out.line("  webhook -> offers.created  p50 %s  p95 %s  p99 %s", ms(pctOf(p.offLat, 50)), ms(pctOf(p.offLat, 95)), ms(pctOf(p.offLat, 99)))
	out.line("  webhook -> access.granted  p50 %s  p95 %s  p99 %s", ms(pctOf(p.grantLat, 50)), ms(pctOf(p.grantLat, 95)), ms(pctOf(p.grantLat, 99)))
	out.line("  CPU per offer: worker %s, nats-server %s, stand-in %s, ingest %s", perEvent(p.cpu.worker, p.offers), perEvent(p.cpu.nats, p.offers),
		perEvent(p.cpu.standin, p.offers), perEvent(p.cpu.ingest, p.offers))
	out.line("")
}

// routes lists the calls by route, most first.
func routes(c standin.Calls) string {
	type rc struct {
		route string
		n     int64
	}
	var l []rc
	for r, n := range c.ByRoute {
		l = append(l, rc{r, n})
	}
	slices.SortFunc(l, func(a, b rc) int { return int(b.n - a.n) })
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s %d", x.route, x.n))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// acceptResult is the accept phase's measurement.
type acceptResult struct {
	n        int
	elapsed  time.Duration
	lat      []time.Duration
	outcomes map[string]int
	calls    standin.Calls
	cpu      rigCPU
}

// acceptPhase accepts offers with their tokens, AcceptSenders at once.
func (o *offersBench) acceptPhase(ctx context.Context, r *offersRig, tokens []offerToken) (acceptResult, error) {
	res := acceptResult{outcomes: map[string]int{}}
	if o.cfg.Accepts == 0 || len(tokens) == 0 {
		return res, nil
	}
	tokens = tokens[:min(len(tokens), o.cfg.Accepts)]
	res.n = len(tokens)
	calls0, err := o.standinCalls(ctx, r)
	if err != nil {
		return res, err
	}
	cpu0, err := r.cpus()
	if err != nil {
		return res, err
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	start := time.Now()
	for range o.cfg.AcceptSenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tokens) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				outcome, err := o.accept(ctx, r.ingestBase(), tokens[i])
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					outcome = "error"
					if res.outcomes["error"] < maxErrSamples {
						o.problems = append(o.problems, fmt.Sprintf("accept %s: %v", tokens[i].id, err))
					}
				}
				res.outcomes[outcome]++
				res.lat = append(res.lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	cpu1, err := r.cpus()
	if err != nil {
		return res, err
	}
	calls1, err := o.standinCalls(ctx, r)
	if err != nil {
		return res, err
	}
	res.cpu = cpu1.sub(cpu0)
	res.calls = calls1.Since(calls0)
	if res.outcomes["charged"] != res.n {
		o.problems = append(o.problems, fmt.Sprintf("accepts: outcomes %v, want %d charged", res.outcomes, res.n))
	}
	return res, nil
}

// accept accepts one offer with its token and returns the outcome.
func (o *offersBench) accept(ctx context.Context, base string, t offerToken) (string, error) {
	body, _ := json.Marshal(map[string]string{"token": t.token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/offers/"+t.id+"/accept", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var a struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return "", err
	}
	return a.Outcome, nil
}

func (o *offersBench) printThroughputSummary(phases []offersPhase, acc acceptResult) {
	out := o.out
	if acc.n > 0 {
		rate := float64(acc.n) / acc.elapsed.Seconds()
		out.line("accept path: %d offers accepted with their tokens, %d at once: %s accepts/s, p50 %s, p99 %s; outcomes %v",
			acc.n, o.cfg.AcceptSenders, thousands(rate), ms(pctOf(acc.lat, 50)), ms(pctOf(acc.lat, 99)), acc.outcomes)
		out.line("  Dodo calls %d = %.2f per accept: %s", acc.calls.Total, float64(acc.calls.Total)/float64(acc.n), routes(acc.calls))
		out.line("  CPU per accept: ingest %s, nats-server %s, stand-in %s", perEvent(acc.cpu.ingest, acc.n), perEvent(acc.cpu.nats, acc.n), perEvent(acc.cpu.standin, acc.n))
		out.line("")
	}
	before, after := phases[0], phases[len(phases)-1]
	out.line("docs/benchmarks.md (%d payments per phase at %d webhooks/s, %d CPUs, shared machine: see the machine line):", o.cfg.N, o.cfg.Rate, runtime.NumCPU())
	out.line("| phase | offers/s | Dodo calls per offer | p50 | p95 | p99 (webhook -> offers.created) | CPU per offer (worker + nats-server + stand-in) |")
	out.line("|---|---|---|---|---|---|---|")
	for _, p := range []offersPhase{before, after} {
		out.line("| %s | %s | %.2f (%s) | %s | %s | %s | %s |", p.label, thousands(p.offerRate()), p.callsPerOffer(), routes(p.calls),
			ms(pctOf(p.offLat, 50)), ms(pctOf(p.offLat, 95)), ms(pctOf(p.offLat, 99)), perEvent(p.cpu.worker+p.cpu.nats+p.cpu.standin, p.offers))
	}
	if acc.n > 0 {
		out.line("| accept with the offer's token (%d at once) | %s accepts/s | %.2f per accept (%s) | %s | %s | %s | %s per accept (ingest + nats-server + stand-in) |",
			o.cfg.AcceptSenders, thousands(float64(acc.n)/acc.elapsed.Seconds()), float64(acc.calls.Total)/float64(acc.n), routes(acc.calls),
			ms(pctOf(acc.lat, 50)), ms(pctOf(acc.lat, 95)), ms(pctOf(acc.lat, 99)), perEvent(acc.cpu.ingest+acc.cpu.nats+acc.cpu.standin, acc.n))
	}
	if before.callsPerOffer() > 0 {
		out.line("Dodo calls per offer: %.2f without the product cache, %.2f with it (%s).", before.callsPerOffer(), after.callsPerOffer(),
			ratio(after.callsPerOffer(), before.callsPerOffer()))
	}
}

// runBurst sends N payments at once with the worker at the rate limit,
// and reports how grants and offers progress.
func (o *offersBench) runBurst(ctx context.Context) (err error) {
	r, err := o.startRig(ctx, o.cfg.N, o.cfg.DodoRateLimit, o.cfg.DodoRateBurst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	fol, err := r.adm.Follow(ctx, natsbus.OutStream, events.AccessPrefix+access.ChangeGranted+".>", events.OffersPrefix+"created.>")
	if err != nil {
		return err
	}
	defer fol.Close()
	if err := o.startWorker(ctx, r, offerengine.DefaultProductTTL.String()); err != nil {
		return err
	}
	// At most two Dodo calls an offer (one after a payment, when no rule
	// reads the customer's other currencies), at the limit, less the
	// burst: the wait allows for that and then -settle.
	need := time.Duration(0)
	if o.cfg.DodoRateLimit > 0 {
		calls := max(0, 2*o.cfg.N-o.cfg.DodoRateBurst)
		need = time.Duration(float64(calls) / (float64(o.cfg.DodoRateLimit) / 60) * float64(time.Second))
	}
	o.out.line("burst:    %d payment.succeeded webhooks at %d/s, each granting access and triggering one offer; at up to 2 Dodo calls",
		o.cfg.N, o.cfg.Rate)
	o.out.line("          an offer the offers need at most about %s at the limit; the bench waits up to that plus %s.", need.Round(time.Second), o.cfg.Settle)
	o.out.line("")
	p, err := o.phase(ctx, r, fol, "burst", 0, o.cfg.N, o.cfg.Rate, need+o.cfg.Settle)
	if err != nil {
		return err
	}
	wait, err := scrapeLimiterWait(ctx, o.client, "http://"+r.metricsAddr+"/metrics")
	if err != nil {
		o.problems = append(o.problems, "read the worker's metrics: "+err.Error())
	}
	o.printBurst(p, wait)
	o.out.line("")
	return o.conclude("offers", "every webhook answered 200, its access.granted and its one offer were seen, no offer twice: OK")
}

func (o *offersBench) printBurst(p offersPhase, wait limiterWait) {
	out := o.out
	out.line("progress (seconds since the first send: access.granted, offers.created so far):")
	step := max(1, len(p.timeline)/24)
	for i, s := range p.timeline {
		if i%step == 0 || i == len(p.timeline)-1 {
			out.line("  %6.0f s  %7d granted  %7d offers", s.at.Seconds(), s.grants, s.offers)
		}
	}
	out.line("")
	allGrants, allOffers := p.lastGrant.Sub(p.start), p.lastOffer.Sub(p.start)
	out.line("sent %d (answered 200: %d, sending behind by at most %s)", p.sent, p.ok, p.behind.Round(time.Millisecond))
	out.line("access.granted: %d of %d, all within %s of the first send; webhook -> grant p50 %s, p99 %s",
		p.grants, p.ok, allGrants.Round(time.Millisecond), ms(pctOf(p.grantLat, 50)), ms(pctOf(p.grantLat, 99)))
	out.line("offers.created: %d of %d (distinct offers %d, repeated %d, missing %d), all within %s; %s offers/s; webhook -> offer p50 %s, p99 %s",
		p.offers, p.ok, len(p.tokens), p.duplicates, p.ok-p.offers, allOffers.Round(time.Second), thousands(p.offerRate()),
		ms(pctOf(p.offLat, 50)), ms(pctOf(p.offLat, 99)))
	out.line("Dodo calls %d = %.2f per offer: %s", p.calls.Total, p.callsPerOffer(), routes(p.calls))
	out.line("offerflow_dodo_rate_limit_wait_seconds (the worker): %s", wait)
	out.line("CPU per payment: worker %s, nats-server %s, ingest %s", perEvent(p.cpu.worker, p.ok), perEvent(p.cpu.nats, p.ok), perEvent(p.cpu.ingest, p.ok))
	out.line("")
	out.line("docs/benchmarks.md:")
	out.line("| payments | DODO_RATE_LIMIT / burst | all access.granted after | grant p99 | all offers.created after | offers made (distinct, repeated) | Dodo calls per offer | limiter wait (count, mean, p99 bucket) |")
	out.line("|---|---|---|---|---|---|---|---|")
	out.line("| %s | %d a minute / %d | %s | %s | %s | %d (%d, %d) | %.2f | %s |", thousands(float64(p.n)), o.cfg.DodoRateLimit, o.cfg.DodoRateBurst,
		allGrants.Round(time.Millisecond), ms(pctOf(p.grantLat, 99)), allOffers.Round(time.Second), p.offers, len(p.tokens), p.duplicates, p.callsPerOffer(), wait)
}

// limiterWait sums the worker's offerflow_dodo_rate_limit_wait_seconds
// over its operations.
type limiterWait struct {
	count, sum float64
	buckets    map[float64]float64 // upper bound -> cumulative count
}

func (w limiterWait) String() string {
	if w.count == 0 {
		return "no requests"
	}
	return fmt.Sprintf("%.0f requests, mean %.2f s, p50 <= %s, p99 <= %s", w.count, w.sum/w.count, w.quantile(0.5), w.quantile(0.99))
}

// quantile is the upper bound of the bucket that holds quantile q.
func (w limiterWait) quantile(q float64) string {
	bounds := make([]float64, 0, len(w.buckets))
	for b := range w.buckets {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	for _, b := range bounds {
		if w.buckets[b] >= q*w.count {
			return strconv.FormatFloat(b, 'g', -1, 64) + " s"
		}
	}
	return "+Inf"
}

// scrapeLimiterWait reads the histogram from a /metrics page.
func scrapeLimiterWait(ctx context.Context, c *http.Client, url string) (limiterWait, error) {
	var w limiterWait
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return w, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return w, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return w, err
	}
	return parseLimiterWait(string(body)), nil
}

// parseLimiterWait sums offerflow_dodo_rate_limit_wait_seconds over its
// operations from a Prometheus text page; lines it cannot read are
// skipped.
func parseLimiterWait(page string) limiterWait {
	w := limiterWait{buckets: map[float64]float64{}}
	const name = "offerflow_dodo_rate_limit_wait_seconds"
	for _, l := range strings.Split(page, "\n") {
		if !strings.HasPrefix(l, name) {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(l, name+"_sum"):
			w.sum += v
		case strings.HasPrefix(l, name+"_count"):
			w.count += v
		case strings.HasPrefix(l, name+"_bucket"):
			_, le, ok := strings.Cut(l, `le="`)
			if !ok {
				continue
			}
			le, _, _ = strings.Cut(le, `"`)
			if b, err := strconv.ParseFloat(le, 64); err == nil {
				w.buckets[b] += v
			}
		}
	}
	return w
}
