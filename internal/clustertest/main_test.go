package clustertest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the test joins every goroutine it starts: the load's
// senders, the shoppers, the metrics scraper, the SMTP server, and the
// waits on every child process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
