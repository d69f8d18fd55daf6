// Command worker consumes the webhooks stored in DODO_EVENTS through one
// durable consumer shared by every replica, and applies their effects
// exactly once: access grants and revokes, offers made and settled, and
// confirmations, published on offerflow.>. Settings: `worker -h`.
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
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h or --help: the usage was printed, as asked
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg service.WorkerConfig
	s := conf.New("worker", getenv, stdout)
	cfg.Declare(s)
	if err := s.Parse(args[1:]); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := service.NewLogger(cfg.LogLevel, false)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	tp, shutdown, err := service.NewTracerProvider(ctx, getenv, "offerflow-worker")
	if err != nil {
		return err
	}
	runErr := service.RunWorker(ctx, cfg, log, service.WorkerOptions{TracerProvider: tp})
	// Flush the spans of the last requests; a collector that does not
	// take them in time costs those spans, not the exit.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		log.Warn("flush traces", zap.Error(err))
	}
	return runErr
}
