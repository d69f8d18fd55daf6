package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevCommand runs `offerflow dev` through run, as the README's first
// command does, and checks that its flags reach the stack: -data holds the
// run's files, -exit-after-demo ends it after the demo. The demo's story is
// checked in internal/devstack.
func TestDevCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var out bytes.Buffer
	err := run(ctx, []string{"offerflow", "dev", "-exit-after-demo", "-data", dir, "-sync-always=false",
		"-nats-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-dodo-addr", "127.0.0.1:0", "-log-level", "error"},
		func(string) string { return "" }, &out)
	if err != nil {
		t.Fatalf("offerflow dev: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"offerflow dev\n",
		"(JetStream; JetStream fsyncs every 2 minutes (-sync-always=false))",
		"secret    " + filepath.Join(dir, "webhook-secret"),
		"Confirmation emails (one per business change), in " + filepath.Join(dir, "inbox"),
		"Demo done; stopping (--exit-after-demo).",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
	for _, name := range []string{"rules.yaml", "webhook-secret", "nats", "inbox"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("-data %s: %v", dir, err)
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
