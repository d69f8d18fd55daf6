package bench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The benchmarks' smoke tests run both at sizes that take seconds, and
// check that they succeed and print their labelled figures. They never look
// at the figures themselves: timing is the machine's, not the code's.

// TestIngestDeployed runs the deployed shape: nats-server and each
// variant in a process of its own (this test binary, serving a part).
func TestIngestDeployed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and HTTP servers as processes")
	}
	cfg := IngestConfig{N: 300, Senders: 8, Rounds: 2, Warmup: 40, BodyBytes: 1300, MaxPhase: time.Minute,
		Fsync: true, FsyncN: 60, FsyncTime: 10 * time.Second, Spawn: testSpawn, Command: "offerflow bench ingest (test)", Settings: "-test=1"}
	out := runBench(t, func(ctx context.Context, w *bytes.Buffer) error { return Ingest(ctx, cfg, w) })
	for _, want := range []string{
		"offerflow bench ingest (deployed shape)\ncommand:  offerflow bench ingest (test)\nsettings: -test=1\n",
		"this load generator (8 senders, keep-alive) are separate",
		"1      ceiling", "1      naive", "1      offerflow",
		"2      naive", "2      offerflow", "2      ceiling",
		"OK +300",
		"offerflow/naive req/s:",
		"offerflow/naive CPU/webhook:",
		"offerflow/ceiling req/s:",
		"fsync on every write",
		"OK +30",
		"| offerflow | ",
		"fsync's cost to offerflow's ingest:",
		"every request answered 200 and every phase's messages are stored: OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("output reports a failure")
	}
}

// TestE2E runs the end-to-end bench: nats-server, ingest and worker as
// processes of their own, two rates, every effect seen.
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, the ingest and the worker as processes")
	}
	cfg := E2EConfig{Rates: []int{20, 200}, Duration: time.Second, MaxInFlight: 32, Rounds: 1, Settle: 30 * time.Second, BodyBytes: 1300,
		Spawn: testSpawn, Command: "offerflow bench e2e (test)", Settings: "-test=1"}
	out := runBench(t, func(ctx context.Context, w *bytes.Buffer) error { return E2E(ctx, cfg, w) })
	for _, want := range []string{
		"offerflow bench e2e (deployed shape)\ncommand:  offerflow bench e2e (test)\nsettings: -test=1\n",
		"1           20        20        20 ",
		"1          200       200       200 ",
		"| webhooks/s | p50 | p95 | p99 | effects/s |",
		"every webhook answered 200 and its access.granted effect was seen: OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestServeRefusesUnknownPart: a child asked for a part it does not know
// says so instead of serving nothing.
func TestServeRefusesUnknownPart(t *testing.T) {
	err := Serve(context.Background(), "nginx", func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unknown part "nginx"`) {
		t.Fatalf("got %v, want unknown part", err)
	}
}

func TestIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers and HTTP servers")
	}
	cfg := IngestConfig{N: 300, Senders: 8, Rounds: 1, Warmup: 40, BodyBytes: 2048, MaxPhase: time.Minute, InProcess: true,
		Fsync: true, FsyncN: 60, FsyncTime: 10 * time.Second, Command: "offerflow bench ingest (test)", Settings: "-test=1"}
	out := runBench(t, func(ctx context.Context, w *bytes.Buffer) error { return Ingest(ctx, cfg, w) })
	for _, want := range []string{
		"command:  offerflow bench ingest (test)\nsettings: -test=1\n",
		"the load generator (8 senders, keep-alive)",
		"1      ceiling",
		"1      naive",
		"1      offerflow",
		"1      jetstream-raw",
		"OK +300",
		"ratio offerflow/naive:",
		"ratio offerflow/ceiling:",
		"ratio naive/ceiling:",
		"offerflow p99 at 8 senders:",
		"ratio offerflow/jetstream-raw (fsync):",
		"ratio offerflow/naive (fsync):",
		"OK +60",
		"process VmHWM",
		"docs/benchmarks.md:",
		"- Ingest, offerflow: ",
		"- With fsync on every write",
		"every request answered 200 and every phase's messages are stored: OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("output reports a failure")
	}
}

func TestWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers and a worker")
	}
	cfg := WorkerConfig{N: 500, Customers: 50, Concurrency: 8, DupPct: 5, Seed: 1, Refs: true, RefParallel: 4,
		SerialProcs: 1, Timeout: 3 * time.Minute, RefTime: 20 * time.Second, Command: "offerflow bench worker (test)", Settings: "-test=1"}
	out := runBench(t, func(ctx context.Context, w *bytes.Buffer) error { return Worker(ctx, cfg, w) })
	for _, want := range []string{
		"command:  offerflow bench worker (test)\nsettings: -test=1\n",
		"stream:   500 messages: 475 events of 50 customers, 25 second deliveries",
		"worker: 8 handlers",
		"access check: 50 customers compared with the model, mismatches 0: OK",
		"dead letters: 0: OK",
		"naive step, one at a time (1 P): ",
		"naive step, 4 in parallel: ",
		"ratio worker/naive step, one at a time (1 P):",
		"ratio worker/naive step, 4 in parallel:",
		"- Worker: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// Settings the benches cannot run with are rejected before anything
// starts, with a message naming the flags.
func TestRejectsBadConfig(t *testing.T) {
	ingest := IngestConfig{N: 1, Senders: 1, Rounds: 1, MaxPhase: time.Second, FsyncN: 1, FsyncTime: time.Second, Spawn: testSpawn}
	worker := WorkerConfig{N: 10, Customers: 1, RefParallel: 1, Timeout: time.Second, RefTime: time.Second}
	tests := []struct {
		name    string
		run     func() error
		wantErr string
	}{
		{"ingest zero senders", func() error { c := ingest; c.Senders = 0; return Ingest(context.Background(), c, &bytes.Buffer{}) }, "-c"},
		{"ingest negative warm-up", func() error { c := ingest; c.Warmup = -1; return Ingest(context.Background(), c, &bytes.Buffer{}) }, "-warmup >= 0"},
		{"ingest no time for a phase", func() error { c := ingest; c.MaxPhase = 0; return Ingest(context.Background(), c, &bytes.Buffer{}) }, "-max-phase"},
		{"ingest deployed without a way to start processes", func() error { c := ingest; c.Spawn = nil; return Ingest(context.Background(), c, &bytes.Buffer{}) }, "Spawn"},
		{"e2e no rates", func() error {
			return E2E(context.Background(), E2EConfig{Duration: time.Second, MaxInFlight: 1, Rounds: 1, Settle: time.Second, Spawn: testSpawn}, &bytes.Buffer{})
		}, "-rates"},
		{"e2e zero duration", func() error {
			return E2E(context.Background(), E2EConfig{Rates: []int{1}, MaxInFlight: 1, Rounds: 1, Settle: time.Second, Spawn: testSpawn}, &bytes.Buffer{})
		}, "-duration"},
		{"worker duplicates over half", func() error { c := worker; c.DupPct = 51; return Worker(context.Background(), c, &bytes.Buffer{}) }, "-dup-pct in 0..50"},
		{"worker negative concurrency", func() error { c := worker; c.Concurrency = -1; return Worker(context.Background(), c, &bytes.Buffer{}) }, "-concurrency"},
		{"worker more customers than events", func() error { c := worker; c.Customers = 20; return Worker(context.Background(), c, &bytes.Buffer{}) }, "need at least one each"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

// runBench runs a bench and returns its output, failing the test if it
// fails or leaves goroutines behind.
func runBench(t *testing.T, bench func(context.Context, *bytes.Buffer) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	err := bench(ctx, &buf)
	out := buf.String()
	if err != nil {
		t.Fatalf("bench: %v\noutput:\n%s", err, out)
	}
	t.Log(out)
	goleak.VerifyNone(t,
		// nats-server's own goroutines end a moment after Shutdown.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
	)
	return out
}

func TestParseRates(t *testing.T) {
	tests := []struct {
		name, in string
		want     []int
		wantErr  bool
	}{
		{name: "one", in: "100", want: []int{100}},
		{name: "several with spaces", in: "100, 1000,2000", want: []int{100, 1000, 2000}},
		{name: "empty", in: "", wantErr: true},
		{name: "zero", in: "0", wantErr: true},
		{name: "negative", in: "100,-5", wantErr: true},
		{name: "not a number", in: "fast", wantErr: true},
		{name: "trailing comma", in: "100,", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRates(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) && !tt.wantErr {
				t.Fatalf("ParseRates(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseRates(f *testing.F) {
	for _, s := range []string{"100", "100,1000", "", "0", "-1", "1,,2", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rates, err := ParseRates(s)
		if err == nil && (len(rates) == 0 || slices.ContainsFunc(rates, func(r int) bool { return r < 1 })) {
			t.Fatalf("ParseRates(%q) = %v without an error", s, rates)
		}
	})
}
