package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/bench"
)

// runBenchIngest is offerflow bench ingest: the ingest's throughput beside
// a verify-only ceiling and a naive ingest.
func runBenchIngest(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg bench.IngestConfig
	fs := flag.NewFlagSet("offerflow bench ingest", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&cfg.N, "n", 20000, "requests per measured phase")
	fs.IntVar(&cfg.Senders, "c", 64, "concurrent senders")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "rounds; deployed: each runs ceiling, naive and offerflow once, in an order that rotates; -inprocess: ceiling, naive, offerflow and jetstream-raw, in that order")
	fs.IntVar(&cfg.Warmup, "warmup", 500, "requests sent to each server before measuring (not counted)")
	fs.IntVar(&cfg.BodyBytes, "body-bytes", 1300, "approximate body size; payment.succeeded bodies are padded in data.metadata up to it (0: unpadded)")
	fs.DurationVar(&cfg.MaxPhase, "max-phase", time.Minute, "time bound of one measured phase: no new request is sent after it")
	fs.BoolVar(&cfg.Fsync, "fsync", true, "also measure with a second nats-server that fsyncs every write (SyncAlways)")
	fs.IntVar(&cfg.FsyncN, "fsync-n", 5000, "requests per variant with fsync on every write, spread over the rounds")
	fs.DurationVar(&cfg.FsyncTime, "fsync-time", 15*time.Second, "time bound per variant with fsync on every write, spread over the rounds (each write waits for the disk)")
	fs.BoolVar(&cfg.InProcess, "inprocess", false, "run nats-server, the variants and the load generator in this one process (the old shape; adds jetstream-raw) instead of each in its own")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles: deployed, one per process, FILE.nats, FILE.offerflow, ... and the load generator's FILE; -inprocess, one of the whole run, labelled part=<variant>|loadgen-<variant>|nats-server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.Spawn, err = spawner(); err != nil {
		return err
	}
	cfg.Command, cfg.Settings = commandLine("ingest", args), flagSettings(fs)
	return bench.Ingest(ctx, cfg, stdout)
}

// runBenchE2E is offerflow bench e2e: webhook-to-effect latency at fixed
// rates, nats-server, ingest and worker each a process of its own.
func runBenchE2E(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg bench.E2EConfig
	fs := flag.NewFlagSet("offerflow bench e2e", flag.ContinueOnError)
	fs.SetOutput(stdout)
	rates := fs.String("rates", "100,1000,2000", "webhooks per second, one phase each, comma-separated")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each phase sends")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "requests awaiting their answer at most; a send due meanwhile waits and the phase reports how far it fell behind")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds; each runs every rate once")
	fs.DurationVar(&cfg.Settle, "settle", 30*time.Second, "how long to wait for the last effects after a phase's last send")
	fs.IntVar(&cfg.BodyBytes, "body-bytes", 1300, "approximate body size; payment.succeeded bodies are padded in data.metadata up to it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.Rates, err = bench.ParseRates(*rates); err != nil {
		return err
	}
	if cfg.Spawn, err = spawner(); err != nil {
		return err
	}
	cfg.Command, cfg.Settings = commandLine("e2e", args), flagSettings(fs)
	return bench.E2E(ctx, cfg, stdout)
}

// runBenchOffers is offerflow bench offers: the offer path end to end,
// nats-server, Dodo's stand-in, ingest and worker each a process of its own.
func runBenchOffers(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg bench.OffersConfig
	fs := flag.NewFlagSet("offerflow bench offers", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&cfg.N, "n", 5000, "payments per phase (-burst: the burst)")
	fs.IntVar(&cfg.Rate, "rate", 1000, "webhooks per second sent")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "webhooks awaiting their answer at most")
	fs.IntVar(&cfg.Accepts, "accepts", 1000, "offers accepted with their tokens after the throughput phases (0: none; not with -burst)")
	fs.IntVar(&cfg.AcceptSenders, "accept-c", 32, "accepts at once")
	fs.BoolVar(&cfg.Burst, "burst", false, "burst mode: -n payments with the worker at -dodo-rate-limit (default Dodo's 240 a minute): do grants wait for offers, are offers lost or doubled")
	fs.IntVar(&cfg.DodoRateLimit, "dodo-rate-limit", 0, "the worker's DODO_RATE_LIMIT, requests a minute; default 0 (off) in throughput mode, 240 with -burst")
	fs.IntVar(&cfg.DodoRateBurst, "dodo-rate-burst", 40, "the worker's DODO_RATE_BURST")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Minute, "how long to wait for the last offers after the sending (-burst: after the time the rate limit needs)")
	fs.IntVar(&cfg.BodyBytes, "body-bytes", 1300, "approximate body size; payment.succeeded bodies are padded in data.metadata up to it")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "have the worker write its CPU profile to FILE.worker (each worker started: the last one's stays)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	limitSet := false
	fs.Visit(func(f *flag.Flag) { limitSet = limitSet || f.Name == "dodo-rate-limit" })
	if cfg.Burst && !limitSet {
		cfg.DodoRateLimit = 240
	}
	var err error
	if cfg.Spawn, err = spawner(); err != nil {
		return err
	}
	cfg.Command, cfg.Settings = commandLine("offers", args), flagSettings(fs)
	return bench.Offers(ctx, cfg, stdout)
}

// runBenchGrowth is offerflow bench growth: CPU per event and memory of
// each process as the store grows, nats-server, ingest and worker each a
// process of its own.
func runBenchGrowth(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg bench.GrowthConfig
	fs := flag.NewFlagSet("offerflow bench growth", flag.ContinueOnError)
	fs.SetOutput(stdout)
	levels := fs.String("levels", "10k,100k,1M", "stored webhooks at which to measure, comma-separated, increasing (10k and 1M are accepted)")
	fs.IntVar(&cfg.Rate, "rate", 500, "webhooks per second of each level's measured phase")
	fs.IntVar(&cfg.Measure, "measure", 5000, "webhooks sent over HTTP in each level's measured phase")
	fs.DurationVar(&cfg.Drain, "drain", 30*time.Minute, "how long the worker may take to process one level's fill")
	fs.IntVar(&cfg.BodyBytes, "body-bytes", 1300, "approximate body size; payment.succeeded bodies are padded in data.metadata up to it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.Levels, err = bench.ParseLevels(*levels); err != nil {
		return err
	}
	if cfg.Spawn, err = spawner(); err != nil {
		return err
	}
	cfg.Command, cfg.Settings = commandLine("growth", args), flagSettings(fs)
	return bench.Growth(ctx, cfg, stdout)
}

// runBenchServe is offerflow bench serve <part>: one process of the
// deployed-shape bench, started by offerflow bench ingest, not by hand.
func runBenchServe(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("bench serve takes one part: nats, ceiling, naive, offerflow, worker or standin (offerflow bench ingest, e2e and offers start these)")
	}
	return bench.Serve(ctx, args[0], getenv, stdout)
}

// runBenchWorker is offerflow bench worker: the worker's throughput on a
// stream full of access events, beside a naive step.
func runBenchWorker(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg bench.WorkerConfig
	fs := flag.NewFlagSet("offerflow bench worker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&cfg.N, "n", 50000, "messages in the stream, duplicates included")
	fs.IntVar(&cfg.Customers, "customers", 5000, "customers the events are spread over")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "the worker's concurrent handlers (0: the worker's default)")
	fs.IntVar(&cfg.DupPct, "dup-pct", 5, "percent of messages that are a second delivery of another message's webhook-id")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the event mix and the publish order")
	fs.BoolVar(&cfg.SyncAlways, "sync-always", false, "nats-server fsyncs every write (default: its usual fsync interval)")
	fs.BoolVar(&cfg.Refs, "refs", true, "also measure the naive references")
	fs.IntVar(&cfg.RefParallel, "ref-parallel", 32, "handlers of the parallel naive reference")
	fs.IntVar(&cfg.SerialProcs, "serial-procs", 1, "GOMAXPROCS while the one-at-a-time reference runs (0: unchanged); see the note in the output")
	fs.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "time bound of the worker's run to drain the stream")
	fs.DurationVar(&cfg.RefTime, "ref-time", 20*time.Second, "time bound of each naive reference; its rate is then over the messages it acknowledged")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file; samples are labelled part=worker|naive-1|naive-<n>|fill|nats-server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.Command, cfg.Settings = commandLine("worker", args), flagSettings(fs)
	return bench.Worker(ctx, cfg, stdout)
}

// flagSettings lists every flag with its effective value, so a report can
// be reproduced exactly.
func flagSettings(fs *flag.FlagSet) string {
	var parts []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Value.String() != "" {
			parts = append(parts, "-"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(parts, " ")
}

// commandLine is the command as it was given.
func commandLine(sub string, args []string) string {
	return strings.TrimSpace("offerflow bench " + sub + " " + strings.Join(args, " "))
}

// spawner starts the deployed-shape benches' processes: this binary, as
// `offerflow bench serve <part>`.
func spawner() (bench.Spawn, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the offerflow binary to start the bench's processes with: %w", err)
	}
	return func(part string) *exec.Cmd { return exec.Command(exe, "bench", "serve", part) }, nil
}
