package reconcile_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the services, the stand-in and the connections the
// tests start are all stopped when they end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
