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
		"rules     " + filepath.Join(dir, "rules.yaml"),
		"env       " + filepath.Join(dir, "env"),
		"Confirmation emails (one per business change), in " + filepath.Join(dir, "inbox"),
		"Demo done; stopping (--exit-after-demo).",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("output lacks %q:\n%s", want, got)
		}
	}
	for _, name := range []string{"rules.yaml", "webhook-secret", "env", "nats", "inbox"} {
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

// devAddrs are the address flags of a dev run beside others: free ports.
var devAddrs = []string{"-nats-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-dodo-addr", "127.0.0.1:0"}

// TestDevCleanRun runs `offerflow dev -exit-after-demo` as a process, at
// its default log level (warn), into a -data directory that does not exist
// yet: the run creates it, writes the env file a script sources, and logs
// no warning and no error, so that one in dev always means a real fault.
func TestDevCleanRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	p := startProcess(t, nil, append([]string{"dev", "-exit-after-demo", "-data", dir, "-sync-always=false"}, devAddrs...)...)
	if err := p.wait(t, 120*time.Second); err != nil {
		t.Fatalf("offerflow dev: %v\n%s", err, p.out)
	}
	out := p.out.String()
	if !strings.Contains(out, "Demo done") {
		t.Fatalf("the demo did not finish:\n%s", out)
	}
	if lines := logLevelLine.FindAllString(out, -1); len(lines) > 0 {
		t.Fatalf("a clean run logged %d warning or error lines:\n%s\n\nwhole output:\n%s", len(lines), strings.Join(lines, "\n"), out)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("-data %s was not created: %v", dir, err)
	}

	env := filepath.Join(dir, "env")
	fi, err := os.Stat(env)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600: it holds credentials", env, fi.Mode().Perm())
	}
	b, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(line, "export ") || len(value) < 2 || value[0] != '\'' || value[len(value)-1] != '\'' {
			t.Fatalf("env line %q: want export NAME='value'", line)
		}
		vars[name] = value[1 : len(value)-1]
	}
	// Each value is the one the run printed: the file and the terminal
	// agree.
	for name, printed := range map[string]string{
		"OFFERFLOW_URL":       "  ingest    ",
		"OFFERFLOW_API_TOKEN": "  API token ",
		"DODO_API_BASE_URL":   "  Dodo      ",
		"DODO_API_KEY":        "API key ",
		"NATS_URL":            "  NATS      ",
	} {
		v := vars[name]
		if v == "" || !strings.Contains(out, printed+v) {
			t.Errorf("env %s=%q: not what the run printed after %q", name, v, printed)
		}
	}
}

// TestDevRulesFile: with -rules, dev runs the services on the merchant's own
// file and never writes it, not even when it is broken; the demo journey,
// written for the demo's rules, is skipped.
func TestDevRulesFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dev := func(rules, data string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"offerflow", "dev", "-exit-after-demo", "-rules", rules, "-data", data, "-sync-always=false", "-log-level", "error"}, devAddrs...),
			func(string) string { return "" }, &out)
		return out.String(), err
	}
	tests := []struct {
		name    string
		content string
		wantErr bool
	}{
		{"a catalog of one's own", "products:\n  - {id: pdt_team, name: Team, tier: 1, features: [seats]}\n", false},
		// The services read the file: a broken one stops them, naming it.
		{"a broken file", "rules:\n  - id: no-offer\n    trigger: {event: payment.succeeded}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rules, data := filepath.Join(dir, "my-rules.yaml"), filepath.Join(dir, "data")
			if err := os.WriteFile(rules, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			then := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(rules, then, then); err != nil {
				t.Fatal(err)
			}
			out, err := dev(rules, data)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), rules) {
					t.Fatalf("offerflow dev -rules %s: %v, want an error naming the file\n%s", rules, err, out)
				}
			} else {
				if err != nil {
					t.Fatalf("offerflow dev -rules: %v\n%s", err, out)
				}
				for _, want := range []string{"rules     " + rules + "\n", "The demo journey is skipped", "Demo done"} {
					if !strings.Contains(out, want) {
						t.Fatalf("output lacks %q:\n%s", want, out)
					}
				}
			}
			b, err := os.ReadFile(rules)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.content {
				t.Fatalf("%s was rewritten:\n%s\nwant:\n%s", rules, b, tt.content)
			}
			fi, err := os.Stat(rules)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(then) {
				t.Fatalf("%s modified at %v, want untouched since %v", rules, fi.ModTime(), then)
			}
			if _, err := os.Stat(filepath.Join(data, "rules.yaml")); !os.IsNotExist(err) {
				t.Fatalf("the demo's rules were written beside the merchant's: %v", err)
			}
		})
	}
}
