package service

import (
	"context"
	"io"
	"testing"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
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
