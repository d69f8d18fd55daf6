package devstack

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the stack leaves no goroutine behind once Run has
// returned: servers, services, consumers, the stand-in's webhook sender
// and nats.go's helpers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
