package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is this test binary run as the offerflow command (envRunMain),
// from the outside: its own process, flags and environment, its output
// (stdout and stderr, as a terminal shows them) collected.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{} // closed once the process has exited
	err  error         // what Wait returned; read after done
}

// startProcess starts `offerflow args...` with env added to the test's
// environment (a later NAME=value wins). Cleanup kills it if the test did
// not stop it.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(exe, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), envRunMain+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		p.err = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor waits until the output matches re and returns the match's first
// group (or the match), failing the test at the deadline or if the process
// exits first.
func (p *process) waitFor(t *testing.T, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m[len(m)-1]
			}
			t.Fatalf("offerflow %s exited (%v) before printing %q:\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, re, p.out)
		case <-deadline:
			t.Fatalf("offerflow %s printed no %q within %s:\n%s", strings.Join(p.cmd.Args[1:], " "), re, within, p.out)
		case <-tick.C:
		}
	}
}

// wait waits for the process to exit by itself and returns Wait's answer.
func (p *process) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("offerflow %s still running after %s:\n%s", strings.Join(p.cmd.Args[1:], " "), within, p.out)
		return nil
	}
}

// stop sends SIGTERM, as a service manager or Ctrl-C would, and returns
// what the exit says.
func (p *process) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, within)
}

// lockedBuffer is a bytes.Buffer that the process's output copier writes
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logLevelLine matches a line the services log at warn or error level, as
// their console logger writes it: time, tab, level, tab.
var logLevelLine = regexp.MustCompile(`(?m)^\S+\t(WARN|ERROR|DPANIC|PANIC|FATAL)\t.*$`)

// TestLogLevelLine: the pattern the clean-run tests rely on finds the
// lines the services really write at warn and error, and nothing else.
func TestLogLevelLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{"error", "2026-12-07T12:55:25.308Z\tERROR\tworker\tnatsbus/consumer.go:638\tdead-lettered\t{\"kind\": \"permanent\"}", true},
		{"warn", "2026-12-07T13:01:32.163Z\tWARN\tworker\tofferengine/triggers.go:80\tpayment names an offer it does not match", true},
		{"info", "2026-12-07T13:01:32.163Z\tINFO\tingest\tservice/ingest.go:80\tlistening", false},
		{"the demo's story", "   A second click with the same token <- 409 already_accepted (nothing charged)", false},
		{"a word in a sentence", "Demo done; no ERROR here", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logLevelLine.MatchString(tt.line); got != tt.want {
				t.Fatalf("logLevelLine.MatchString(%q) = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}
