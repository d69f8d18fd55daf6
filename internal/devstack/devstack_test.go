package devstack

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun runs the dev stack as `offerflow dev` does for a new user, to the
// end of the demo, and checks the story it prints: each step's answer and
// what offerflow published in response.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, testConfig(""), &out); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"offerflow.access.granted.cus_ana_",
		"offerflow.access.revoked.cus_ana_",
		"product pdt_course_rust status active features [course.rust] (from payment.succeeded)",
		`<- 200 {"status":"stored","duplicate":true}`,
		"product pdt_basic status revoked features [] (from subscription.plan_changed)",
		"product pdt_pro status active features [api export reports sso] (from subscription.plan_changed)",
		"product pdt_course_rust status revoked features [course.rust] (from refund.succeeded)",
		"<- 401",
		`"product_id": "pdt_pro"`,
		"Through Dodo's API (the stand-in",
		"offerflow.offers.created.cus_ben_",
		"signal plan_limit_near 0.9, stored for the workers",
		`upsell pdt_pro "Unlock the API and SSO": USD 50.00 due now (price 80.00), one click on VISA 4242; state open`,
		"accept <- 200 outcome charged, offer charged pay_",
		"offerflow.offers.converted.cus_ben_",
		"A second click with the same token <- 409 already_accepted (nothing charged)",
		"offerflow.offers.declined.cus_ben_",
		"decline <- 200 offer declined, downsell pdt_cheatsheet",
		`downsell pdt_cheatsheet "The essentials on one page, for less": USD 9.00 due now (price 9.00), one click on VISA 4242; state open`,
		"cus_card_succeeds_", "cus_card_declined_", "cus_card_insufficient_funds_", "cus_card_3ds_", "cus_card_expired_",
		`plan_upgraded by email to ben@example.com: "Your plan is now Pro"`,
		`plan_changed by email to ana@example.com: "Your plan changed to Pro"`,
		"Confirmation emails (one per business change), in ",
		"Dodo charged cus_ben_",
		"3 times in all",
		"Demo done",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "(nothing changes: offerflow publishes nothing)") != 3 {
		t.Fatalf("want exactly 3 steps with no effect (duplicate, stale, forged):\n%s", got)
	}
	if strings.Count(got, `"duplicate":true`) != 1 {
		t.Fatalf("want exactly one duplicate delivery:\n%s", got)
	}
	// One email per business change: Ben's upgrade through the offer is
	// one plan_upgraded, not also an access email about Pro.
	if strings.Contains(got, "Your access to Pro") {
		t.Fatalf("the upgrade was confirmed twice (an access email about Pro besides the plan change):\n%s", got)
	}
	if n := strings.Count(got, `to "Ben Ortiz" <ben@example.com>`); n != 3 {
		t.Fatalf("Ben got %d emails, want 3 (course, Basic, the upgrade to Pro):\n%s", n, got)
	}
}

// TestRunTwiceOnOneDataDir: a second run on the same DataDir runs the
// whole journey again instead of being taken for Dodo's retries.
func TestRunTwiceOnOneDataDir(t *testing.T) {
	// A directory that does not exist yet: the first run makes it (it
	// used to fail on writing the rules file into it).
	dir := filepath.Join(t.TempDir(), "new", "data")
	for i := 0; i < 2; i++ {
		var out bytes.Buffer
		if err := Run(context.Background(), testConfig(dir), &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
	}
}

// testConfig is `offerflow dev -exit-after-demo` on free ports, quiet but
// for errors, with its store in dir (a temporary directory if empty).
func testConfig(dir string) Config {
	return Config{
		DataDir:       dir,
		NATSAddr:      "127.0.0.1:0",
		HTTPAddr:      "127.0.0.1:0",
		DodoAddr:      "127.0.0.1:0",
		SyncAlways:    true,
		ExitAfterDemo: true,
		LogLevel:      "error",
	}
}
