package bench

// `offerflow bench worker`: one worker, with the full ledger and access
// semantics, working through a stream full of access events, beside a
// naive step (claim, publish, commit, ack) run one at a time and with
// -ref-parallel handlers in parallel. Each runs on a fresh nats-server
// filled with the same messages.
//
// After the worker has drained the stream, every customer's stored access
// is compared with a model of what it must be, whatever the arrival order
// and the duplicates.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsbus/naive"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// WorkerConfig is what `offerflow bench worker` measures; its flags, named
// after each field, set it.
type WorkerConfig struct {
	// N is the number of messages in the stream, second deliveries
	// included (-n), spread over Customers customers (-customers).
	N, Customers int
	// Concurrency is the worker's number of concurrent handlers; 0 is the
	// worker's default (-concurrency).
	Concurrency int
	// DupPct is the percentage of messages that are a second delivery of
	// another message's webhook-id, 0 to 50 (-dup-pct).
	DupPct int
	// Seed decides the event mix and the publish order (-seed).
	Seed uint64
	// SyncAlways makes nats-server fsync every write (-sync-always).
	SyncAlways bool
	// Refs also measures the naive references (-refs): one at a time, and
	// with RefParallel handlers (-ref-parallel), each for RefTime at most
	// (-ref-time).
	Refs        bool
	RefParallel int
	RefTime     time.Duration
	// SerialProcs is GOMAXPROCS while the one-at-a-time reference runs; 0
	// leaves it unchanged (-serial-procs). See measureNaive for why.
	SerialProcs int
	// Timeout bounds the worker's run to drain the stream (-timeout).
	Timeout time.Duration
	// CPUProfile, if set, is the file a CPU profile of the whole run is
	// written to (-cpuprofile).
	CPUProfile string
	// Command and Settings are printed at the top of the report so that
	// the run can be repeated: the command as given, and every flag with
	// its effective value.
	Command, Settings string
}

// validate rejects settings the bench cannot run with; the message names
// the flags, as the settings come from them.
func (c WorkerConfig) validate() error {
	if c.N < 1 || c.Customers < 1 || c.Concurrency < 0 || c.DupPct < 0 || c.DupPct > 50 || c.RefParallel < 1 || c.Timeout <= 0 || c.RefTime <= 0 || c.SerialProcs < 0 {
		return errors.New("-n, -customers, -ref-parallel, -timeout and -ref-time must be > 0, -concurrency and -serial-procs >= 0, -dup-pct in 0..50")
	}
	return nil
}

// Worker fills a stream with access events, measures how fast one worker
// drains it (and, with cfg.Refs, the naive references), checks every
// customer's resulting access against a model, and writes the report to
// out. It fails if the settings are invalid, if the bench cannot run, or,
// once the report is written, if an access or a dead letter is wrong. It
// never fails on timing.
func Worker(ctx context.Context, cfg WorkerConfig, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	b := &workerBench{cfg: cfg, out: report{out}, started: time.Now()}
	runErr := b.run(ctx)
	return errors.Join(runErr, stopProfile())
}

// workerBench holds one run's state.
type workerBench struct {
	cfg      WorkerConfig
	out      report
	started  time.Time
	sc       *accessScenario
	problems []string
}

// drainRun is what one consumer did with the stream.
type drainRun struct {
	name     string
	handlers int
	handled  int // messages acknowledged: all of them unless a time bound hit
	elapsed  time.Duration
	info     natsbus.ConsumerState
	heapPeak uint64
	others   float64 // share of CPU time other processes took meanwhile
	failures int64   // naive reference: steps that failed and were retried
}

func (r drainRun) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.handled) / r.elapsed.Seconds()
}

// run measures the worker, then the references, and writes the report.
func (b *workerBench) run(ctx context.Context) error {
	o := b.out
	wc, err := workerDefaults()
	if err != nil {
		return err
	}
	if b.cfg.Concurrency > 0 {
		wc.Concurrency = b.cfg.Concurrency
	}
	sc, err := genScenario(b.cfg.Seed, b.cfg.N, b.cfg.Customers, b.cfg.DupPct, webhook.NewSecret(randomBytes(32)))
	if err != nil {
		return err
	}
	b.sc = sc

	o.line("offerflow bench worker")
	o.line("command:  %s", b.cfg.Command)
	o.line("settings: %s", b.cfg.Settings)
	o.line("machine:  %s; %s", machineLine(), otherCPULoad())
	o.line("note:     the worker, nats-server and the bench run in one process and share its CPUs.")
	o.line("stream:   %d messages: %d events of %d customers, %d second deliveries of a webhook-id (own Nats-Msg-Id, so the",
		len(sc.msgs), sc.unique, len(sc.customers), sc.duplicates)
	o.line("          stream keeps them and the ledger must skip them); published in shuffled order; %d events share", sc.ties)
	o.line("          their predecessor's timestamp. Mix: %s", typeMix(sc.types))
	o.line("storage:  file, %s", map[bool]string{true: "fsync on every write (-sync-always)", false: "default fsync interval"}[b.cfg.SyncAlways])
	o.line("")

	worker, err := b.measureWorker(ctx, wc)
	if err != nil {
		return err
	}
	runs := []drainRun{worker}
	if b.cfg.Refs {
		for _, h := range []int{1, b.cfg.RefParallel} {
			r, err := b.measureNaive(ctx, h)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
	}
	b.printSummary(runs)
	o.line("")
	o.line("elapsed: %s", time.Since(b.started).Round(100*time.Millisecond))
	if len(b.problems) > 0 {
		o.line("")
		o.line("FAILED:")
		for _, p := range b.problems {
			o.line("  - %s", p)
		}
		return fmt.Errorf("bench worker: %d problem(s), first: %s", len(b.problems), b.problems[0])
	}
	return nil
}

// workerDefaults returns the worker's configuration as if started without
// flags or environment, as `offerflow dev` does.
func workerDefaults() (service.WorkerConfig, error) {
	var wc service.WorkerConfig
	s := conf.New("worker", func(string) string { return "" }, io.Discard)
	wc.Declare(s)
	return wc, s.Parse(nil)
}

// filledStream is a fresh nats-server with the streams, filled with the
// scenario, and the bench's own connection to it.
type filledStream struct {
	ns   *natsServer
	conn *natsbus.Conn
}

func (s *filledStream) close() {
	s.conn.Close()
	s.ns.stop()
}

func (b *workerBench) newStream(ctx context.Context, name string) (*filledStream, error) {
	ns, err := startNATS(ctx, name, b.cfg.SyncAlways)
	if err != nil {
		return nil, err
	}
	conn, err := natsbus.Connect(natsbus.Dial{URL: ns.url, Name: "offerflow-bench-fill", MaxPending: maxPending, PublishTimeout: 30 * time.Second})
	if err != nil {
		ns.stop()
		return nil, err
	}
	s := &filledStream{ns: ns, conn: conn}
	if err := b.fill(ctx, s); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// fill creates the streams and publishes the scenario, pipelined with the
// ingest's publisher.
func (b *workerBench) fill(ctx context.Context, s *filledStream) error {
	if err := s.conn.EnsureStreams(ctx, natsbus.DefaultStreamSettings(), zap.NewNop()); err != nil {
		return err
	}
	pub := s.conn.Publisher(30 * time.Second)
	start := time.Now()
	var ferr error
	labelled(ctx, "fill", func() {
		const batch = 1000
		for i := 0; i < len(b.sc.msgs) && ferr == nil; i += batch {
			msgs := make([]events.Message, 0, batch)
			for _, m := range b.sc.msgs[i:min(i+batch, len(b.sc.msgs))] {
				msgs = append(msgs, m.message())
			}
			ferr = pub.SendAll(ctx, msgs)
		}
	})
	if ferr != nil {
		return fmt.Errorf("fill: %w", ferr)
	}
	elapsed := time.Since(start)
	st, err := s.conn.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		return err
	}
	state, err := st.State(ctx)
	if err != nil {
		return err
	}
	if state.Msgs != uint64(len(b.sc.msgs)) {
		return fmt.Errorf("fill: DODO_EVENTS holds %d messages, want %d", state.Msgs, len(b.sc.msgs))
	}
	b.out.line("filled DODO_EVENTS on %s with %d messages in %s (%s msg/s)", s.ns.url, len(b.sc.msgs), elapsed.Round(time.Millisecond),
		thousands(float64(len(b.sc.msgs))/elapsed.Seconds()))
	return nil
}

// measureWorker runs one worker (service.RunWorker, as in production) on a
// filled stream until its consumer has nothing pending and nothing
// unacknowledged, then stops it and checks every customer's access.
func (b *workerBench) measureWorker(ctx context.Context, wc service.WorkerConfig) (drainRun, error) {
	s, err := b.newStream(ctx, "offerflow-bench-worker")
	if err != nil {
		return drainRun{}, err
	}
	defer s.close()
	wc.NATSURL = s.ns.url
	wc.MetricsAddr = ""
	if err := wc.Validate(); err != nil {
		return drainRun{}, err
	}
	tally := &logTally{counts: map[string]int{}, samples: map[string]string{}}
	log := zap.New(tallyCore{t: tally})

	runtime.GC()
	sampler := startHeapSampler(5 * time.Millisecond)
	watch := startCPUWatch()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var runErr error
	done := make(chan struct{})
	start := time.Now()
	labelled(ctx, "worker", func() {
		go func() {
			defer close(done)
			runErr = service.RunWorker(wctx, wc, log, service.WorkerOptions{})
		}()
	})
	info, drained, drainErr := waitDrained(ctx, s.conn, natsbus.WorkerConsumer, b.cfg.Timeout, done)
	elapsed := time.Since(start)
	others := watch.others()
	stop()
	<-done
	_, heapPeak := sampler.finish()
	if err := errors.Join(drainErr, runErr); err != nil {
		return drainRun{}, fmt.Errorf("worker: %w", err)
	}
	if !drained {
		// The correctness check below needs every message handled.
		return drainRun{}, fmt.Errorf("worker: not drained within %s (-timeout): %d pending, %d unacknowledged", b.cfg.Timeout, info.Pending, info.AckPending)
	}
	r := drainRun{name: fmt.Sprintf("offerflow worker (%d handlers)", wc.Concurrency), handlers: wc.Concurrency, handled: len(b.sc.msgs),
		elapsed: elapsed, info: info, heapPeak: heapPeak, others: others}

	o := b.out
	o.line("worker: %d handlers (max ack pending %d, ack wait %s): %d messages in %s = %s events/s; redelivered %d; peak heap %s; others %s",
		wc.Concurrency, wc.MaxAckPending, wc.AckWait, len(b.sc.msgs), elapsed.Round(time.Millisecond), thousands(r.rate()),
		info.Redelivered, mib(heapPeak), othersPct(others))
	for _, l := range tally.lines() {
		o.line("worker log: %s", l)
	}
	if err := b.verify(ctx, s.conn); err != nil {
		return drainRun{}, err
	}
	o.line("")
	return r, nil
}

// verify compares every customer's stored access with the model and counts
// dead letters and published changes.
func (b *workerBench) verify(ctx context.Context, conn *natsbus.Conn) error {
	store, err := conn.AccessStore(ctx)
	if err != nil {
		return err
	}
	var (
		mismatches int
		samples    []string
	)
	for _, cust := range b.sc.customers {
		doc, _, err := store.Get(ctx, cust)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, p := range doc.View(nil).Products {
			got[p.ProductID] = string(p.Status)
		}
		if want := b.sc.want[cust]; !maps.Equal(got, want) {
			mismatches++
			if len(samples) < 5 {
				samples = append(samples, fmt.Sprintf("%s: got %v, want %v", cust, sortedMap(got), sortedMap(want)))
			}
		}
	}
	out, err := conn.Stream(ctx, natsbus.OutStream)
	if err != nil {
		return err
	}
	dead, err := out.Count(ctx, natsbus.DeadLetterPrefix+">")
	if err != nil {
		return err
	}
	changes, err := out.Count(ctx, events.AccessPrefix+">")
	if err != nil {
		return err
	}
	o := b.out
	verdict := "OK"
	if mismatches > 0 {
		verdict = "FAIL"
		b.problems = append(b.problems, fmt.Sprintf("%d of %d customers' access differs from the model, e.g. %s", mismatches, len(b.sc.customers), samples[0]))
	}
	o.line("access check: %d customers compared with the model, mismatches %d: %s", len(b.sc.customers), mismatches, verdict)
	for _, s := range samples {
		o.line("  mismatch %s", s)
	}
	verdict = "OK"
	if dead > 0 {
		verdict = "FAIL"
		b.problems = append(b.problems, fmt.Sprintf("%d dead letters in %s", dead, natsbus.OutStream))
	}
	o.line("dead letters: %d: %s", dead, verdict)
	o.line("access changes published to %s: %d", natsbus.OutStream, changes)
	return nil
}

// measureNaive runs the naive step on a fresh, filled stream with the given
// number of handlers: claim the webhook-id (KV create in the ledger bucket),
// publish one message to OFFERFLOW and wait for its ack, commit (KV update),
// ack. It decodes nothing and keeps no access state: it is the cost of the
// bookkeeping alone.
func (b *workerBench) measureNaive(ctx context.Context, handlers int) (drainRun, error) {
	part := fmt.Sprintf("naive-%d", handlers)
	s, err := b.newStream(ctx, "offerflow-bench-"+part)
	if err != nil {
		return drainRun{}, err
	}
	defer s.close()
	var conn *natsbus.Conn
	labelled(ctx, part, func() { conn, err = natsbus.Connect(natsbus.Dial{URL: s.ns.url, Name: "offerflow-bench-" + part}) })
	if err != nil {
		return drainRun{}, err
	}
	defer conn.Close()
	procs := runtime.GOMAXPROCS(0)
	if handlers == 1 && b.cfg.SerialProcs > 0 {
		// One message at a time is a chain of loopback round trips between
		// this handler and nats-server. With two Ps each hop may wake the
		// other vCPU, and on a VM that wake-up can take milliseconds: the
		// figure then swings from about 5,000/s to about 100/s between
		// runs. On one P the hops are goroutine switches; the work needs
		// no more than one core anyway. Restored before the next run.
		procs = b.cfg.SerialProcs
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}

	runtime.GC()
	sampler := startHeapSampler(5 * time.Millisecond)
	watch := startCPUWatch()
	start := time.Now()
	var (
		info    natsbus.ConsumerState
		drained bool
		runner  *naive.Worker
	)
	labelled(ctx, part, func() { runner, err = naive.StartWorker(ctx, conn, handlers, maxPending) })
	if err == nil {
		info, drained, err = waitDrained(ctx, conn, naive.Consumer, b.cfg.RefTime, nil)
	}
	elapsed := time.Since(start)
	others := watch.others()
	runner.Stop()
	_, heapPeak := sampler.finish()
	if err != nil {
		return drainRun{}, fmt.Errorf("naive reference with %d handlers: %w", handlers, err)
	}
	r := drainRun{handlers: handlers, elapsed: elapsed, info: info, heapPeak: heapPeak, others: others, failures: runner.Failures()}
	return b.reportNaive(r, procs, drained), nil
}

// reportNaive names a naive reference's run, counts what it handled, and
// prints it.
func (b *workerBench) reportNaive(r drainRun, procs int, drained bool) drainRun {
	r.name = fmt.Sprintf("naive step, one at a time (%d P)", procs)
	if r.handlers > 1 {
		r.name = fmt.Sprintf("naive step, %d in parallel", r.handlers)
	}
	// Without redeliveries, what was delivered and is no longer pending
	// has been acknowledged.
	r.handled = len(b.sc.msgs)
	bound := ""
	if !drained {
		r.handled = int(r.info.Delivered) - r.info.AckPending
		bound = fmt.Sprintf(" (stopped at the -ref-time bound of %s)", b.cfg.RefTime)
	}
	b.out.line("%s: %d of %d messages in %s%s = %s events/s; failed steps %d; peak heap %s; others %s", r.name, r.handled, len(b.sc.msgs),
		r.elapsed.Round(time.Millisecond), bound, thousands(r.rate()), r.failures, mib(r.heapPeak), othersPct(r.others))
	b.out.line("")
	return r
}

// waitDrained polls a consumer of DODO_EVENTS every 20 ms until it has
// nothing pending and nothing unacknowledged, and reports whether it got
// there. It stops waiting after timeout (returning the last info, not
// drained), and fails when stopped is closed (the consumer's runner ended
// early; a nil stopped never fires). A consumer not created yet is waited
// for.
func waitDrained(ctx context.Context, conn *natsbus.Conn, consumer string, timeout time.Duration, stopped <-chan struct{}) (natsbus.ConsumerState, bool, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		last  natsbus.ConsumerState
		found bool
	)
	// Drained means the consumer's ack floor reached the stream's last
	// message. Pending alone is not enough: a consumer just created may
	// report 0 before it has counted the stream.
	st, err := conn.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		return last, false, err
	}
	state, err := st.State(ctx)
	if err != nil {
		return last, false, err
	}
	for {
		select {
		case <-ctx.Done():
			return last, false, ctx.Err()
		case <-stopped:
			return last, false, errors.New("stopped before the stream was drained")
		case <-deadline.C:
			if !found {
				return last, false, fmt.Errorf("consumer %s not created within %s", consumer, timeout)
			}
			return last, false, nil
		case <-tick.C:
		}
		cs, err := st.ConsumerState(ctx, consumer)
		if errors.Is(err, natsbus.ErrNoConsumer) {
			continue
		}
		if err != nil {
			return last, false, err
		}
		last, found = cs, true
		if cs.AckFloor >= state.LastSeq && cs.Pending == 0 && cs.AckPending == 0 {
			return cs, true, nil
		}
	}
}

func (b *workerBench) printSummary(runs []drainRun) {
	o := b.out
	n := len(b.sc.msgs)
	o.line("summary: %d messages; events/s = messages acknowledged / time from start until the consumer had nothing pending and", n)
	o.line("nothing unacknowledged (or until a reference's -ref-time bound)")
	o.line("%-34s %10s %13s %10s %12s %11s %7s", "run", "events/s", "handled", "elapsed", "redelivered", "peak heap", "others")
	maxOthers := 0.0
	for _, r := range runs {
		o.line("%-34s %10s %13s %10s %12d %11s %7s", r.name, thousands(r.rate()), fmt.Sprintf("%d/%d", r.handled, n), r.elapsed.Round(time.Millisecond),
			r.info.Redelivered, mib(r.heapPeak), othersPct(r.others))
		maxOthers = max(maxOthers, r.others)
	}
	o.line("others: the share of all CPUs' time other processes on this machine took during the run. %s", contention(maxOthers))
	w := runs[0].rate()
	o.line("")
	o.line("worker: %s events/s (aim at least 10,000 on 2 cores: %s)", thousands(w), verdict(false, w >= 10000))
	for _, r := range runs[1:] {
		o.line("ratio worker/%s: %s", r.name, ratio(w, r.rate()))
	}
	if len(runs) > 1 {
		o.line("note: one at a time, a message costs four loopback round trips in sequence, so that figure measures wake-up latency")
		o.line("      more than CPU. With 2 Ps on a VM it can swing between about 5,000/s and 100/s from run to run (a hop that")
		if b.cfg.SerialProcs > 0 {
			o.line("      wakes the other vCPU can take milliseconds), so it ran with GOMAXPROCS=%d (-serial-procs; the work needs one", b.cfg.SerialProcs)
			o.line("      core at most). That makes it a stronger reference, not a weaker one.")
		} else {
			o.line("      wakes the other vCPU can take milliseconds); it ran with every P (-serial-procs 0): read it with care.")
		}
	}
	o.line("")
	o.line("docs/benchmarks.md:")
	o.line("- Worker: %s events/s with one worker, %d handlers, full ledger and access semantics (%d messages for %d customers, shuffled, %d%% second deliveries; access of every customer checked against a model: %s; %d CPUs shared with nats-server).",
		thousands(w), runs[0].handlers, n, len(b.sc.customers), b.cfg.DupPct, map[bool]string{true: "mismatches found", false: "no mismatch"}[len(b.problems) > 0], runtime.NumCPU())
	for _, r := range runs[1:] {
		o.line("- Worker reference, %s (claim, publish, commit, ack; no decoding, no access state): %s events/s (worker/reference %s).",
			r.name, thousands(r.rate()), ratio(w, r.rate()))
	}
}

// typeMix lists event types by count, most frequent first.
func typeMix(types map[string]int) string {
	keys := slices.Collect(maps.Keys(types))
	sort.Slice(keys, func(i, j int) bool {
		if types[keys[i]] != types[keys[j]] {
			return types[keys[i]] > types[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, types[k])
	}
	return strings.Join(parts, ", ")
}

func sortedMap(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// logTally counts the worker's warnings and errors by message, with the
// first error text of each, so that the report can say how often the worker
// retried without printing every line.
type logTally struct {
	mu      sync.Mutex
	counts  map[string]int
	samples map[string]string
}

func (t *logTally) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(t.counts)) {
		out = append(out, fmt.Sprintf("%d x %q, first: %s", t.counts[k], k, t.samples[k]))
	}
	return out
}

// tallyCore is a zap core that feeds a logTally; it keeps nothing else.
type tallyCore struct {
	t *logTally
}

func (c tallyCore) Enabled(l zapcore.Level) bool      { return l >= zapcore.WarnLevel }
func (c tallyCore) With([]zapcore.Field) zapcore.Core { return c }
func (c tallyCore) Sync() error                       { return nil }

func (c tallyCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c tallyCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	key := e.Level.String() + ": " + e.Message
	sample := ""
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType {
			sample = err.Error()
			break
		}
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	c.t.counts[key]++
	if _, ok := c.t.samples[key]; !ok {
		c.t.samples[key] = sample
	}
	return nil
}
