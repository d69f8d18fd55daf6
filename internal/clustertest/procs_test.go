package clustertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries are the programs the test runs as processes of their own.
type binaries struct {
	natsServer, ingest, worker string
}

// buildBinaries builds nats-server (the version go.mod requires, so the
// test runs the server offerflow is tested against), the ingest and the
// worker into a temporary directory.
func buildBinaries(t testing.TB) binaries {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build nats-server, ingest and worker")
	}
	dir := t.TempDir()
	started := time.Now()
	cmd := exec.Command(gobin, "build", "-o", dir+string(filepath.Separator),
		"github.com/nats-io/nats-server/v2", "github.com/offerflow/offerflow/cmd/ingest", "github.com/offerflow/offerflow/cmd/worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built nats-server, ingest and worker in %s", time.Since(started).Round(time.Millisecond))
	return binaries{
		natsServer: filepath.Join(dir, "nats-server"),
		ingest:     filepath.Join(dir, "ingest"),
		worker:     filepath.Join(dir, "worker"),
	}
}

// proc is one child process. Its output goes to a log file (kept in the
// test's temporary directory, and its tail printed when the test fails);
// lines of interest are kept in memory for the test to wait on.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logWatch
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, once done
}

// startProc starts bin with env (and nothing else of the test's
// environment, so a NATS_URL of the developer's cannot leak in). The
// process is stopped (SIGTERM, then SIGKILL) and waited for when the test
// ends.
func startProc(t testing.TB, name, logDir, bin string, env []string, args ...string) (*proc, error) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, out: &logWatch{file: f}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait() // also waits for the copying of its output
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(15 * time.Second)
		if t.Failed() {
			t.Logf("--- last lines of %s ---\n%s", name, tail(f.Name(), 30))
		}
	})
	return p, nil
}

// kill sends SIGKILL and waits for the process to end: no drain, no
// cleanup, as a crash or an OOM kill.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to stop (SIGTERM), kills it after grace, and waits.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logWatch writes a process's output to a file and keeps, in memory, what
// the test waits for: the address of each JSON log line whose msg is
// "listening" (offerflow's services), and the lines that say a
// nats-server is ready or could not bind.
type logWatch struct {
	file *os.File

	mu      sync.Mutex
	partial []byte
	addrs   []string
	ready   bool
	bindErr string
}

func (w *logWatch) Write(b []byte) (int, error) {
	if _, err := w.file.Write(b); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *logWatch) line(l []byte) {
	switch {
	case bytes.Contains(l, []byte("Server is ready")):
		w.ready = true
	case bytes.Contains(l, []byte("address already in use")):
		w.bindErr = string(l)
	case bytes.Contains(l, []byte(`"listening"`)):
		var v struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(l, &v) == nil && v.Msg == "listening" {
			w.addrs = append(w.addrs, v.Addr)
		}
	}
}

// addr returns the address the service logged it listens on, or "".
func (w *logWatch) addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.addrs) == 0 {
		return ""
	}
	return w.addrs[len(w.addrs)-1]
}

func (w *logWatch) serverReady() (ready bool, bindErr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ready, w.bindErr
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitUntil polls cond every 20 ms until it holds or d passes; it reports
// whether cond held.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitProcAddr waits until p logs the address it listens on.
func waitProcAddr(t testing.TB, p *proc, d time.Duration) string {
	t.Helper()
	var addr string
	if !waitUntil(d, func() bool {
		addr = p.out.addr()
		return addr != "" || p.exited()
	}) || addr == "" {
		t.Fatalf("%s did not log its address within %s (exited: %v, %v)", p.name, d, p.exited(), p.err)
	}
	return addr
}

// freePorts picks n distinct loopback ports by binding them all, then
// releasing them. The nodes of a cluster must know each other's route
// ports before any starts, so the ports cannot come from the nodes
// themselves; another process may take one in between, and then the node
// that cannot bind says so and the cluster starts again on new ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var errBind = errors.New("port taken")
