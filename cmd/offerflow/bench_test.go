package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchCommand runs both benches through run at the smallest sizes and
// checks that the flags reach them: the command and settings lines, and
// figures that follow from the flags' values. The benches themselves are
// tested in internal/bench.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-servers, HTTP servers and a worker")
	}
	t.Setenv(envRunMain, "1") // for the processes bench ingest starts: this binary
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"ingest", []string{"ingest", "-n", "50", "-c", "4", "-rounds", "1", "-warmup", "0", "-fsync=false"}, []string{
			"offerflow bench ingest (deployed shape)\n",
			"command:  offerflow bench ingest -n 50 -c 4 -rounds 1 -warmup 0 -fsync=false\n",
			"settings: -body-bytes=1300 -c=4 -fsync=false -fsync-n=5000 -fsync-time=15s -inprocess=false -max-phase=1m0s -n=50 -rounds=1 -warmup=0\n",
			"this load generator (4 senders, keep-alive) are separate",
			"OK +50",
			"every request answered 200 and every phase's messages are stored: OK",
		}},
		{"ingest in-process", []string{"ingest", "-inprocess", "-n", "50", "-c", "4", "-rounds", "1", "-warmup", "0", "-fsync=false"}, []string{
			"command:  offerflow bench ingest -inprocess -n 50 -c 4 -rounds 1 -warmup 0 -fsync=false\n",
			"the load generator (4 senders, keep-alive)",
			"OK +50",
			"every request answered 200 and every phase's messages are stored: OK",
		}},
		{"growth", []string{"growth", "-levels", "100,400", "-measure", "100", "-rate", "100"}, []string{
			"command:  offerflow bench growth -levels 100,400 -measure 100 -rate 100\n",
			"settings: -body-bytes=1300 -drain=30m0s -levels=100,400 -measure=100 -rate=100\n",
			"from 100 to 400 stored webhooks (x4):",
			"every webhook answered 200 and its access.granted effect was seen: OK",
		}},
		{"worker", []string{"worker", "-n", "100", "-customers", "10", "-dup-pct", "10", "-concurrency", "2", "-refs=false"}, []string{
			"command:  offerflow bench worker -n 100 -customers 10 -dup-pct 10 -concurrency 2 -refs=false\n",
			"settings: -concurrency=2 -customers=10 -dup-pct=10 -n=100 -ref-parallel=32 -ref-time=20s -refs=false -seed=1 -serial-procs=1 -sync-always=false -timeout=3m0s\n",
			"stream:   100 messages: 90 events of 10 customers, 10 second deliveries",
			"worker: 2 handlers",
			"access check: 10 customers compared with the model, mismatches 0: OK",
		}},
	}
	tests = append(tests, []struct {
		name string
		args []string
		want []string
	}{
		{"offers", []string{"offers", "-n", "30", "-rate", "100", "-accepts", "5", "-accept-c", "2"}, []string{
			"offerflow bench offers (deployed shape, throughput mode)\n",
			"command:  offerflow bench offers -n 30 -rate 100 -accepts 5 -accept-c 2\n",
			"the worker's DODO_RATE_LIMIT is 0 (off)",
			"access.granted 30, offers.created 30, repeated 0",
			"accept path: 5 offers accepted with their tokens, 2 at once",
			"outcomes map[charged:5]",
			"no offer twice: OK",
		}},
		{"offers burst", []string{"offers", "-burst", "-n", "20", "-dodo-rate-limit", "1200", "-dodo-rate-burst", "5"}, []string{
			"offerflow bench offers (deployed shape, burst mode)\n",
			"DODO_RATE_LIMIT=1200 a minute, DODO_RATE_BURST=5",
			"access.granted: 20 of 20",
			"offers.created: 20 of 20 (distinct offers 20, repeated 0, missing 0)",
			"offerflow_dodo_rate_limit_wait_seconds (the worker): ",
			"no offer twice: OK",
		}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var buf bytes.Buffer
			err := run(ctx, append([]string{"offerflow", "bench"}, tt.args...), noEnv, &buf)
			out := buf.String()
			if err != nil {
				t.Fatalf("run: %v\noutput:\n%s", err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
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
		{"growth decreasing levels", []string{"growth", "-levels", "10k,1k"}},
		{"growth zero rate", []string{"growth", "-rate", "0"}},
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

func noEnv(string) string { return "" }
