package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// envServe makes the test binary a child of the deployed-shape bench:
// with it set to a part, the binary serves that part (Serve) instead of
// running tests.
const envServe = "OFFERFLOW_BENCH_TEST_SERVE"

// TestMain checks that the benches leave no goroutine behind once they
// have returned: servers, load generators, samplers, the worker and
// nats.go's helpers.
func TestMain(m *testing.M) {
	if part := os.Getenv(envServe); part != "" {
		os.Exit(serveForTest(part))
	}
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

func serveForTest(part string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, part, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 1
	}
	return 0
}

// testSpawn starts this test binary as a child serving part.
func testSpawn(part string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envServe+"="+part)
	return cmd
}
