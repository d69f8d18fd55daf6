package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

// childEnv makes the test binary act as the worker: the kill test runs the
// real worker in its own process, so that it can be killed with SIGKILL,
// not cancelled.
const childEnv = "OFFERFLOW_TEST_WORKER_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := run(ctx, []string{"worker"}, os.Getenv, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The worker run in-process by these tests leaves no goroutine behind.
	goleak.VerifyTestMain(m,
		// The embedded server's own goroutines may finish a moment after
		// Shutdown returns in t.Cleanup.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const products = "products:\n  - {id: pdt_a, name: A, tier: 1, features: [x]}\n  - {id: pdt_b, name: B, tier: 2, features: [x, y]}\n"
	syntax := write("syntax.yaml", products+"rules:\n  - id: up\n    trigger: {event: payment.succeeded\n")
	typeErr := write("type.yaml", products+"rules:\n  - id: up\n    trigger: {event: payment.succeeded}\n    when: 'payment.amount == \"ten\"'\n    offer: {kind: cross_sell, product: pdt_b, valid_for: 1h}\n")
	good := write("good.yaml", products+"rules:\n  - id: up\n    trigger: {event: payment.succeeded}\n    offer: {kind: cross_sell, product: pdt_b, valid_for: 1h}\n")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "no NATS_URL", env: map[string]string{}, want: "NATS_URL is required"},
		{name: "bad duration", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_ACK_WAIT": "soon"}, want: `WORKER_ACK_WAIT="soon"`},
		{name: "short ledger", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "LEDGER_TTL": "24h"}, want: "ledger ttl must be at least"},
		{name: "zero concurrency", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_CONCURRENCY": "0"}, want: "WORKER_CONCURRENCY must be > 0"},
		{name: "bad rules file", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_METRICS_ADDR": "off", "OFFERFLOW_RULES": "/nonexistent/rules.yaml"}, want: "rules file"},
		{name: "rules syntax error", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_METRICS_ADDR": "off", "OFFERFLOW_RULES": syntax}, want: "syntax.yaml:"},
		{name: "rules type error", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_METRICS_ADDR": "off", "OFFERFLOW_RULES": typeErr}, want: `type.yaml:7: rule "up"`},
		{name: "offer rules without a Dodo key", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "WORKER_METRICS_ADDR": "off", "OFFERFLOW_RULES": good}, want: "DODO_API_KEY is required"},
		{name: "bad offer key", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "OFFERFLOW_OFFER_KEY": "k1:short"}, want: "OFFERFLOW_OFFER_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"worker"}, func(k string) string { return tt.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestKilledWorkerRestartsExactlyOnce: a worker process is killed with
// SIGKILL in the middle of a batch and started again; every event's effect
// (one access grant per payment) happens exactly once: each customer ends
// with access, and exactly one granted message per event was published.
func TestKilledWorkerRestartsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := natsbus.NewPublishJetStream(nc, 4096, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	pub := natsbus.NewPublisher(js, 10*time.Second)
	var batch = make([]*natsbusMsg, 0, n)
	for i := 0; i < n; i++ {
		body, _ := json.Marshal(map[string]any{
			"business_id": "bus_1", "type": "payment.succeeded", "timestamp": "2026-09-01T10:00:00Z",
			"data": map[string]any{"payload_type": "Payment", "payment_id": fmt.Sprintf("pay_%d", i), "status": "succeeded",
				"customer":     map[string]any{"customer_id": fmt.Sprintf("cus_%d", i), "email": "x@example.com", "name": "X"},
				"product_cart": []map[string]any{{"product_id": "pdt_course", "quantity": 1}}},
		})
		batch = append(batch, &natsbusMsg{id: fmt.Sprintf("msg_%d", i), body: body})
	}
	for _, m := range batch {
		if _, err := pub.PublishWebhook(ctx, "dodo.events.payment.succeeded", m.id, "1788256800", "v1,x", m.body); err != nil {
			t.Fatal(err)
		}
	}

	env := append(os.Environ(),
		childEnv+"=1",
		"NATS_URL="+srv.ClientURL(),
		"WORKER_METRICS_ADDR=off", // not the default :8081, which another test may hold
		"WORKER_ACK_WAIT=2s",
		"WORKER_BACKOFF_BASE=100ms",
		"WORKER_BACKOFF_MAX=500ms",
		"WORKER_MAX_ATTEMPTS=50",
		"LOG_LEVEL=error",
	)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	ackFloor := func() uint64 {
		c, err := js.Consumer(ctx, natsbus.EventsStream, natsbus.WorkerConsumer)
		if err != nil {
			return 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0
		}
		return info.AckFloor.Stream
	}

	first := start()
	deadline := time.Now().Add(60 * time.Second)
	for ackFloor() < n/10 {
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("the first worker made no progress in 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: no drain, no cleanup
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := ackFloor()
	if killedAt >= n {
		t.Fatalf("the worker finished all %d events before it was killed; the test proves nothing", n)
	}
	t.Logf("killed the worker with %d of %d events acknowledged", killedAt, n)

	second := start()
	deadline = time.Now().Add(120 * time.Second)
	for ackFloor() < n {
		if time.Now().After(deadline) {
			_ = second.Process.Kill()
			t.Fatalf("the restarted worker did not finish: ack floor %d of %d", ackFloor(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Graceful stop this time: SIGTERM drains and exits 0.
	_ = second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("worker did not exit cleanly on SIGTERM: %v", err)
	}

	// Every event's effect, exactly once.
	out, _ := js.Stream(ctx, natsbus.OutStream)
	info, _ := out.Info(ctx, jetstream.WithSubjectFilter("offerflow.access.granted.>"))
	if len(info.State.Subjects) != n {
		t.Fatalf("grants published for %d customers, want %d", len(info.State.Subjects), n)
	}
	for subj, count := range info.State.Subjects {
		if count != 1 {
			t.Fatalf("%s: %d grants published, want exactly 1", subj, count)
		}
	}
	if dl := countSubject(t, out, "offerflow.deadletter.>"); dl != 0 {
		t.Fatalf("%d dead letters, want 0", dl)
	}
	store, _ := natsbus.NewAccessStore(ctx, js)
	ledger, _ := natsbus.NewLedger(ctx, js, "test", time.Minute, time.Now)
	for i := 0; i < n; i++ {
		doc, _, err := store.Get(ctx, fmt.Sprintf("cus_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		v := doc.View(nil)
		if len(v.Products) != 1 || v.Products[0].ProductID != "pdt_course" || v.Products[0].Status != "active" {
			t.Fatalf("cus_%d access = %+v, want pdt_course active", i, v.Products)
		}
		if st, _ := ledger.State(ctx, fmt.Sprintf("webhook.msg_%d", i)); st != "done" {
			t.Fatalf("ledger state of msg_%d = %q, want done", i, st)
		}
	}
}

type natsbusMsg struct {
	id   string
	body []byte
}

func countSubject(t *testing.T, st jetstream.Stream, filter string) int {
	t.Helper()
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range info.State.Subjects {
		total += int(c)
	}
	return total
}

// A worker that cannot work says so and stops: /readyz answers 503 within
// seconds while NATS is unreachable, and when its consumer is gone for
// good (deleted) the process exits non-zero, so the orchestrator replaces
// it (the new one creates the consumer again). Before, the consumer loop
// ended and the worker sat healthy and idle.
func TestWorkerThatCannotWorkSaysSoAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	readyz := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := func(t *testing.T, natsURL string) (*exec.Cmd, chan error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "NATS_URL="+natsURL, "WORKER_METRICS_ADDR="+addr, "LOG_LEVEL=error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		natstest.WaitFor(t, 30*time.Second, "the worker to be ready", func() bool { return readyz() == http.StatusOK })
		return cmd, exited
	}

	t.Run("consumer deleted: exits non-zero", func(t *testing.T) {
		srv := natstest.Start(t)
		js, err := jetstream.New(natstest.Connect(t, srv))
		if err != nil {
			t.Fatal(err)
		}
		_, exited := start(t, srv.ClientURL())
		if err := js.DeleteConsumer(context.Background(), natsbus.EventsStream, natsbus.WorkerConsumer); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("worker exited with %v, want a non-zero exit code", err)
			}
			exited <- err // for the cleanup
		case <-time.After(30 * time.Second):
			t.Fatalf("the worker still runs 30s after its consumer was deleted (readyz %d)", readyz())
		}
	})

	// The server stops accepting the worker's credentials: nats.go gives
	// up after the same authorization error twice and closes the
	// connection for good. The worker must say so and exit, not sit idle.
	t.Run("connection closed for good: not ready, exits non-zero", func(t *testing.T) {
		opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
			NoSigs: true, NoLog: true, Username: "worker", Password: "old-password"}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(time.Minute) {
			t.Fatal("nats server not ready")
		}
		url := fmt.Sprintf("nats://worker:old-password@%s", srv.Addr().String())
		_, exited := start(t, url)
		changed := *opts
		changed.Password = "new-password"
		if err := srv.ReloadOptions(&changed); err != nil {
			t.Fatal(err)
		}
		natstest.WaitFor(t, 30*time.Second, "readyz to answer 503 once the connection is closed", func() bool { return readyz() != http.StatusOK })
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("worker exited with %v, want a non-zero exit code", err)
			}
			exited <- err // for the cleanup
		case <-time.After(time.Minute):
			t.Fatalf("the worker still runs a minute after its connection was closed for good (readyz %d)", readyz())
		}
	})

	t.Run("NATS down: not ready", func(t *testing.T) {
		srv := natstest.Start(t)
		start(t, srv.ClientURL())
		srv.Shutdown()
		natstest.WaitFor(t, 30*time.Second, "readyz to answer 503 with NATS down", func() bool { return readyz() == http.StatusServiceUnavailable })
	})
}
