package confirm

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind: the SMTP
// servers and mailers they start are all stopped and joined.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded NATS server's own goroutines may finish a moment
		// after Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}
