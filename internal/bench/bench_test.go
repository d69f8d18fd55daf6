package bench

import (
	"bytes"
	"context"
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
