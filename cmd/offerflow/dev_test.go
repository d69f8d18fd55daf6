package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDev runs `offerflow dev` as a new user would, to the end of the demo,
// and checks the story it prints: each step's answer and what offerflow
// published in response.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"offerflow", "dev", "-exit-after-demo", "-nats-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-dodo-addr", "127.0.0.1:0", "-log-level", "error"},
		func(string) string { return "" }, &out)
	if err != nil {
		t.Fatalf("offerflow dev: %v\n%s", err, out.String())
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
		"offerflow.deadletter._invalid.json  dead letter: signed body is not JSON (permanent)",
		`"product_id": "pdt_pro"`,
		"Through Dodo's API (the stand-in",
		"offerflow.offers.created.cus_ben_",
		`upsell pdt_pro "Unlock the API and SSO": USD 50.00 due now (price 80.00), one click on VISA 4242; state open`,
		"accept <- 200 outcome charged, offer charged pay_",
		"offerflow.offers.converted.cus_ben_",
		"A second click with the same token <- 409 already_accepted (nothing charged)",
		"offerflow.offers.declined.cus_ben_",
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

// TestDevTwiceOnOneDataDir: a second run on the same -data directory runs
// the whole journey again instead of being taken for Dodo's retries.
func TestDevTwiceOnOneDataDir(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		var out bytes.Buffer
		err := run(context.Background(), []string{"offerflow", "dev", "-exit-after-demo", "-data", dir, "-nats-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-dodo-addr", "127.0.0.1:0", "-log-level", "error"},
			func(string) string { return "" }, &out)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{{"offerflow"}, {"offerflow", "nope"}, {"offerflow", "bench"}, {"offerflow", "bench", "nope"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, func(string) string { return "" }, &out); err == nil {
			t.Fatalf("run(%v) succeeded, want an error", args)
		}
		if !strings.Contains(out.String(), "usage: offerflow") && len(args) < 4 {
			t.Fatalf("run(%v) printed no usage:\n%s", args, out.String())
		}
	}
}
