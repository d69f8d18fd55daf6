package bench

// `offerflow bench growth`: what one event costs the ingest, the worker
// and nats-server, and what each process holds in memory, as the store
// grows from thousands to a million webhooks. Same shape as bench e2e
// (each part a process of its own); between levels the stream is filled
// with signed webhooks published straight to JetStream (as the ingest
// stores them, far faster than over HTTP) and the worker processes every
// one, so the ledger and access buckets grow with it: one new customer
// per webhook, the worst case for the access bucket.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// GrowthConfig is what `offerflow bench growth` measures; its flags, named
// after each field, set it.
type GrowthConfig struct {
	// Levels are the numbers of stored webhooks at which to measure
	// (-levels), increasing.
	Levels []int
	// Rate and Measure are the measured phase at each level: Measure
	// webhooks sent over HTTP at Rate a second (-rate, -measure).
	Rate, Measure int
	// Drain bounds the wait for the worker to process a fill (-drain).
	Drain     time.Duration
	BodyBytes int
	Spawn     Spawn
	// Command and Settings are printed at the top of the report.
	Command, Settings string
}

func (c GrowthConfig) validate() error {
	if len(c.Levels) == 0 || !slices.IsSorted(c.Levels) || c.Levels[0] < 1 {
		return errors.New("-levels must list increasing numbers of stored webhooks, at least 1")
	}
	if c.Rate < 1 || c.Measure < 1 || c.Drain <= 0 {
		return errors.New("-rate, -measure and -drain must be > 0")
	}
	if c.Spawn == nil {
		return errors.New("bench growth needs a way to start its processes (Spawn)")
	}
	return nil
}

// growthLevel is one level's measurement.
type growthLevel struct {
	stored  uint64
	fill    time.Duration // the worker's time to process this level's fill
	phase   e2ePhase
	rss     [3]uint64 // ingest, worker, nats-server
	streams map[string]natsbus.StreamState
}

// growthStreams are the streams whose growth the report shows, with their
// names in it.
var growthStreams = []struct{ name, label string }{
	{natsbus.EventsStream, "events"},
	{"KV_" + natsbus.LedgerBucket, "ledger"},
	{"KV_" + natsbus.AccessBucket, "access"},
	{natsbus.OutStream, "out"},
}

// Growth measures at each level and writes the report to out. It fails if
// the settings are invalid, the bench cannot run, or a request or effect
// of a measured phase is missing. It never fails on timing.
func Growth(ctx context.Context, cfg GrowthConfig, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	dur := time.Duration(float64(cfg.Measure) / float64(cfg.Rate) * float64(time.Second))
	ecfg := E2EConfig{Rates: []int{cfg.Rate}, Duration: dur, MaxInFlight: 256, Rounds: 1, Settle: time.Minute,
		BodyBytes: cfg.BodyBytes, Spawn: cfg.Spawn, Command: cfg.Command, Settings: cfg.Settings}
	b := &ingestBench{cfg: IngestConfig{Senders: ecfg.MaxInFlight, BodyBytes: cfg.BodyBytes, Spawn: cfg.Spawn, Command: cfg.Command, Settings: cfg.Settings, N: 1},
		out: report{out}, started: time.Now()}
	if err := b.prepare(); err != nil {
		return err
	}
	defer b.closeIdle()
	e := &e2eBench{ingestBench: b, cfg: ecfg}
	return (&growthBench{e2eBench: e, gcfg: cfg}).run(ctx)
}

type growthBench struct {
	*e2eBench
	gcfg GrowthConfig
}

func (g *growthBench) run(ctx context.Context) (err error) {
	o := g.out
	s := natsbus.DefaultStreamSettings()
	o.line("offerflow bench growth (deployed shape)")
	o.line("command:  %s", g.gcfg.Command)
	o.line("settings: %s", g.gcfg.Settings)
	o.line("machine:  %s; %s", machineLine(), otherCPULoad())
	o.line("shape:    nats-server, the ingest and the worker (each as its cmd/ runs it, default settings, offers off) are")
	o.line("          processes of their own. Between levels the stream is filled with signed payment.succeeded webhooks")
	o.line("          (one new customer each) published straight to JetStream, and the worker processes every one; at each")
	o.line("          level %d webhooks are sent over HTTP at %d/s and followed to their access.granted message.", g.gcfg.Measure, g.gcfg.Rate)
	o.line("retention: streams %s (max age), ledger keys %s (LEDGER_TTL), access: one key per customer, history 1;", s.MaxAge, s.LedgerTTL)
	o.line("          nothing expires during the run, so every level holds everything sent so far.")
	o.line("")
	r, err := g.startRig(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.close()) }()

	var levels []growthLevel
	for i, level := range g.gcfg.Levels {
		lv, err := g.level(ctx, r, i, level)
		if err != nil {
			return err
		}
		levels = append(levels, lv)
		g.printLevel(lv, i == 0)
	}
	g.printGrowthSummary(levels)
	g.out.line("")
	return g.conclude("growth", "every webhook answered 200 and its access.granted effect was seen: OK")
}

// level fills the store up to level stored webhooks (less the measured
// phases' webhooks), waits for the worker, then measures.
func (g *growthBench) level(ctx context.Context, r *e2eRig, i, level int) (growthLevel, error) {
	st, err := r.stream.State(ctx)
	if err != nil {
		return growthLevel{}, err
	}
	lv := growthLevel{}
	if need := level - int(st.Msgs) - g.gcfg.Measure; need > 0 {
		start := time.Now()
		if err := g.fill(ctx, r, i, need); err != nil {
			return lv, err
		}
		if err := g.drain(ctx, r); err != nil {
			return lv, err
		}
		lv.fill = time.Since(start)
		// Connections idle through a long fill may be closed by the
		// ingest (its idle timeout) just as a send reuses one: a reset
		// that would count as a failed request. Start the phase afresh.
		g.closeIdle()
	}
	fol, err := r.adm.Follow(ctx, natsbus.OutStream, events.AccessPrefix+access.ChangeGranted+".>")
	if err != nil {
		return lv, err
	}
	defer fol.Close()
	if lv.phase, err = g.phase(ctx, r, fol, g.gcfg.Rate, i+1); err != nil {
		return lv, err
	}
	// An effect is published before its webhook is committed in the
	// ledger and acknowledged: the sizes below are read once the worker
	// has finished with every webhook, not while the last ones are in
	// flight.
	if err := g.drain(ctx, r); err != nil {
		return lv, err
	}
	for j, c := range []*child{r.servers[varOfferflow], r.worker, r.nats} {
		if lv.rss[j], err = processRSS(c.cmd.Process.Pid); err != nil {
			return lv, err
		}
	}
	lv.streams = map[string]natsbus.StreamState{}
	for _, s := range growthStreams {
		st, err := r.adm.Stream(ctx, s.name)
		if err != nil {
			return lv, err
		}
		if lv.streams[s.label], err = st.State(ctx); err != nil {
			return lv, err
		}
	}
	lv.stored = lv.streams["events"].Msgs
	return lv, nil
}

// fillChunk is how many webhooks are made, signed and published at once,
// so a million never sit in memory together.
const fillChunk = 5000

// fill publishes n signed webhooks, each a new customer's payment, as the
// ingest stores them.
func (g *growthBench) fill(ctx context.Context, r *e2eRig, level, n int) error {
	pub := r.adm.Publisher(30 * time.Second)
	for done := 0; done < n; done += fillChunk {
		k := min(fillChunk, n-done)
		bodies, err := e2eBodies(fmt.Sprintf("fill%d_%d", level, done), k, g.gcfg.BodyBytes)
		if err != nil {
			return err
		}
		reqs := g.sign(bodies)
		subject := events.Subject("payment.succeeded")
		msgs := make([]events.Message, len(reqs))
		for i, q := range reqs {
			msgs[i] = events.WebhookMessage(subject, q.id, q.ts, q.sig, q.body)
		}
		if err := pub.SendAll(ctx, msgs); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return nil
}

// drain waits until the worker has acknowledged everything in the stream.
func (g *growthBench) drain(ctx context.Context, r *e2eRig) error {
	deadline := time.Now().Add(g.gcfg.Drain)
	for {
		cs, err := r.stream.ConsumerState(ctx, natsbus.WorkerConsumer)
		if err != nil {
			return err
		}
		if cs.Pending == 0 && cs.AckPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker did not process the fill within -drain %s: %d pending, %d unacknowledged", g.gcfg.Drain, cs.Pending, cs.AckPending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (g *growthBench) printLevel(lv growthLevel, first bool) {
	o := g.out
	if first {
		o.line("%-9s %9s %9s %9s %9s %9s %10s %10s %10s %10s %10s %10s %9s", "stored", "events", "ledger", "access", "ingest", "worker", "nats", "ingest", "worker", "nats", "p50", "p99", "fill")
		o.line("%-9s %9s %9s %9s %9s %9s %10s %10s %10s %10s %10s %10s %9s", "webhooks", "MB", "keys", "keys", "RSS MB", "RSS MB", "RSS MB", "CPU/event", "CPU/event", "CPU/event", "", "", "")
	}
	p := lv.phase
	o.line("%-9d %9s %9d %9d %9s %9s %10s %10s %10s %10s %10s %10s %9s", lv.stored, mb(lv.streams["events"].Bytes),
		lv.streams["ledger"].Msgs, lv.streams["access"].Msgs, mb(lv.rss[0]), mb(lv.rss[1]), mb(lv.rss[2]),
		perEvent(p.ingestCPU, p.ok), perEvent(p.workerCPU, p.effects), perEvent(p.natsCPU, p.ok),
		ms(p.pct(50)), ms(p.pct(99)), lv.fill.Round(time.Second))
}

func (g *growthBench) printGrowthSummary(levels []growthLevel) {
	o := g.out
	if len(levels) < 2 {
		return
	}
	a, z := levels[0], levels[len(levels)-1]
	o.line("")
	o.line("from %d to %d stored webhooks (x%.0f):", a.stored, z.stored, float64(z.stored)/float64(max(a.stored, 1)))
	for j, name := range []string{"ingest", "worker", "nats-server"} {
		o.line("  %-12s RSS %s MB -> %s MB (x%.2f)", name, mb(a.rss[j]), mb(z.rss[j]), float64(z.rss[j])/float64(max(a.rss[j], 1)))
	}
	cpu := func(lv growthLevel) [3]float64 {
		p := lv.phase
		return [3]float64{perEventUS(p.ingestCPU, p.ok), perEventUS(p.workerCPU, p.effects), perEventUS(p.natsCPU, p.ok)}
	}
	ca, cz := cpu(a), cpu(z)
	for j, name := range []string{"ingest", "worker", "nats-server"} {
		if ca[j] > 0 && cz[j] > 0 {
			o.line("  %-12s CPU per event %.0f µs -> %.0f µs (x%.2f)", name, ca[j], cz[j], cz[j]/ca[j])
		}
	}
	o.line("  stream CPU figures come from /proc tick counts (10 ms each); on a shared machine compare ratios, not single values.")
}

// perEventUS is cpu per event in microseconds, 0 when too little CPU was
// taken to say (minCPU).
func perEventUS(cpu time.Duration, n int) float64 {
	if n == 0 || cpu < minCPU {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

func mb(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) }

// processRSS is the resident memory of process pid, from /proc.
func processRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS %q: %w", pid, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// ParseLevels reads -levels: numbers of stored webhooks, separated by
// commas, increasing; "10k" and "1M" are accepted.
func ParseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1000000, strings.TrimSuffix(f, "M")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 100_000_000/mult {
			return nil, fmt.Errorf("-levels: %q is not a number of webhooks (1 to 100M; 10k and 1M are accepted)", f)
		}
		if len(out) > 0 && n*mult <= out[len(out)-1] {
			return nil, fmt.Errorf("-levels must increase: %d after %d", n*mult, out[len(out)-1])
		}
		out = append(out, n*mult)
	}
	return out, nil
}
