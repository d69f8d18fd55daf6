package main

import (
	"context"
	"flag"
	"io"

	"github.com/offerflow/offerflow/internal/devstack"
)

// runDev is offerflow dev: embedded NATS, the Dodo stand-in, the ingest and
// the worker in one process, and a demo journey through them.
func runDev(ctx context.Context, args []string, stdout io.Writer) error {
	var cfg devstack.Config
	fs := flag.NewFlagSet("offerflow dev", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.DataDir, "data", "", "directory of the run's files: JetStream store, env file, webhook secret, emails; created if missing (default: a temporary directory removed at exit)")
	fs.StringVar(&cfg.RulesPath, "rules", "", "your rules and catalog file, read and never written; skips the demo journey, written for the demo's rules (default: the demo's, written to the data directory)")
	fs.StringVar(&cfg.NATSAddr, "nats-addr", "127.0.0.1:4222", "loopback address of the embedded NATS server (a free port is used if taken)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "ingest address (a free port is used if taken)")
	fs.StringVar(&cfg.DodoAddr, "dodo-addr", "127.0.0.1:8090", "address of the Dodo stand-in's API (a free port is used if taken)")
	fs.BoolVar(&cfg.SyncAlways, "sync-always", true, "fsync every JetStream write before acknowledging it")
	fs.BoolVar(&cfg.ExitAfterDemo, "exit-after-demo", false, "stop after the demo instead of serving until Ctrl-C")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the services")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return devstack.Run(ctx, cfg, stdout)
}
