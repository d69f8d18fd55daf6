package bench

// `offerflow bench e2e`: from a webhook's POST to its effect as a
// downstream service sees it (the access.granted message on
// offerflow.access.granted.>), in the deployed shape: nats-server, the
// ingest and the worker each in a process of its own (`offerflow bench
// serve <part>`), this process sending webhooks at a fixed rate (an open
// loop: a send is never held back by a slow answer, so queueing shows in
// the latency instead of lowering the rate) and following the output
// stream like a downstream consumer.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/service"
)

// partWorker is the worker as cmd/worker runs it.
const partWorker = "worker"

// E2EConfig is what `offerflow bench e2e` measures; its flags, named after
// each field, set it.
type E2EConfig struct {
	// Rates are the webhooks per second sent, one phase each (-rates).
	Rates []int
	// Duration of each phase's sending (-duration).
	Duration time.Duration
	// MaxInFlight bounds the requests awaiting an answer; a send due while
	// it is reached waits, and the phase reports it fell behind
	// (-max-in-flight).
	MaxInFlight int
	// Rounds runs every rate this many times (-rounds).
	Rounds int
	// Settle bounds the wait for the last effects after the sending ends
	// (-settle).
	Settle    time.Duration
	BodyBytes int // (-body-bytes)
	Spawn     Spawn
	// Command and Settings are printed at the top of the report.
	Command, Settings string
}

func (c E2EConfig) validate() error {
	if len(c.Rates) == 0 || slices.ContainsFunc(c.Rates, func(r int) bool { return r < 1 }) {
		return errors.New("-rates must list rates of at least 1 webhook/s")
	}
	if c.Duration <= 0 || c.MaxInFlight < 1 || c.Rounds < 1 || c.Settle <= 0 {
		return errors.New("-duration, -max-in-flight, -rounds and -settle must be > 0")
	}
	if c.Spawn == nil {
		return errors.New("bench e2e needs a way to start its processes (Spawn)")
	}
	return nil
}

// serveWorker runs the worker as cmd/worker does, with its settings from
// the environment; it is ready once RunWorker has started (the bench waits
// for its consumer itself).
func serveWorker(ctx context.Context, getenv func(string) string, ready func(string)) error {
	var cfg service.WorkerConfig
	log, err := settingsFromEnv("worker", &cfg, getenv, func() string { return cfg.LogLevel })
	if err != nil {
		return err
	}
	ready(partWorker)
	return service.RunWorker(ctx, cfg, log, service.WorkerOptions{})
}

// E2E measures webhook-to-effect latency at each rate and writes the
// report to out. It fails if the settings are invalid, the bench cannot
// run, or once the report is written, if a request failed or an effect
// never came. It never fails on timing.
func E2E(ctx context.Context, cfg E2EConfig, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	b := &ingestBench{cfg: IngestConfig{Senders: cfg.MaxInFlight, BodyBytes: cfg.BodyBytes, Spawn: cfg.Spawn, Command: cfg.Command, Settings: cfg.Settings},
		out: report{out}, started: time.Now()}
	b.cfg.N = 1 // the bodies are made per phase: every webhook a new payment of a new customer
	if err := b.prepare(); err != nil {
		return err
	}
	defer b.closeIdle()
	e := &e2eBench{ingestBench: b, cfg: cfg}
	return e.run(ctx)
}

type e2eBench struct {
	*ingestBench
	cfg E2EConfig
}

// e2ePhase is one rate's measurement.
type e2ePhase struct {
	rate, round int
	sent, ok    int
	effects     int             // access.granted messages matched to a webhook of the phase
	lat         []time.Duration // POST sent to effect received, sorted
	behind      time.Duration   // the most a send started after its due time
	elapsed     time.Duration   // first send to last effect
	ingestCPU   time.Duration
	workerCPU   time.Duration
	natsCPU     time.Duration
}

func (p e2ePhase) pct(q float64) time.Duration {
	r := loadResult{lat: p.lat}
	return r.pct(q)
}

func (e *e2eBench) run(ctx context.Context) (err error) {
	o := e.out
	o.line("offerflow bench e2e (deployed shape)")
	o.line("command:  %s", e.cfg.Command)
	o.line("settings: %s", e.cfg.Settings)
	o.line("machine:  %s; %s", machineLine(), otherCPULoad())
	o.line("shape:    nats-server, the ingest and the worker (each as its cmd/ runs it, default settings, offers off) are")
	o.line("          processes of their own; this one sends signed payment.succeeded webhooks (%d bytes) at a fixed rate", len(e.bodies[0]))
	o.line("          (at most %d in flight) and follows offerflow.access.granted.> as a downstream service would.", e.cfg.MaxInFlight)
	o.line("latency:  from the start of the POST to the access.granted message reaching this process, per webhook.")
	o.line("")
	r, err := e.startRig(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	fol, err := r.adm.Follow(ctx, natsbus.OutStream, events.AccessPrefix+access.ChangeGranted+".>")
	if err != nil {
		return err
	}
	defer fol.Close()

	o.line("%-6s %7s %9s %9s %9s %9s %9s %10s %11s %11s %11s", "round", "rate/s", "sent", "effects", "p50", "p95", "p99", "behind", "ingest CPU", "worker CPU", "nats CPU")
	var phases []e2ePhase
	for round := 1; round <= e.cfg.Rounds; round++ {
		for _, rate := range e.cfg.Rates {
			p, err := e.phase(ctx, r, fol, rate, round)
			if err != nil {
				return err
			}
			phases = append(phases, p)
			o.line("%-6d %7d %9d %9d %9s %9s %9s %10s %11s %11s %11s", round, rate, p.sent, p.effects, ms(p.pct(50)), ms(p.pct(95)), ms(p.pct(99)),
				p.behind.Round(time.Millisecond), perEvent(p.ingestCPU, p.ok), perEvent(p.workerCPU, p.effects), perEvent(p.natsCPU, p.ok))
		}
	}
	e.printE2ESummary(phases)
	e.out.line("")
	return e.conclude("e2e", "every webhook answered 200 and its access.granted effect was seen: OK")
}

// e2eRig is nats-server, the ingest and the worker, each a process.
type e2eRig struct {
	*deployedRig
	worker *child
}

func (r *e2eRig) close() error {
	var err error
	if r.worker != nil {
		err = r.worker.stop()
	}
	return errors.Join(err, r.deployedRig.close())
}

func (e *e2eBench) startRig(ctx context.Context) (r *e2eRig, err error) {
	dr, err := e.startDeployed(ctx, false, []string{varOfferflow})
	if err != nil {
		return nil, err
	}
	r = &e2eRig{deployedRig: dr}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close())
		}
	}()
	env := []string{"NATS_URL=" + dr.nats.url, "WORKER_METRICS_ADDR=" + service.MetricsOff}
	if r.worker, err = startChild(ctx, e.cfg.Spawn, partWorker, env); err != nil {
		return r, err
	}
	// The worker is ready once its consumer exists.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := dr.stream.ConsumerState(ctx, natsbus.WorkerConsumer); err == nil {
			break
		} else if time.Now().After(deadline) {
			return r, fmt.Errorf("the worker's consumer did not appear within a minute: %w: %s", err, r.worker.stderr.String())
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return r, nil
}

// phase sends rate webhooks a second for the configured duration and waits
// for their effects.
func (e *e2eBench) phase(ctx context.Context, r *e2eRig, fol *natsbus.Follower, rate, round int) (e2ePhase, error) {
	n := max(1, int(float64(rate)*e.cfg.Duration.Seconds()))
	bodies, err := e2eBodies(fmt.Sprintf("r%dx%d", round, rate), n, e.cfg.BodyBytes)
	if err != nil {
		return e2ePhase{}, err
	}
	reqs := e.sign(bodies)
	index := make(map[string]int, n)
	for i, q := range reqs {
		index[q.id] = i
	}
	p := e2ePhase{rate: rate, round: round}
	cpu0, err := r.cpus()
	if err != nil {
		return p, err
	}
	recvAt := make([]time.Time, n)
	sendingDone := make(chan time.Time, 1)
	followed := make(chan int, 1)
	go func() { followed <- e.followEffects(ctx, fol, index, recvAt, sendingDone) }()
	sr := e.sendAtRate(ctx, r.servers[varOfferflow].url, reqs, rate)
	sendingDone <- time.Now()
	p.effects = <-followed
	if err := ctx.Err(); err != nil {
		return p, err
	}
	p.sent, p.ok, p.behind = sr.sent, sr.ok, sr.behind
	cpu1, err := r.cpus()
	if err != nil {
		return p, err
	}
	p.ingestCPU, p.workerCPU, p.natsCPU = cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], cpu1[2]-cpu0[2]
	var last time.Time
	for i := range n {
		if !recvAt[i].IsZero() && !sr.sentAt[i].IsZero() {
			p.lat = append(p.lat, recvAt[i].Sub(sr.sentAt[i]))
			if recvAt[i].After(last) {
				last = recvAt[i]
			}
		}
	}
	slices.Sort(p.lat)
	p.elapsed = last.Sub(sr.start)
	label := fmt.Sprintf("rate %d/s round %d", rate, round)
	if len(sr.failed) > 0 {
		e.problems = append(e.problems, fmt.Sprintf("%s: %d of %d requests failed: %s", label, p.sent-p.ok, p.sent, strings.Join(sr.failed, "; ")))
	}
	if p.effects != p.ok {
		e.problems = append(e.problems, fmt.Sprintf("%s: %d access.granted effects for %d webhooks answered 200 within %s of the last send", label, p.effects, p.ok, e.cfg.Settle))
	}
	return p, nil
}

// followEffects records when each webhook of index has its access.granted
// message (in recvAt, by index), until all have or the settle time after
// the sending ended (the time sendingDone gives) runs out, and returns how
// many came.
func (e *e2eBench) followEffects(ctx context.Context, fol *natsbus.Follower, index map[string]int, recvAt []time.Time, sendingDone <-chan time.Time) int {
	got := 0
	var settleBy <-chan time.Time
	for got < len(recvAt) {
		select {
		case m := <-fol.C:
			var c struct {
				WebhookID string `json:"webhook_id"`
			}
			if json.Unmarshal(m.Data, &c) != nil {
				continue
			}
			if i, ok := index[c.WebhookID]; ok && recvAt[i].IsZero() {
				recvAt[i] = time.Now()
				got++
			}
		case t := <-sendingDone:
			settleBy = time.After(time.Until(t.Add(e.cfg.Settle)))
		case <-settleBy:
			return got
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// sendResult is what sendAtRate did.
type sendResult struct {
	start    time.Time
	sentAt   []time.Time // per request; zero if never sent
	sent, ok int
	behind   time.Duration // the most a send started after its due time
	failed   []string      // the first few failures
}

// sendAtRate posts reqs to url at rate a second, each due at its own time
// whatever the answers before it (an open loop), with at most MaxInFlight
// awaiting their answer, and returns once every answer is in.
func (e *e2eBench) sendAtRate(ctx context.Context, url string, reqs []signedReq, rate int) sendResult {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		slots = make(chan struct{}, e.cfg.MaxInFlight)
		sr    = sendResult{start: time.Now(), sentAt: make([]time.Time, len(reqs))}
	)
	interval := time.Second / time.Duration(rate)
	for i := range reqs {
		due := sr.start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		sr.behind = max(sr.behind, time.Since(due))
		sr.sentAt[i] = time.Now()
		sr.sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := e.post(ctx, url, &reqs[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if len(sr.failed) < maxErrSamples {
					sr.failed = append(sr.failed, err.Error())
				}
				return
			}
			sr.ok++
		}()
	}
	wg.Wait()
	return sr
}

// cpus returns the CPU time so far of the ingest, the worker and
// nats-server, in that order.
func (r *e2eRig) cpus() ([3]time.Duration, error) {
	var out [3]time.Duration
	var errs [3]error
	out[0], errs[0] = r.servers[varOfferflow].cpu()
	out[1], errs[1] = r.worker.cpu()
	out[2], errs[2] = r.nats.cpu()
	return out, errors.Join(errs[:]...)
}

// perEvent formats a process's CPU time per event; n/a when the phase was
// too short for /proc's ticks.
func perEvent(cpu time.Duration, n int) string {
	if n <= 0 || cpu < minCPU {
		return "n/a"
	}
	return us(cpu / time.Duration(n))
}

func (e *e2eBench) printE2ESummary(phases []e2ePhase) {
	o := e.out
	o.line("")
	o.line("per rate, the round with the median p99; effects/s is the worker's rate over that round (first send to last effect)")
	o.line("%-8s %9s %9s %9s %11s %10s", "rate/s", "p50", "p95", "p99", "effects/s", "behind")
	doc := []string{"| webhooks/s | p50 | p95 | p99 | effects/s | CPU per webhook (ingest + worker + nats-server) |", "|---|---|---|---|---|---|"}
	for _, rate := range e.cfg.Rates {
		var ps []e2ePhase
		for _, p := range phases {
			if p.rate == rate {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(a, b e2ePhase) int { return int(a.pct(99) - b.pct(99)) })
		m := ps[(len(ps)-1)/2]
		eff := 0.0
		if m.elapsed > 0 {
			eff = float64(m.effects) / m.elapsed.Seconds()
		}
		o.line("%-8d %9s %9s %9s %11s %10s", rate, ms(m.pct(50)), ms(m.pct(95)), ms(m.pct(99)), thousands(eff), m.behind.Round(time.Millisecond))
		doc = append(doc, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", thousands(float64(rate)), ms(m.pct(50)), ms(m.pct(95)), ms(m.pct(99)), thousands(eff),
			perEvent(m.ingestCPU+m.workerCPU+m.natsCPU, m.ok)))
	}
	o.line("")
	o.line("docs/benchmarks.md (%s per rate, %d rounds, %d CPUs, offers off):", e.cfg.Duration, e.cfg.Rounds, runtime.NumCPU())
	for _, l := range doc {
		o.line("%s", l)
	}
}

// conclude writes the end of a report: the time taken, then either every
// problem, failing the run as bench name, or ok.
func (b *ingestBench) conclude(name, ok string) error {
	o := b.out
	o.line("elapsed: %s", time.Since(b.started).Round(100*time.Millisecond))
	if len(b.problems) > 0 {
		o.line("")
		o.line("FAILED:")
		for _, p := range b.problems {
			o.line("  - %s", p)
		}
		return fmt.Errorf("bench %s: %d problem(s), first: %s", name, len(b.problems), b.problems[0])
	}
	o.line("%s", ok)
	return nil
}

// e2eBodies returns n payment.succeeded bodies, each a new payment of a
// new customer (a payment seen before grants nothing new, and so would
// have no effect to wait for), padded to size.
func e2eBodies(phase string, n, size int) ([][]byte, error) {
	at := time.Now().UTC().Add(-time.Second)
	out := make([][]byte, n)
	for i := range out {
		body := payload.PaymentSucceeded(at, fmt.Sprintf("cus_e2e_%s_%06d", phase, i), fmt.Sprintf("pay_e2e_%s_%06d", phase, i), "pdt_course_go", 2900)
		padded, err := padBody(body, size)
		if err != nil {
			return nil, err
		}
		out[i] = padded
	}
	return out, nil
}

// ParseRates reads -rates: webhooks per second, separated by commas.
func ParseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-rates: %q is not a rate of at least 1 webhook/s", f)
		}
		out = append(out, n)
	}
	return out, nil
}
