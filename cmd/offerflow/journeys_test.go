package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// envRequireJourney makes TestJourneysScript fail, instead of skipping,
// where bash, curl or jq is missing or the tests run with -short: CI sets
// it, so that the script is always run there.
const envRequireJourney = "OFFERFLOW_REQUIRE_JOURNEY"

// TestJourneysScript runs docs/journeys.sh, the journeys of Dodo's upsell
// guide over HTTP, against `offerflow dev` started as a merchant starts it,
// twice: a second run against the same dev must pass too (fresh customers,
// a stand-in clock the first run moved on).
func TestJourneysScript(t *testing.T) {
	require := os.Getenv(envRequireJourney) == "1"
	skip := func(format string, args ...any) {
		t.Helper()
		if require {
			t.Fatalf(format+" (%s=1)", append(args, envRequireJourney)...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("docs/journeys.sh needs %s: %v", tool, err)
		}
	}
	if testing.Short() {
		skip("-short: the journeys take a minute")
	}
	dir := t.TempDir()
	dev := startProcess(t, nil, append([]string{"dev", "-data", dir, "-sync-always=false"}, devAddrs...)...)
	dev.waitFor(t, regexp.MustCompile(`Still running`), 120*time.Second)

	script, err := filepath.Abs(filepath.Join("..", "..", "docs", "journeys.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, "bash", script, filepath.Join(dir, "env")).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "Every journey checked.") {
			t.Fatalf("run %d of bash docs/journeys.sh: %v\n%s\n\nofferflow dev's output:\n%s", i, err, out, dev.out)
		}
		if i == 1 {
			t.Logf("bash docs/journeys.sh:\n%s", out)
		}
	}
	if err := dev.stop(t, 60*time.Second); err != nil {
		t.Fatalf("offerflow dev after SIGTERM: %v\n%s", err, dev.out)
	}
}
