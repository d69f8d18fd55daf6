package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// envRunMain makes the test binary the offerflow command: `offerflow bench
// ingest` starts its processes as `<this binary> bench serve <part>`,
// which in a test is this binary.
const envRunMain = "OFFERFLOW_TEST_RUN_MAIN"

// TestMain checks that what these tests start (servers, consumers, HTTP
// handlers, nats.go's helpers) leaves no goroutine behind.
func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args, os.Getenv, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "offerflow:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
