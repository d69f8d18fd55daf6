package service

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

// A stop that comes while a service is still starting (here: before it
// begins) is a clean stop: nil, not an error that makes the orchestrator
// count a failed container, and no goroutine left behind (TestMain). Before,
// the worker returned "ensure consumer offerflow-worker: context canceled"
// when a test or an operator stopped it within its first moments.
func TestStopWhileStartingIsClean(t *testing.T) {
	srv := natstest.Start(t)
	empty := func(string) string { return "" }
	var ic IngestConfig
	var wc WorkerConfig
	si, sw := conf.New("ingest", empty, io.Discard), conf.New("worker", empty, io.Discard)
	ic.Declare(si)
	wc.Declare(sw)
	if err := si.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ic.NATSURL, wc.NATSURL = srv.ClientURL(), srv.ClientURL()
	ic.Secrets = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	ic.Addr, wc.MetricsAddr = "127.0.0.1:0", ""
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := RunWorker(ctx, wc, zap.NewNop(), WorkerOptions{}); err != nil {
		t.Errorf("worker stopped while starting: %v, want nil", err)
	}
	if err := RunIngest(ctx, ic, zap.NewNop(), IngestOptions{}); err != nil {
		t.Errorf("ingest stopped while starting: %v, want nil", err)
	}
	// A real failure while starting is still an error.
	wc.NATSURL = "nats://127.0.0.1:1"
	if err := RunWorker(context.Background(), wc, zap.NewNop(), WorkerOptions{}); err == nil {
		t.Error("worker with no NATS server: nil, want an error")
	}
}

// From the moment a stop is asked (SIGTERM), the ingest's /readyz answers
// 503 while it keeps serving for INGEST_DRAIN_DELAY, so load balancers stop
// sending before it drains; /healthz stays 200. Before, /readyz said ready
// until the listener closed.
func TestIngestNotReadyOnceStopping(t *testing.T) {
	ic := testIngestConfig(t)
	ic.DrainDelay = 10 * time.Second // long enough to look, whatever the machine's load
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- RunIngest(ctx, ic, zap.NewNop(), IngestOptions{Listener: ln, Ready: func(string) { close(ready) }})
	}()
	<-ready
	natstest.WaitFor(t, time.Minute, "the ingest to be ready", func() bool { return get("/readyz") == http.StatusOK })
	cancel()
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz after the stop = %d, want 503 while still serving", code)
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after the stop = %d, want 200: the process is alive", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("RunIngest: %v", err)
	}
}

// With INGEST_METRICS_ADDR, /metrics (the offer revenue figures among them)
// is served there and not on the webhook port, which anyone who sends
// webhooks can reach. Without it, /metrics stays on INGEST_ADDR. The same
// ingest checks that OFFERFLOW_CORS_ORIGINS reaches the browser routes.
func TestIngestMetricsOnTheirOwnAddress(t *testing.T) {
	ic := testIngestConfig(t)
	ic.CORSOrigins = "https://shop.example.com"
	listen := func() (net.Listener, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln, "http://" + ln.Addr().String()
	}
	main, mainURL := listen()
	metrics, metricsURL := listen()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- RunIngest(ctx, ic, zap.NewNop(), IngestOptions{Listener: main, MetricsListener: metrics, Ready: func(string) { close(ready) }})
	}()
	<-ready
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(mainURL + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the webhook port: %d, want 404", code)
	}
	natstest.WaitFor(t, time.Minute, "/metrics on its own address", func() bool {
		code, body := get(metricsURL + "/metrics")
		return code == http.StatusOK && strings.Contains(body, "go_goroutines")
	})
	if code, _ := get(mainURL + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on the webhook port: %d, want 200", code)
	}
	// OFFERFLOW_CORS_ORIGINS reaches the browser routes: an allowed
	// origin's preflight of accept is answered.
	req, _ := http.NewRequest(http.MethodOptions, mainURL+"/v1/offers/ofr_1/accept", nil)
	req.Header.Set("Origin", "https://shop.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Errorf("preflight of accept: %d %q, want 204 and the origin", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunIngest: %v", err)
	}
}

// INGEST_MAX_CONNS caps the connections served at once: with the one slot
// taken by a client that sends nothing, another request waits (in the
// kernel's accept queue, holding nothing of ours) and is served once the
// slot frees.
func TestIngestCapsConnections(t *testing.T) {
	ic := testIngestConfig(t)
	ic.MaxConns = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- RunIngest(ctx, ic, zap.NewNop(), IngestOptions{Listener: ln, Ready: func(string) { close(ready) }})
	}()
	<-ready
	idle, err := net.Dial("tcp", addr) // takes the one slot, sends nothing
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 500 * time.Millisecond}
	if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a second connection was served (%d) while the only slot was taken", resp.StatusCode)
	}
	idle.Close()
	natstest.WaitFor(t, time.Minute, "the request to be served once the slot frees", func() bool {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunIngest: %v", err)
	}
}

// testIngestConfig is the ingest's default settings on a fresh embedded
// NATS server, with a webhook secret.
func testIngestConfig(t *testing.T) IngestConfig {
	t.Helper()
	srv := natstest.Start(t)
	var ic IngestConfig
	s := conf.New("ingest", func(string) string { return "" }, io.Discard)
	ic.Declare(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ic.NATSURL = srv.ClientURL()
	ic.Secrets = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	return ic
}

// WORKER_METRICS_ADDR=off serves nothing, so a worker starts whoever holds
// the default port. Before, the only way to say none was an empty variable,
// which reads as unset: the worker took :8081 and, with it taken (another
// test, scripts/stress.sh), stopped at start.
func TestWorkerMetricsOff(t *testing.T) {
	if ln, err := net.Listen("tcp", ":8081"); err == nil {
		defer ln.Close() // held for the test; if it cannot be, someone holds it
	}
	srv := natstest.Start(t)
	env := map[string]string{"WORKER_METRICS_ADDR": "off", "NATS_URL": srv.ClientURL()}
	var wc WorkerConfig
	s := conf.New("worker", func(k string) string { return env[k] }, io.Discard)
	wc.Declare(s)
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunWorker(ctx, wc, zap.NewNop(), WorkerOptions{}) }()
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	natstest.WaitFor(t, time.Minute, "the worker's consumer", func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		_, err := js.Consumer(context.Background(), natsbus.EventsStream, natsbus.WorkerConsumer)
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker with WORKER_METRICS_ADDR=off: %v, want a clean run", err)
	}
}
