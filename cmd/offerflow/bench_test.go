package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The benchmarks' smoke tests run both commands end to end through run, at
// sizes that take seconds, and check that they succeed and print their
// labelled figures. They never look at the figures themselves: timing is
// the machine's, not the code's.

func TestBenchIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers and HTTP servers")
	}
	out := runBench(t, "ingest", "-n", "300", "-c", "8", "-rounds", "1", "-warmup", "40", "-fsync-n", "60", "-fsync-time", "10s")
	for _, want := range []string{
		"command:  offerflow bench ingest -n 300",
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

func TestBenchWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers and a worker")
	}
	out := runBench(t, "worker", "-n", "500", "-customers", "50", "-concurrency", "8", "-ref-parallel", "4")
	for _, want := range []string{
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

func TestBenchRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"ingest zero senders", []string{"ingest", "-c", "0"}},
		{"ingest extra argument", []string{"ingest", "now"}},
		{"worker more customers than events", []string{"worker", "-n", "10", "-customers", "20"}},
		{"worker unknown flag", []string{"worker", "-fast"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := run(context.Background(), append([]string{"offerflow", "bench"}, tt.args...), noEnv, &buf)
			if err == nil {
				t.Fatalf("run(%q) succeeded, want an error; output:\n%s", tt.args, buf.String())
			}
		})
	}
}

// runBench runs `offerflow bench <args>` and returns its output, failing the
// test if it fails or leaves goroutines behind.
func runBench(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	err := run(ctx, append([]string{"offerflow", "bench"}, args...), noEnv, &buf)
	out := buf.String()
	if err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out)
	}
	t.Log(out)
	goleak.VerifyNone(t,
		// nats-server's own goroutines end a moment after Shutdown.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
	)
	return out
}

func noEnv(string) string { return "" }
