package bench

// `offerflow bench ingest`: the ingest's throughput beside references
// measured in the same run, on the same machine, with the same signed
// requests and the same nats-server:
//
//   - ceiling: verifies and answers, publishes nothing. No ingest that
//     stores the message can be faster.
//   - naive: verifies, decodes the whole body to find its type, and makes
//     one synchronous JetStream publish per request.
//   - offerflow: the real handler (ingest.NewServer) with the pipelined
//     publisher.
//   - jetstream-raw: that publisher alone, without HTTP.
//
// Both publishing variants answer 200 only after their message's own
// PubAck, and the bench checks after every phase that the stream grew by
// exactly the number of requests.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/ingest"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsbus/naive"
	"github.com/offerflow/offerflow/internal/webhook"
)

// IngestConfig is what `offerflow bench ingest` measures; its flags, named
// after each field, set it.
type IngestConfig struct {
	N       int // requests per measured phase (-n)
	Senders int // concurrent senders (-c)
	// Rounds each run every variant once, in the same order (-rounds).
	Rounds int
	// Warmup requests are sent to each variant before measuring, and not
	// counted (-warmup).
	Warmup int
	// BodyBytes is the approximate body size: bodies are padded up to it
	// in data.metadata; 0 leaves them unpadded (-body-bytes).
	BodyBytes int
	// MaxPhase bounds a measured phase: no request is sent after it
	// (-max-phase).
	MaxPhase time.Duration
	// Fsync also measures on a second nats-server that fsyncs every write
	// (-fsync), with FsyncN requests per variant spread over the rounds
	// (-fsync-n), in FsyncTime per variant at most (-fsync-time).
	Fsync     bool
	FsyncN    int
	FsyncTime time.Duration
	// CPUProfile, if set, is the file a CPU profile of the whole run is
	// written to (-cpuprofile). In the deployed shape it is a prefix: each
	// process writes <prefix>.<part> (nats, ceiling, naive, offerflow;
	// .fsync added on the fsync run), and the load generator <prefix>.
	CPUProfile string
	// InProcess runs everything in this process, as the first version of
	// the bench did (-inprocess). Without it, nats-server and each variant
	// run in processes of their own, started with Spawn.
	InProcess bool
	Spawn     Spawn
	// Command and Settings are printed at the top of the report so that
	// the run can be repeated: the command as given, and every flag with
	// its effective value.
	Command, Settings string
}

// validate rejects settings the bench cannot run with; the message names
// the flags, as the settings come from them.
func (c IngestConfig) validate() error {
	if c.N < 1 || c.Senders < 1 || c.Rounds < 1 || c.Warmup < 0 || c.FsyncN < 1 || c.MaxPhase <= 0 || c.FsyncTime <= 0 {
		return errors.New("-n, -c, -rounds and -fsync-n must be > 0, -warmup >= 0, -max-phase and -fsync-time > 0")
	}
	if !c.InProcess && c.Spawn == nil {
		return errors.New("the deployed shape needs a way to start its processes (Spawn)")
	}

	return nil
}

// Names of the variants, as the report prints them.
const (
	varCeiling   = "ceiling"
	varNaive     = "naive"
	varOfferflow = "offerflow"
	varRaw       = "jetstream-raw"
)

// The ingest's limits, the same for every variant.
const (
	maxBody        = 1 << 20
	publishTimeout = 5 * time.Second
	maxPending     = 4096
)

// Ingest measures the ingest's throughput, latency and memory beside its
// references and writes the report to out. It fails if the settings are
// invalid, if the bench cannot run, or, once the report is written, if a
// request failed or a phase's messages were not all stored. It never fails
// on timing.
func Ingest(ctx context.Context, cfg IngestConfig, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	b := &ingestBench{cfg: cfg, out: report{out}, started: time.Now()}
	var runErr error
	if cfg.InProcess {
		runErr = b.run(ctx)
	} else {
		runErr = b.runDeployed(ctx)
	}
	return errors.Join(runErr, stopProfile())
}

// ingestBench holds one run's state.
type ingestBench struct {
	cfg     IngestConfig
	out     report
	started time.Time
	secret  webhook.Secret
	// secretText is secret as DODO_WEBHOOK_SECRET spells it, for the
	// deployed shape's child processes.
	secretText string
	verifier   *webhook.Verifier
	bodies     [][]byte
	// nextID numbers webhook-ids across the whole run, so that no request
	// is ever a duplicate of another and JetStream de-duplicates nothing.
	nextID int
	// load posts the webhooks (the lean load client); client makes the
	// benches' other calls (the offer API, metrics).
	load   *loadClient
	client *http.Client
	// maxOthers is the largest share of CPU other processes took during a
	// phase.
	maxOthers float64
	// problems are failed requests and failed checks; any makes the
	// command fail once the report is printed.
	problems []string
}

// signedReq is one pre-generated, signed webhook request.
type signedReq struct {
	id, ts, sig string
	body        []byte
	// raw is the request after its request line and Host header, as the
	// load client writes it (requestTail).
	raw []byte
}

// ingestTarget is one variant under test: an ingest behind its HTTP
// server, or the publisher alone.
type ingestTarget struct {
	name string
	http *httpServer   // nil for jetstream-raw
	conn *natsbus.Conn // nil for the ceiling
	// send delivers one request and returns nil once it is answered 200
	// (or, for jetstream-raw, acknowledged).
	send func(ctx context.Context, r *signedReq) error
}

func (t *ingestTarget) close() error {
	var err error
	if t.http != nil {
		err = t.http.close()
	}
	if t.conn != nil {
		t.conn.Close() // every publish has been acknowledged: nothing to drain
	}
	return err
}

// phase is one measured phase of one variant.
type phase struct {
	variant string
	round   int
	res     loadResult
	stored  string // the stream check's verdict, "" when nothing is published
}

// run measures every variant in rounds, then, with -fsync, on a server
// that fsyncs every write, and writes the report.
func (b *ingestBench) run(ctx context.Context) (err error) {
	if err := b.prepare(); err != nil {
		return err
	}
	defer b.closeIdle()
	b.printHeader()

	names := []string{varCeiling, varNaive, varOfferflow, varRaw}
	r, err := b.startRig(ctx, "offerflow-bench", false, names)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	b.out.line("nats-server %s: file storage, default fsync interval. Warming up each variant with %d requests.", r.ns.url, b.cfg.Warmup)
	if err := b.warmAll(ctx, r.targets, b.cfg.Warmup); err != nil {
		return err
	}
	b.out.line("")
	phases, err := b.runRounds(ctx, "", r.targets, r.stream, b.cfg.Rounds, func(int) int { return b.cfg.N }, b.cfg.MaxPhase, true)
	if err != nil {
		return err
	}
	sum := summarize(phases, names)
	b.printSummary(sum, phases)

	var fsyncLines []string
	if b.cfg.Fsync {
		if fsyncLines, err = b.runFsync(ctx); err != nil {
			return err
		}
	}
	return b.finish(sum, fsyncLines)
}

// prepare makes the run's signing secret, its request bodies and the HTTP
// client every variant is sent requests with.
func (b *ingestBench) prepare() error {
	var err error
	key := randomBytes(32)
	b.secret, b.secretText = webhook.NewSecret(key), "whsec_"+base64.StdEncoding.EncodeToString(key)
	b.verifier, err = webhook.NewVerifier([]webhook.Secret{b.secret}, webhook.DefaultTolerance, time.Now)
	if err != nil {
		return err
	}
	b.bodies, err = paymentBodies(max(b.cfg.N, b.cfg.FsyncN, b.cfg.Warmup), b.cfg.BodyBytes)
	if err != nil {
		return err
	}
	b.load = newLoadClient(b.cfg.Senders)
	b.client = &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: b.cfg.Senders,
			MaxConnsPerHost:     b.cfg.Senders,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
	return nil
}

func (b *ingestBench) printHeader() {
	o := b.out
	o.line("offerflow bench ingest")
	o.line("command:  %s", b.cfg.Command)
	o.line("settings: %s", b.cfg.Settings)
	o.line("machine:  %s; %s", machineLine(), otherCPULoad())
	o.line("body:     payment.succeeded, %d bytes (spec-shaped, padded in data.metadata; \"type\" is the last key, so finding it means scanning the body)", len(b.bodies[0]))
	o.line("note:     the load generator (%d senders, keep-alive), the HTTP servers and nats-server all run in this one process", b.cfg.Senders)
	o.line("          and share its CPUs; figures compare variants measured together, they are not capacities.")
	o.line("variants: ceiling = verify only, no publish; naive = verify, json.Unmarshal, one synchronous JetStream publish;")
	o.line("          offerflow = ingest.NewServer with the pipelined publisher; jetstream-raw = that publisher alone, no HTTP.")
	o.line("")
}

// finish writes the end of the report: the machine's contention, memory,
// the lines for docs/benchmarks.md, and the problems found, which fail the
// run.
func (b *ingestBench) finish(sum map[string]variantSummary, fsyncLines []string) error {
	o := b.out
	o.line("")
	o.line("others: the share of all CPUs' time other processes on this machine took during the phase. %s", contention(b.maxOthers))
	o.line("peak memory: process VmHWM %s (peak resident set of the whole process: load generator, all servers and nats-server together)", vmHWM())
	o.line("")
	o.line("docs/benchmarks.md:")
	b.printDocLines(sum)
	for _, l := range fsyncLines {
		o.line("%s", l)
	}
	o.line("")
	return b.conclude("ingest", "every request answered 200 and every phase's messages are stored: OK")
}

// rig is one nats-server with the streams, and the variants under test
// sending to it, each with its own HTTP server and NATS connection.
type rig struct {
	ns      *natsServer
	adm     *natsbus.Conn // the bench's own connection
	stream  *natsbus.Stream
	targets []*ingestTarget
}

// startRig starts a nats-server, fsyncing every write if syncAlways, and
// the named variants on it.
func (b *ingestBench) startRig(ctx context.Context, name string, syncAlways bool, names []string) (*rig, error) {
	ns, err := startNATS(ctx, name, syncAlways)
	if err != nil {
		return nil, err
	}
	adm, stream, err := b.setupStreams(ctx, ns.url)
	if err != nil {
		ns.stop()
		return nil, err
	}
	targets, err := b.startTargets(ctx, ns.url, names)
	if err != nil {
		adm.Close()
		ns.stop()
		return nil, err
	}
	return &rig{ns: ns, adm: adm, stream: stream, targets: targets}, nil
}

// close stops the variants, then the server they send to.
func (r *rig) close() error {
	var err error
	for _, t := range r.targets {
		err = errors.Join(err, t.close())
	}
	r.adm.Close()
	r.ns.stop()
	return err
}

// warmAll warms up every target in turn.
func (b *ingestBench) warmAll(ctx context.Context, targets []*ingestTarget, n int) error {
	for _, t := range targets {
		if err := b.warm(ctx, t, n); err != nil {
			return err
		}
	}
	return nil
}

// runRounds runs every target once per round, in the given order, so that
// the machine's drift spreads over all of them, and prints one row per
// phase.
// Round r (from 1) sends nFor(r) requests to each target.
func (b *ingestBench) runRounds(ctx context.Context, mode string, targets []*ingestTarget, stream *natsbus.Stream, rounds int, nFor func(round int) int, maxTime time.Duration, boundIsProblem bool) ([]phase, error) {
	o := b.out
	o.line("%-6s %-14s %10s %10s %10s %13s %11s %11s %7s  %s", "round", "variant", "req/s", "p50", "p99", "sent", "heap start", "heap peak", "others", "stored")
	var phases []phase
	for round := 1; round <= rounds; round++ {
		for _, t := range targets {
			label := strings.TrimSpace(fmt.Sprintf("%s %s round %d", mode, t.name, round))
			p, err := b.measure(ctx, t, stream, label, round, nFor(round), maxTime, boundIsProblem)
			if err != nil {
				return nil, err
			}
			phases = append(phases, p)
			o.line("%-6d %-14s %10s %10s %10s %13s %11s %11s %7s  %s", round, t.name, thousands(p.res.rate()), ms(p.res.pct(50)), ms(p.res.pct(99)),
				fmt.Sprintf("%d/%d", p.res.sent, p.res.n), mib(p.res.heapStart), mib(p.res.heapPeak), othersPct(p.res.others), p.stored)
			if p.res.others > b.maxOthers {
				b.maxOthers = p.res.others
			}
		}
	}
	return phases, nil
}

// setupStreams creates the streams on a connection of the bench's own and
// returns it with DODO_EVENTS, whose message count the checks read.
func (b *ingestBench) setupStreams(ctx context.Context, url string) (*natsbus.Conn, *natsbus.Stream, error) {
	conn, err := natsbus.Connect(natsbus.Dial{URL: url, Name: "offerflow-bench-admin"})
	if err != nil {
		return nil, nil, err
	}
	err = conn.EnsureStreams(ctx, natsbus.DefaultStreamSettings(), zap.NewNop())
	var s *natsbus.Stream
	if err == nil {
		s, err = conn.Stream(ctx, natsbus.EventsStream)
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, s, nil
}

// startTargets starts the named variants, each with its own HTTP server and
// its own NATS connection.
func (b *ingestBench) startTargets(ctx context.Context, url string, names []string) ([]*ingestTarget, error) {
	var out []*ingestTarget
	for _, name := range names {
		t, err := b.startTarget(ctx, url, name)
		if err != nil {
			for _, t := range out {
				_ = t.close() // the start error is the one worth reporting
			}
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func (b *ingestBench) startTarget(ctx context.Context, url, name string) (*ingestTarget, error) {
	t := &ingestTarget{name: name}
	if name != varCeiling {
		var err error
		// The connection's goroutines inherit the variant's profile label.
		labelled(ctx, name, func() {
			t.conn, err = natsbus.Connect(natsbus.Dial{URL: url, Name: "offerflow-bench-" + name, MaxPending: maxPending, PublishTimeout: publishTimeout})
		})
		if err != nil {
			return nil, err
		}
	}
	h, err := b.targetHandler(t)
	if err != nil {
		_ = t.close() // the handler's error is the one worth reporting
		return nil, err
	}
	if h == nil {
		return t, nil
	}
	if t.http, err = startHTTP(ctx, name, h); err != nil {
		_ = t.close()
		return nil, err
	}
	t.send = func(ctx context.Context, r *signedReq) error { return b.post(ctx, t.http.url, r) }
	return t, nil
}

// targetHandler returns t's HTTP handler, or sets t.send and returns nil
// for jetstream-raw, which has none.
func (b *ingestBench) targetHandler(t *ingestTarget) (http.Handler, error) {
	switch t.name {
	case varCeiling:
		return handleCeiling(b.verifier), nil
	case varNaive:
		return naive.Ingest(b.verifier, t.conn, maxBody, publishTimeout), nil
	case varOfferflow, varRaw:
		pub := t.conn.Publisher(publishTimeout)
		if t.name == varRaw {
			// The ingest's publisher with what the ingest would pass it,
			// minus HTTP, verification and routing.
			subject := events.Subject(events.TypePaymentSucceeded)
			t.send = func(ctx context.Context, r *signedReq) error {
				_, err := pub.PublishWebhook(ctx, subject, r.id, r.ts, r.sig, r.body)
				return err
			}
			return nil, nil
		}
		reg := prometheus.NewRegistry()
		return ingest.NewServer(ingest.Deps{
			Log:        zap.NewNop(),
			Verifier:   b.verifier,
			Publisher:  pub,
			Ready:      func(context.Context) error { return nil },
			MaxBody:    maxBody,
			RetryAfter: 5 * time.Second,
			Metrics:    ingest.NewMetrics(reg),
			Gatherer:   reg,
		}), nil
	}
	return nil, fmt.Errorf("unknown variant %q", t.name)
}

// warm sends n requests that are not measured: connections are opened,
// pools and buffers filled. Failures count as problems all the same.
func (b *ingestBench) warm(ctx context.Context, t *ingestTarget, n int) error {
	if n == 0 {
		return nil
	}
	reqs := b.signedRequests(n)
	res := runLoad(ctx, "loadgen-"+t.name, n, b.cfg.Senders, time.Minute, func(ctx context.Context, i int) error {
		return t.send(ctx, &reqs[i])
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	b.noteFailures("warm-up of "+t.name, res, true)
	return nil
}

// measure runs one phase against t and checks that the stream grew by one
// message per request answered 200. A phase that hits maxTime is a problem
// only when boundIsProblem.
func (b *ingestBench) measure(ctx context.Context, t *ingestTarget, stream *natsbus.Stream, label string, round, n int, maxTime time.Duration, boundIsProblem bool) (phase, error) {
	reqs := b.signedRequests(n)
	before, err := streamMsgs(ctx, stream)
	if err != nil {
		return phase{}, err
	}
	res := runLoad(ctx, "loadgen-"+t.name, n, b.cfg.Senders, maxTime, func(ctx context.Context, i int) error {
		return t.send(ctx, &reqs[i])
	})
	if err := ctx.Err(); err != nil {
		return phase{}, err
	}
	p := phase{variant: t.name, round: round, res: res, stored: "-"}
	b.noteFailures(label, res, boundIsProblem)
	if t.conn != nil {
		p.stored, err = b.checkStored(ctx, stream, before, res, label)
		if err != nil {
			return phase{}, err
		}
	}
	return p, nil
}

// checkStored compares the stream's growth with the requests answered 200:
// each 200 must be a stored message, and no unique id may be de-duplicated.
func (b *ingestBench) checkStored(ctx context.Context, stream *natsbus.Stream, before uint64, res loadResult, label string) (string, error) {
	after, err := streamMsgs(ctx, stream)
	if err != nil {
		return "", err
	}
	want := uint64(res.sent - res.failed)
	if got := after - before; got != want {
		b.problems = append(b.problems, fmt.Sprintf("%s: DODO_EVENTS grew by %d messages, want %d (one per 200)", label, got, want))
		return fmt.Sprintf("FAIL +%d, want +%d", after-before, want), nil
	}
	return fmt.Sprintf("OK +%d", want), nil
}

func (b *ingestBench) noteFailures(label string, res loadResult, boundIsProblem bool) {
	if res.failed > 0 {
		b.problems = append(b.problems, fmt.Sprintf("%s: %d of %d requests failed: %s", label, res.failed, res.sent, strings.Join(res.errs, "; ")))
	}
	if res.timedOut() && boundIsProblem {
		b.problems = append(b.problems, fmt.Sprintf("%s: only %d of %d requests sent within the time bound", label, res.sent, res.n))
	}
}

func streamMsgs(ctx context.Context, s *natsbus.Stream) (uint64, error) {
	st, err := s.State(ctx)
	return st.Msgs, err
}

// closeIdle closes both clients' idle connections.
func (b *ingestBench) closeIdle() {
	b.load.CloseIdleConnections()
	b.client.CloseIdleConnections()
}

// post sends one signed request and reads the whole answer, so that the
// connection is reused. Anything but 200 is a failure.
func (b *ingestBench) post(ctx context.Context, url string, r *signedReq) error {
	return b.load.post(ctx, url, r.raw)
}

// signedRequests signs the first n bodies under fresh webhook-ids, stamped
// now. Every variant gets the same bodies and headers of the same shape;
// ids differ per phase because each one is stored.
func (b *ingestBench) signedRequests(n int) []signedReq {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = b.bodies[i%len(b.bodies)]
	}
	return b.sign(bodies)
}

// sign signs each body under a fresh webhook-id, stamped now.
func (b *ingestBench) sign(bodies [][]byte) []signedReq {
	out := make([]signedReq, len(bodies))
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	for i, body := range bodies {
		b.nextID++
		id := fmt.Sprintf("msg_bench_%09d", b.nextID)
		sig := webhook.Sign(b.secret, id, now, body)
		out[i] = signedReq{id: id, ts: ts, sig: sig, body: body, raw: requestTail(id, ts, sig, body)}
	}
	return out
}

// paymentBodies returns n payment.succeeded bodies for different customers,
// payments and products, each padded to size bytes when size is larger.
func paymentBodies(n, size int) ([][]byte, error) {
	products := []string{"pdt_course_rust", "pdt_course_go", "pdt_ebook_nats", "pdt_template_pack"}
	at := time.Now().UTC().Add(-time.Minute)
	out := make([][]byte, n)
	for i := range out {
		body := payload.PaymentSucceeded(at.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("cus_bench_%06d", i%5000),
			fmt.Sprintf("pay_bench_%08d", i), products[i%len(products)], 900+i%4000)
		padded, err := padBody(body, size)
		if err != nil {
			return nil, err
		}
		out[i] = padded
	}
	return out, nil
}

// padBody grows body to size bytes with a string in data.metadata, where
// Dodo puts the merchant's own keys. A body already that large is kept.
func padBody(body []byte, size int) ([]byte, error) {
	const key = "bench_padding"
	overhead := len(`"":""`) + len(key)
	if size <= len(body)+overhead {
		return body, nil
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	data, ok := env["data"].(map[string]any)
	if !ok {
		return nil, errors.New("pad body: no data object")
	}
	md, ok := data["metadata"].(map[string]any)
	if !ok || len(md) != 0 {
		return nil, errors.New("pad body: data.metadata is not an empty object")
	}
	md[key] = strings.Repeat("x", size-len(body)-overhead)
	return json.Marshal(env)
}

// handleCeiling is the ceiling: it reads and verifies the request exactly
// as the ingest does, and answers without storing anything.
func handleCeiling(v *webhook.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ts, sig := r.Header.Get(natsbus.HeaderWebhookID), r.Header.Get(natsbus.HeaderWebhookTimestamp), r.Header.Get(natsbus.HeaderWebhookSignature)
		body, err := readSized(w, r)
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if _, err := v.Verify(id, ts, sig, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"verified"}`+"\n")
	})
}

// readSized reads the body in one allocation sized from Content-Length, as
// the ingest does, so that the ceiling is not slowed by what it reads with.
func readSized(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, maxBody)
	if n := r.ContentLength; n >= 0 && n <= maxBody {
		buf := make([]byte, n)
		_, err := io.ReadFull(rd, buf)
		return buf, err
	}
	return io.ReadAll(rd)
}

// variantSummary is a variant's figures over its rounds.
type variantSummary struct {
	name   string
	rounds []phase
	median phase // the round with the median rate
	maxP99 time.Duration
	// peakHeap is the largest heap sampled during the variant's phases;
	// heapRise the largest rise above a phase's starting heap.
	peakHeap, heapRise uint64
}

func (s variantSummary) rate() float64 { return s.median.res.rate() }

func summarize(phases []phase, names []string) map[string]variantSummary {
	out := map[string]variantSummary{}
	for _, name := range names {
		s := variantSummary{name: name}
		for _, p := range phases {
			if p.variant != name {
				continue
			}
			s.rounds = append(s.rounds, p)
			s.maxP99 = max(s.maxP99, p.res.pct(99))
			s.peakHeap = max(s.peakHeap, p.res.heapPeak)
			s.heapRise = max(s.heapRise, p.res.heapPeak-min(p.res.heapPeak, p.res.heapStart))
		}
		if len(s.rounds) == 0 {
			continue
		}
		byRate := slices.Clone(s.rounds)
		slices.SortFunc(byRate, func(a, b phase) int { return cmpFloat(a.res.rate(), b.res.rate()) })
		s.median = byRate[(len(byRate)-1)/2]
		out[name] = s
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// perRound returns a/b for each round, and their median: variants of one
// round run back to back, so these ratios suffer less from drift than the
// ratio of medians.
func perRound(a, b variantSummary) (string, float64) {
	var parts []string
	var rs []float64
	for i := range min(len(a.rounds), len(b.rounds)) {
		if rb := b.rounds[i].res.rate(); rb > 0 {
			r := a.rounds[i].res.rate() / rb
			rs = append(rs, r)
			parts = append(parts, fmt.Sprintf("%.2fx", r))
		}
	}
	if len(rs) == 0 {
		return "n/a", 0
	}
	sorted := slices.Clone(rs)
	slices.Sort(sorted)
	return strings.Join(parts, " "), sorted[(len(sorted)-1)/2]
}

func (b *ingestBench) printSummary(sum map[string]variantSummary, phases []phase) {
	o := b.out
	o.line("")
	o.line("summary: the median round by req/s, that round's p50 and p99, the worst p99 of all rounds; %d senders, %d requests per phase",
		b.cfg.Senders, b.cfg.N)
	o.line("%-14s %10s %10s %10s %10s %11s %11s", "variant", "req/s", "p50", "p99", "max p99", "peak heap", "heap rise")
	for _, name := range []string{varCeiling, varNaive, varOfferflow, varRaw} {
		s := sum[name]
		o.line("%-14s %10s %10s %10s %10s %11s %11s", name, thousands(s.rate()), ms(s.median.res.pct(50)), ms(s.median.res.pct(99)),
			ms(s.maxP99), mib(s.peakHeap), mib(s.heapRise))
	}
	o.line("heap: /memory/classes/heap/objects:bytes of the whole process, sampled every 5 ms during the variant's phases; it includes")
	o.line("      the pre-generated requests, nats-server and garbage not yet collected. \"heap rise\" is the peak above the heap at")
	o.line("      the phase's start (taken right after a GC).")
	of, nv, ce, raw := sum[varOfferflow], sum[varNaive], sum[varCeiling], sum[varRaw]
	ofNv, ofNvMed := perRound(of, nv)
	ofCe, ofCeMed := perRound(of, ce)
	nvCe, _ := perRound(nv, ce)
	ofRaw, _ := perRound(of, raw)
	o.line("")
	o.line("ratio offerflow/naive:         %s  (at least 1.10x, aim 1.30x: %s)  per round: %s, median %.2fx",
		ratio(of.rate(), nv.rate()), verdict(of.rate() >= 1.1*nv.rate(), of.rate() >= 1.3*nv.rate()), ofNv, ofNvMed)
	o.line("ratio offerflow/ceiling:       %s  (aim 0.80x: %s)  per round: %s, median %.2fx",
		ratio(of.rate(), ce.rate()), verdict(false, of.rate() >= 0.8*ce.rate()), ofCe, ofCeMed)
	o.line("ratio naive/ceiling:           %s  per round: %s", ratio(nv.rate(), ce.rate()), nvCe)
	o.line("ratio offerflow/jetstream-raw: %s  per round: %s", ratio(of.rate(), raw.rate()), ofRaw)
	p99 := of.median.res.pct(99)
	o.line("offerflow p99 at %d senders:   %s  (under 20 ms: %s; worst round %s)", b.cfg.Senders, ms(p99),
		verdict(p99 < 20*time.Millisecond, p99 < 20*time.Millisecond), ms(of.maxP99))
}

// verdict words a target check. The bench reports; it never fails on
// timing.
func verdict(must, aim bool) string {
	switch {
	case aim:
		return "met"
	case must:
		return "minimum met, aim not"
	}
	return "NOT met"
}

func (b *ingestBench) printDocLines(sum map[string]variantSummary) {
	o := b.out
	of, nv, ce, raw := sum[varOfferflow], sum[varNaive], sum[varCeiling], sum[varRaw]
	where := fmt.Sprintf("%d senders, %d-byte signed payment.succeeded bodies, median of %d rounds of %d requests; %d CPUs shared with the load generator and nats-server",
		b.cfg.Senders, len(b.bodies[0]), b.cfg.Rounds, b.cfg.N, runtime.NumCPU())
	o.line("- Ingest, offerflow: %s req/s, p50 %s, p99 %s (%s).", thousands(of.rate()), ms(of.median.res.pct(50)), ms(of.median.res.pct(99)), where)
	o.line("- Ingest, naive (verify, decode, one synchronous JetStream publish): %s req/s, p50 %s, p99 %s.", thousands(nv.rate()), ms(nv.median.res.pct(50)), ms(nv.median.res.pct(99)))
	o.line("- Ingest, ceiling (verify only, no publish): %s req/s, p50 %s, p99 %s.", thousands(ce.rate()), ms(ce.median.res.pct(50)), ms(ce.median.res.pct(99)))
	o.line("- Ingest ratios: offerflow/naive %s, offerflow/ceiling %s, naive/ceiling %s.",
		ratio(of.rate(), nv.rate()), ratio(of.rate(), ce.rate()), ratio(nv.rate(), ce.rate()))
	o.line("- JetStream alone (the ingest's publisher, no HTTP, same concurrency): %s msg/s, p99 %s.", thousands(raw.rate()), ms(raw.median.res.pct(99)))
	o.line("- Ingest peak heap (whole process, during the variant's phases): offerflow %s, naive %s, ceiling %s; process VmHWM %s.",
		mib(of.peakHeap), mib(nv.peakHeap), mib(ce.peakHeap), vmHWM())
}

// runFsync measures on a second nats-server that fsyncs every write before
// acknowledging it: JetStream's own rate in that mode (the publisher alone)
// beside the naive and the offerflow ingest. The disk's sync latency drifts
// a lot on shared machines, so the variants are interleaved in rounds too,
// and each variant's rounds are pooled. It returns the lines for docs/benchmarks.md.
func (b *ingestBench) runFsync(ctx context.Context) (lines []string, err error) {
	o := b.out
	rounds := min(b.cfg.Rounds, b.cfg.FsyncN)
	// -fsync-n requests per variant in all, spread over the rounds.
	nFor := func(round int) int {
		n := b.cfg.FsyncN / rounds
		if round <= b.cfg.FsyncN%rounds {
			n++
		}
		return n
	}
	maxTime := b.cfg.FsyncTime / time.Duration(rounds)
	o.line("")
	o.line("fsync on every write: a second nats-server with SyncAlways; %d rounds of about %d requests per variant (%d in all),", rounds, nFor(1), b.cfg.FsyncN)
	o.line("each phase bounded to %s (-fsync-time %s in all per variant); %d senders. Rounds are pooled per variant.", maxTime, b.cfg.FsyncTime, b.cfg.Senders)
	names := []string{varRaw, varNaive, varOfferflow}
	r, err := b.startRig(ctx, "offerflow-bench-fsync", true, names)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	// Enough to open every connection: each of these writes waits for the
	// disk too.
	if err := b.warmAll(ctx, r.targets, min(b.cfg.Warmup, 2*b.cfg.Senders)); err != nil {
		return nil, err
	}
	phases, err := b.runRounds(ctx, "fsync", r.targets, r.stream, rounds, nFor, maxTime, false)
	if err != nil {
		return nil, err
	}
	pooled := map[string]loadResult{}
	o.line("")
	o.line("%-14s %10s %10s %10s %13s   (fsync, rounds pooled)", "variant", "req/s", "p50", "p99", "sent")
	for _, name := range names {
		var rs []loadResult
		for _, p := range phases {
			if p.variant == name {
				rs = append(rs, p.res)
			}
		}
		r := mergeResults(rs)
		pooled[name] = r
		o.line("%-14s %10s %10s %10s %13s", name, thousands(r.rate()), ms(r.pct(50)), ms(r.pct(99)), fmt.Sprintf("%d/%d", r.sent, r.n))
	}
	of, nv, raw := pooled[varOfferflow], pooled[varNaive], pooled[varRaw]
	o.line("ratio offerflow/jetstream-raw (fsync): %s", ratio(of.rate(), raw.rate()))
	o.line("ratio offerflow/naive (fsync):         %s", ratio(of.rate(), nv.rate()))
	if of.timedOut() || nv.timedOut() || raw.timedOut() {
		o.line("note: some phases hit their time bound; a rate is over the requests sent")
	}
	lines = append(lines, fmt.Sprintf("- With fsync on every write (SyncAlways, %d requests per variant in %d interleaved rounds): offerflow %s req/s, p50 %s, p99 %s; "+
		"JetStream alone %s msg/s (offerflow/jetstream-raw %s); naive %s req/s (offerflow/naive %s).",
		of.sent, rounds, thousands(of.rate()), ms(of.pct(50)), ms(of.pct(99)), thousands(raw.rate()), ratio(of.rate(), raw.rate()),
		thousands(nv.rate()), ratio(of.rate(), nv.rate())))
	return lines, nil
}

// mergeResults pools phases of one variant: requests over total time, and
// percentiles over every latency.
func mergeResults(rs []loadResult) loadResult {
	var m loadResult
	for _, r := range rs {
		m.n += r.n
		m.sent += r.sent
		m.failed += r.failed
		m.elapsed += r.elapsed
		m.lat = append(m.lat, r.lat...)
		m.heapPeak = max(m.heapPeak, r.heapPeak)
	}
	slices.Sort(m.lat)
	return m
}

// contention words how much other processes disturbed the run.
func contention(maxOthers float64) string {
	if maxOthers > busyThreshold {
		return fmt.Sprintf("UP TO %s: OTHER WORK RAN ON THIS MACHINE; the figures are disturbed, run again on a quiet machine.", othersPct(maxOthers))
	}
	return fmt.Sprintf("At most %s: the machine was otherwise quiet.", othersPct(maxOthers))
}
