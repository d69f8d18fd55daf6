package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the benches leave no goroutine behind once they
// have returned: servers, load generators, samplers, the worker and
// nats.go's helpers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
