package dodo

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the client, the fake servers and the Steady process
// the tests start leave no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
