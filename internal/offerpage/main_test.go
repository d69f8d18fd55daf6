package offerpage_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that what these tests start (the services, the browser's
// connection) leaves no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
