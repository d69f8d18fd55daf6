// Command offerflow is the developer's and operator's tool.
//
//	offerflow dev           embedded NATS, ingest, worker and a demo journey, in one process
//	offerflow dodo-standin  the Dodo stand-in of dev on its own
//	offerflow bench ingest  ingest throughput against a verify-only ceiling and a naive ingest
//	offerflow bench worker  worker throughput on a stream full of access events
//	offerflow bench e2e     webhook-to-effect latency at fixed rates, every part its own process
//	offerflow bench growth  CPU per event and memory from thousands to a million stored webhooks
//	offerflow bench offers  the offer path: offers/s, Dodo calls per offer, accepts; -burst: Dodo's real rate limit
//	offerflow dlq ...       list, show and redrive dead letters
//	offerflow reconcile     feed payments and subscriptions whose webhooks were missed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h or --help: the usage was printed, as asked
		}
		fmt.Fprintln(os.Stderr, "offerflow:", err)
		os.Exit(1)
	}
}

const usage = `usage: offerflow <command> [flags]

commands:
  dev            run embedded NATS, ingest, worker and a demo journey
  dodo-standin   run the Dodo stand-in of dev on its own (Dodo's API with test cards, in memory)
  bench ingest   measure ingest throughput (requests/s, p50/p99, memory)
  bench worker   measure worker throughput (events/s)
  bench e2e      measure webhook-to-effect latency at fixed rates, every part its own process
  bench growth   measure CPU per event and memory as the store grows to a million webhooks
  bench offers   measure the offer path (offers/s, Dodo calls per offer, accepts); -burst: a burst at Dodo's rate limit
  dlq            list, show and redrive dead letters (dlq list|show|redrive)
  reconcile      find payments and subscriptions whose webhooks offerflow missed, and process them

Run 'offerflow <command> -h' for a command's flags.
`

// run dispatches to a command. Commands that talk to a deployed offerflow
// (dlq, reconcile) read its environment variables through getenv, and so
// does dodo-standin its secrets.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	switch args[1] {
	case "dev":
		return runDev(ctx, args[2:], stdout)
	case "dodo-standin":
		return runDodoStandin(ctx, args[2:], getenv, stdout)
	case "bench":
		if len(args) < 3 {
			fmt.Fprint(stdout, usage)
			return errors.New("bench needs a target: ingest, worker, e2e, offers or growth")
		}
		switch args[2] {
		case "ingest":
			return runBenchIngest(ctx, args[3:], stdout)
		case "worker":
			return runBenchWorker(ctx, args[3:], stdout)
		case "e2e":
			return runBenchE2E(ctx, args[3:], stdout)
		case "growth":
			return runBenchGrowth(ctx, args[3:], stdout)
		case "offers":
			return runBenchOffers(ctx, args[3:], stdout)
		case "serve":
			return runBenchServe(ctx, args[3:], getenv, stdout)
		}
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown bench target %q (ingest, worker, e2e, offers or growth)", args[2])
	case "dlq":
		return runDLQ(ctx, args[2:], getenv, stdout)
	case "reconcile":
		return runReconcile(ctx, args[2:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, usage)
	return fmt.Errorf("unknown command %q", args[1])
}
