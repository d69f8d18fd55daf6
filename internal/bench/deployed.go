package bench

// The deployed shape of `offerflow bench ingest`: every part in its own
// process, talking over loopback TCP, as operators run them. nats-server,
// the ceiling, the naive ingest and offerflow's ingest are each a child
// process (`offerflow bench serve <part>`); this process only generates the
// load and checks what was stored. Besides requests/s and latency it reads
// each child's CPU time from /proc/<pid>/stat, so that the cost of a stored
// webhook (the HTTP server's process plus nats-server's) can be compared
// even on a machine whose other work disturbs wall-clock rates.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsbus/naive"
	"github.com/offerflow/offerflow/internal/natsserver"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// Spawn returns the command that runs `offerflow bench serve <part>`: the
// offerflow binary itself, or in tests the test binary. The bench adds to
// its environment (os.Environ() when it sets none) and takes its stdout.
type Spawn func(part string) *exec.Cmd

// The parts a child process can serve.
const (
	partNATS = "nats"
	// The HTTP variants are named as in the report: varCeiling, varNaive,
	// varOfferflow.
)

// Environment of a child, beside NATS_URL and DODO_WEBHOOK_SECRET.
const (
	envStoreDir   = "OFFERFLOW_BENCH_STORE_DIR"
	envSyncAlways = "OFFERFLOW_BENCH_SYNC_ALWAYS"
	// envCPUProfile is the file the child writes its CPU profile to.
	envCPUProfile = "OFFERFLOW_BENCH_CPUPROFILE"
)

// readyPrefix starts the one line a child prints on stdout once it serves:
// "ready <url>".
const readyPrefix = "ready "

// Serve runs one part of the deployed-shape bench in this process until
// ctx ends (the parent sends SIGTERM to stop it, and the kernel sends it
// if the parent dies): nats-server, or one of the HTTP variants (ceiling,
// naive, offerflow). Once it serves it prints "ready <url>" on stdout.
// offerflow is the ingest exactly as cmd/ingest runs it, with its settings
// from getenv, on a loopback port of its own.
func Serve(ctx context.Context, part string, getenv func(string) string, stdout io.Writer) (err error) {
	stopProfile, err := startCPUProfile(getenv(envCPUProfile))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	ready := func(url string) { fmt.Fprintln(stdout, readyPrefix+url) }
	switch part {
	case partNATS:
		return serveNATS(ctx, getenv, ready)
	case varCeiling, varNaive:
		return serveVariant(ctx, part, getenv, ready)
	case varOfferflow:
		return serveIngest(ctx, getenv, ready)
	case partWorker:
		return serveWorker(ctx, getenv, ready)
	case partStandin:
		return serveStandin(ctx, getenv, ready)
	}
	return fmt.Errorf("bench serve: unknown part %q (nats, ceiling, naive, offerflow, worker, standin)", part)
}

func serveNATS(ctx context.Context, getenv func(string) string, ready func(string)) error {
	dir := getenv(envStoreDir)
	if dir == "" {
		return errors.New("bench serve nats: " + envStoreDir + " is not set")
	}
	s, err := natsserver.Start(natsserver.Config{Name: "offerflow-bench", Host: "127.0.0.1", Port: -1, StoreDir: dir,
		SyncAlways: getenv(envSyncAlways) == "true"})
	if err != nil {
		return err
	}
	defer natsserver.Stop(s)
	ready(s.ClientURL())
	<-ctx.Done()
	return nil
}

// serveVariant serves the ceiling or the naive ingest with the HTTP
// server settings of the ingest (startHTTP's).
func serveVariant(ctx context.Context, part string, getenv func(string) string, ready func(string)) error {
	secrets, err := webhook.ParseSecrets(getenv("DODO_WEBHOOK_SECRET"))
	if err != nil {
		return fmt.Errorf("DODO_WEBHOOK_SECRET: %w", err)
	}
	v, err := webhook.NewVerifier(secrets, webhook.DefaultTolerance, time.Now)
	if err != nil {
		return err
	}
	var h http.Handler
	if part == varCeiling {
		h = handleCeiling(v)
	} else {
		conn, err := natsbus.Connect(natsbus.Dial{URL: getenv("NATS_URL"), Name: "offerflow-bench-naive", MaxPending: maxPending, PublishTimeout: publishTimeout})
		if err != nil {
			return err
		}
		defer conn.Close() // after the server has stopped: every answered publish is acknowledged
		h = naive.Ingest(v, conn, maxBody, publishTimeout)
	}
	srv, err := startHTTP(ctx, part, h)
	if err != nil {
		return err
	}
	ready(srv.url)
	<-ctx.Done()
	return srv.close()
}

// serveIngest runs the ingest as cmd/ingest does: settings from the
// environment, validated, then service.RunIngest, on a loopback listener.
func serveIngest(ctx context.Context, getenv func(string) string, ready func(string)) error {
	var cfg service.IngestConfig
	log, err := settingsFromEnv("ingest", &cfg, getenv, func() string { return cfg.LogLevel })
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/webhooks/dodo"
	return service.RunIngest(ctx, cfg, log, service.IngestOptions{Listener: ln, Ready: func(string) { ready(url) }})
}

// settingsFromEnv reads and validates a service's settings from the
// environment, as its cmd/ main does with no flags, and returns its logger
// at the level they set.
func settingsFromEnv(name string, cfg interface {
	Declare(*conf.Set)
	Validate() error
}, getenv func(string) string, logLevel func() string) (*zap.Logger, error) {
	s := conf.New(name, getenv, io.Discard)
	cfg.Declare(s)
	if err := s.Parse(nil); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return service.NewLogger(logLevel(), false)
}

// child is one part running in its own process.
type child struct {
	part string
	url  string
	cmd  *exec.Cmd
	// stderr keeps the end of what the child wrote there, for errors.
	stderr *tailBuffer
	// done is closed once the stdout reader has ended.
	done chan struct{}
}

// startChild starts part with env added to this process's environment and
// waits (at most a minute) for its "ready" line.
func startChild(ctx context.Context, spawn Spawn, part string, env []string) (*child, error) {
	cmd := spawn(part)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	// A bench that dies must not leave servers running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	c := &child{part: part, cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", part, err)
	}
	urls := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				select {
				case urls <- url:
				default:
				}
			}
		}
	}()
	select {
	case c.url = <-urls:
		return c, nil
	case <-c.done:
		err = fmt.Errorf("%s exited before it was ready: %s", part, c.stderr.String())
	case <-time.After(time.Minute):
		err = fmt.Errorf("%s not ready within a minute: %s", part, c.stderr.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	return nil, errors.Join(err, c.stop())
}

// stop sends the child SIGTERM and waits for it; a child that has not
// ended within 20 s is killed.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM) // an error means it has ended already
	waited := make(chan error, 1)
	go func() {
		<-c.done // Wait must not run before the stdout reader is done
		waited <- c.cmd.Wait()
	}()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("%s: %w: %s", c.part, err, c.stderr.String())
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-waited
		return fmt.Errorf("%s did not stop within 20 s and was killed", c.part)
	}
}

// cpu returns the child's user and system CPU time so far.
func (c *child) cpu() (time.Duration, error) {
	return processCPU(c.cmd.Process.Pid)
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ), 1/100 s on
// every Linux the Go runtime supports.
const clockTick = 10 * time.Millisecond

// minCPU is the least CPU time a phase must take for its CPU per webhook
// to be reported: ten ticks, so the tick's rounding is under 10%.
const minCPU = 10 * clockTick

// processCPU reads a process's user plus system time from /proc.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc/<pid>/stat")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = slices.Delete(t.b, 0, over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// deployedRig is one nats-server process and the HTTP variants' processes
// sending to it.
type deployedRig struct {
	nats    *child
	dir     string
	adm     *natsbus.Conn
	stream  *natsbus.Stream
	servers map[string]*child
}

// startDeployed starts nats-server (fsyncing every write if syncAlways)
// and the named variants, each in its own process.
func (b *ingestBench) startDeployed(ctx context.Context, syncAlways bool, names []string) (r *deployedRig, err error) {
	dir, err := os.MkdirTemp("", "offerflow-bench-*")
	if err != nil {
		return nil, err
	}
	r = &deployedRig{dir: dir, servers: map[string]*child{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close())
		}
	}()
	profile := func(part string) []string {
		if b.cfg.CPUProfile == "" {
			return nil
		}
		if syncAlways {
			part += ".fsync"
		}
		return []string{envCPUProfile + "=" + b.cfg.CPUProfile + "." + part}
	}
	r.nats, err = startChild(ctx, b.cfg.Spawn, partNATS, append(profile(partNATS), envStoreDir+"="+dir, envSyncAlways+"="+strconv.FormatBool(syncAlways)))
	if err != nil {
		return r, err
	}
	if r.adm, r.stream, err = b.setupStreams(ctx, r.nats.url); err != nil {
		return r, err
	}
	env := []string{"NATS_URL=" + r.nats.url, "DODO_WEBHOOK_SECRET=" + b.secretText}
	for _, name := range names {
		c, err := startChild(ctx, b.cfg.Spawn, name, append(profile(name), env...))
		if err != nil {
			return r, err
		}
		r.servers[name] = c
	}
	return r, nil
}

// close stops the variants, then nats-server, and removes its store.
func (r *deployedRig) close() error {
	var err error
	for _, c := range r.servers {
		err = errors.Join(err, c.stop())
	}
	if r.adm != nil {
		r.adm.Close()
	}
	if r.nats != nil {
		err = errors.Join(err, r.nats.stop())
	}
	_ = os.RemoveAll(r.dir) // a leftover temp dir is harmless; nothing to report it to
	return err
}

// deployedPhase is one measured phase, with the CPU time the variant's
// process and nats-server's took during it.
type deployedPhase struct {
	phase
	serverCPU, natsCPU time.Duration
	// loadCPU is the load generator's (this process's) CPU time.
	loadCPU time.Duration
}

// cpuPerStored is the CPU time of both processes per request answered
// 200; for the ceiling, which stores nothing, per verified request. It is
// -1 (unknown) when the phase took under minCPU: /proc counts in ticks.
func (p deployedPhase) cpuPerStored() time.Duration {
	ok := p.res.sent - p.res.failed
	if ok <= 0 || p.serverCPU+p.natsCPU < minCPU {
		return -1
	}
	return (p.serverCPU + p.natsCPU) / time.Duration(ok)
}

// runDeployed is the deployed-shape run: rounds of every variant, each
// its own process, and with -fsync the same against a nats-server that
// fsyncs every write.
func (b *ingestBench) runDeployed(ctx context.Context) error {
	if err := b.prepare(); err != nil {
		return err
	}
	defer b.closeIdle()
	b.printDeployedHeader()
	names := []string{varCeiling, varNaive, varOfferflow}
	phases, err := b.deployedRounds(ctx, false, names, b.cfg.Rounds, func(int) int { return b.cfg.N }, b.cfg.MaxPhase, true)
	if err != nil {
		return err
	}
	sum := summarizeDeployed(phases, names)
	b.printDeployedSummary(sum, true)
	var fsync map[string]deployedSummary
	if b.cfg.Fsync {
		rounds := min(b.cfg.Rounds, b.cfg.FsyncN)
		n := max(b.cfg.FsyncN/rounds, 1)
		b.out.line("")
		b.out.line("fsync on every write (nats-server with SyncAlways, the sync_interval: always of deploy/nats): %d rounds of %d requests", rounds, n)
		fsyncNames := []string{varNaive, varOfferflow}
		fp, err := b.deployedRounds(ctx, true, fsyncNames, rounds, func(int) int { return n }, b.cfg.FsyncTime/time.Duration(rounds), false)
		if err != nil {
			return err
		}
		fsync = summarizeDeployed(fp, fsyncNames)
		b.printDeployedSummary(fsync, false)
	}
	b.printDeployedDocLines(sum, fsync)
	return b.finishDeployed()
}

// deployedRounds starts a rig and measures every variant once per round;
// the order rotates from round to round, so that no variant always runs
// first or right after the same other one.
func (b *ingestBench) deployedRounds(ctx context.Context, syncAlways bool, names []string, rounds int, nFor func(int) int, maxTime time.Duration, boundIsProblem bool) (phases []deployedPhase, err error) {
	r, err := b.startDeployed(ctx, syncAlways, names)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	send := func(name string) func(ctx context.Context, q *signedReq) error {
		url := r.servers[name].url
		return func(ctx context.Context, q *signedReq) error { return b.post(ctx, url, q) }
	}
	warm := b.cfg.Warmup
	if syncAlways {
		warm = min(warm, 2*b.cfg.Senders) // enough to open every connection; each write waits for the disk
	}
	for _, name := range names {
		if err := b.warm(ctx, &ingestTarget{name: name, send: send(name)}, warm); err != nil {
			return nil, err
		}
	}
	o := b.out
	o.line("%-6s %-10s %10s %10s %10s %13s %12s %12s %7s  %s", "round", "variant", "req/s", "p50", "p99", "sent", "server CPU", "nats CPU", "others", "stored")
	for round := 1; round <= rounds; round++ {
		for k := range names {
			name := names[(k+round-1)%len(names)]
			p, err := b.measureDeployed(ctx, r, name, send(name), round, nFor(round), maxTime, boundIsProblem, syncAlways)
			if err != nil {
				return nil, err
			}
			phases = append(phases, p)
			o.line("%-6d %-10s %10s %10s %10s %13s %12s %12s %7s  %s", round, name, thousands(p.res.rate()), ms(p.res.pct(50)), ms(p.res.pct(99)),
				fmt.Sprintf("%d/%d", p.res.sent, p.res.n), p.serverCPU.Round(time.Millisecond), p.natsCPU.Round(time.Millisecond), othersPct(p.res.others), p.stored)
			b.maxOthers = max(b.maxOthers, p.res.others)
		}
	}
	return phases, nil
}

// measureDeployed runs one phase against a variant's process and reads
// the CPU time it and nats-server took meanwhile.
func (b *ingestBench) measureDeployed(ctx context.Context, r *deployedRig, name string, send func(context.Context, *signedReq) error,
	round, n int, maxTime time.Duration, boundIsProblem, syncAlways bool) (deployedPhase, error) {
	reqs := b.signedRequests(n)
	before, err := streamMsgs(ctx, r.stream)
	if err != nil {
		return deployedPhase{}, err
	}
	srv := r.servers[name]
	s0, err1 := srv.cpu()
	n0, err2 := r.nats.cpu()
	l0, err3 := processCPU(os.Getpid())
	if err := errors.Join(err1, err2, err3); err != nil {
		return deployedPhase{}, err
	}
	res := runLoad(ctx, "loadgen-"+name, n, b.cfg.Senders, maxTime, func(ctx context.Context, i int) error {
		return send(ctx, &reqs[i])
	})
	if err := ctx.Err(); err != nil {
		return deployedPhase{}, err
	}
	s1, err1 := srv.cpu()
	n1, err2 := r.nats.cpu()
	l1, err3 := processCPU(os.Getpid())
	if err := errors.Join(err1, err2, err3); err != nil {
		return deployedPhase{}, err
	}
	label := fmt.Sprintf("%s round %d", name, round)
	if syncAlways {
		label = "fsync " + label
	}
	b.noteFailures(label, res, boundIsProblem)
	p := deployedPhase{phase: phase{variant: name, round: round, res: res, stored: "-"}, serverCPU: s1 - s0, natsCPU: n1 - n0, loadCPU: l1 - l0}
	// runLoad counts every process but this one as others; the variant
	// and nats-server are part of the measurement here.
	if p.res.others >= 0 && res.elapsed > 0 {
		p.res.others = max(0, p.res.others-float64(p.serverCPU+p.natsCPU)/float64(res.elapsed*time.Duration(runtime.NumCPU())))
	}
	if name != varCeiling {
		if p.stored, err = b.checkStored(ctx, r.stream, before, res, label); err != nil {
			return deployedPhase{}, err
		}
	}
	return p, nil
}

// deployedSummary is a variant's figures over its rounds: the median round
// by rate, the spread of rates, and the median CPU time per stored webhook.
type deployedSummary struct {
	name             string
	rounds           []deployedPhase
	median           deployedPhase
	minRate, maxRate float64
	cpu              time.Duration // median over rounds of cpuPerStored
	loadCPU          time.Duration // median over rounds of the load generator's CPU per request
}

func (s deployedSummary) rate() float64 { return s.median.res.rate() }

func summarizeDeployed(phases []deployedPhase, names []string) map[string]deployedSummary {
	out := map[string]deployedSummary{}
	for _, name := range names {
		s := deployedSummary{name: name}
		for _, p := range phases {
			if p.variant == name {
				s.rounds = append(s.rounds, p)
			}
		}
		if len(s.rounds) == 0 {
			continue
		}
		byRate := slices.Clone(s.rounds)
		slices.SortFunc(byRate, func(a, b deployedPhase) int { return cmpFloat(a.res.rate(), b.res.rate()) })
		s.median = byRate[(len(byRate)-1)/2]
		s.minRate, s.maxRate = byRate[0].res.rate(), byRate[len(byRate)-1].res.rate()
		var cpus []time.Duration
		for _, p := range s.rounds {
			if c := p.cpuPerStored(); c >= 0 {
				cpus = append(cpus, c)
			}
		}
		s.cpu = medianCPU(cpus)
		var loads []time.Duration
		for _, p := range s.rounds {
			if p.res.sent > 0 && p.loadCPU >= minCPU {
				loads = append(loads, p.loadCPU/time.Duration(p.res.sent))
			}
		}
		s.loadCPU = medianCPU(loads)
		out[name] = s
	}
	return out
}

// medianCPU is the median of ds, -1 (unknown) when there is none.
func medianCPU(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)-1)/2]
}

func (b *ingestBench) printDeployedHeader() {
	o := b.out
	o.line("offerflow bench ingest (deployed shape)")
	o.line("command:  %s", b.cfg.Command)
	o.line("settings: %s", b.cfg.Settings)
	o.line("machine:  %s; %s", machineLine(), otherCPULoad())
	o.line("body:     payment.succeeded, %d bytes, signed (Standard Webhooks), a fresh webhook-id per request", len(b.bodies[0]))
	o.line("shape:    nats-server, each variant's HTTP server and this load generator (%d senders, keep-alive) are separate", b.cfg.Senders)
	o.line("          processes on loopback TCP; they share the machine's %d CPUs.", runtime.NumCPU())
	o.line("variants: ceiling = verify only, no publish; naive = verify, json.Unmarshal, one synchronous JetStream publish;")
	o.line("          offerflow = the ingest as cmd/ingest runs it (service.RunIngest, default settings).")
	o.line("CPU:      user+system time of the variant's process and of nats-server during the phase (/proc/<pid>/stat),")
	o.line("          per request answered 200: what one stored webhook costs, steadier than req/s on a shared machine.")
	o.line("")
}

// printDeployedSummary prints the variants' figures and their ratios;
// with aims (the main run, not fsync's), whether each aim is met and the
// load generator's own cost.
func (b *ingestBench) printDeployedSummary(sum map[string]deployedSummary, aims bool) {
	o := b.out
	o.line("")
	o.line("%-10s %10s %19s %10s %10s %14s", "variant", "req/s", "spread (min-max)", "p50", "p99", "CPU/webhook")
	for _, name := range []string{varCeiling, varNaive, varOfferflow} {
		s, ok := sum[name]
		if !ok {
			continue
		}
		o.line("%-10s %10s %19s %10s %10s %14s", name, thousands(s.rate()), thousands(s.minRate)+"-"+thousands(s.maxRate),
			ms(s.median.res.pct(50)), ms(s.median.res.pct(99)), us(s.cpu))
	}
	of, nv := sum[varOfferflow], sum[varNaive]
	perRate, perRateMed := perRoundDeployed(of, nv, func(p deployedPhase) float64 { return p.res.rate() })
	perCPU, perCPUMed := perRoundDeployed(of, nv, func(p deployedPhase) float64 { return float64(p.cpuPerStored()) })
	// The aims are judged on the median of the per-round ratios: the
	// variants of a round run back to back, under the same disturbance,
	// which a ratio of medians taken from different rounds does not share.
	aim := func(text string, met bool) string {
		if !aims {
			return ""
		}
		return fmt.Sprintf(" (aim %s: %s)", text, verdict(false, met))
	}
	o.line("offerflow/naive req/s:       %.2fx median of the rounds' ratios%s; per round: %s; ratio of the median rates %s",
		perRateMed, aim("1.30x", perRateMed >= 1.3), perRate, ratio(of.rate(), nv.rate()))
	o.line("offerflow/naive CPU/webhook: %.2fx median of the rounds' ratios%s; per round: %s; ratio of the medians %s",
		perCPUMed, aim("at most 1.00x", perCPUMed > 0 && perCPUMed <= 1), perCPU, cpuRatio(of.cpu, nv.cpu))
	if !aims {
		return
	}
	if ce, ok := sum[varCeiling]; ok {
		o.line("offerflow/ceiling req/s:     %s  (aim 0.80x: %s)", ratio(of.rate(), ce.rate()), verdict(false, of.rate() >= 0.8*ce.rate()))
	}
	var loads []string
	for _, name := range []string{varCeiling, varNaive, varOfferflow} {
		if s, ok := sum[name]; ok {
			loads = append(loads, name+" "+us(s.loadCPU))
		}
	}
	o.line("load generator CPU per request (this process, not counted above): %s", strings.Join(loads, ", "))
}

// perRoundDeployed returns f(a)/f(b) for each round (the variants of one
// round run back to back) and the median of those ratios.
func perRoundDeployed(a, b deployedSummary, f func(deployedPhase) float64) (string, float64) {
	var parts []string
	var rs []float64
	for _, pa := range a.rounds {
		for _, pb := range b.rounds {
			if pa.round == pb.round && f(pb) > 0 && f(pa) >= 0 {
				r := f(pa) / f(pb)
				rs = append(rs, r)
				parts = append(parts, fmt.Sprintf("%.2fx", r))
			}
		}
	}
	if len(rs) == 0 {
		return "n/a", 0
	}
	sorted := slices.Clone(rs)
	slices.Sort(sorted)
	return strings.Join(parts, " "), sorted[(len(sorted)-1)/2]
}

func (b *ingestBench) printDeployedDocLines(sum, fsync map[string]deployedSummary) {
	o := b.out
	o.line("")
	o.line("docs/benchmarks.md (%d senders, %d-byte bodies, median of %d rounds of %d requests, %d CPUs):", b.cfg.Senders, len(b.bodies[0]), b.cfg.Rounds, b.cfg.N, runtime.NumCPU())
	o.line("| variant | req/s (min-max) | p50 | p99 | CPU per stored webhook |")
	o.line("|---|---|---|---|---|")
	for _, name := range []string{varCeiling, varNaive, varOfferflow} {
		s := sum[name]
		o.line("| %s | %s (%s-%s) | %s | %s | %s |", name, thousands(s.rate()), thousands(s.minRate), thousands(s.maxRate),
			ms(s.median.res.pct(50)), ms(s.median.res.pct(99)), us(s.cpu))
	}
	of, nv, ce := sum[varOfferflow], sum[varNaive], sum[varCeiling]
	_, rateMed := perRoundDeployed(of, nv, func(p deployedPhase) float64 { return p.res.rate() })
	_, cpuMed := perRoundDeployed(of, nv, func(p deployedPhase) float64 { return float64(p.cpuPerStored()) })
	o.line("Ratios: offerflow/naive %.2fx req/s and %.2fx CPU per webhook (medians of the rounds' ratios; of the medians above: %s and %s); offerflow/ceiling %s req/s; load generator %s CPU per request.",
		rateMed, cpuMed, ratio(of.rate(), nv.rate()), cpuRatio(of.cpu, nv.cpu), ratio(of.rate(), ce.rate()), us(of.loadCPU))
	if fsync != nil {
		fo, fn := fsync[varOfferflow], fsync[varNaive]
		o.line("With fsync on every write: offerflow %s req/s, p99 %s, %s CPU per webhook; naive %s req/s, p99 %s; offerflow/naive %s.",
			thousands(fo.rate()), ms(fo.median.res.pct(99)), us(fo.cpu), thousands(fn.rate()), ms(fn.median.res.pct(99)), ratio(fo.rate(), fn.rate()))
		o.line("fsync's cost to offerflow's ingest: %s of the req/s without it.", ratio(fo.rate(), of.rate()))
	}
}

// finishDeployed writes the end of the report and fails the run on any
// problem found (a failed request, a message not stored).
func (b *ingestBench) finishDeployed() error {
	o := b.out
	o.line("")
	o.line("others: the share of all CPUs' time that processes outside the bench (not the load generator, the variant or")
	o.line("        nats-server) took during a phase. %s", contention(b.maxOthers))
	return b.conclude("ingest", "every request answered 200 and every phase's messages are stored: OK")
}

// cpuRatio is a/b of two CPU times per webhook, n/a when either is unknown.
func cpuRatio(a, b time.Duration) string {
	if a < 0 || b <= 0 {
		return "n/a"
	}
	return ratio(float64(a), float64(b))
}

// us formats a CPU time per webhook in microseconds; negative is unknown.
func us(d time.Duration) string {
	if d < 0 {
		return "n/a (short)"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
