// Package naive is the design Dodo's guide sketches, written directly on
// nats.go the way one writes it first: the reference that offerflow's
// benchmarks (internal/bench) measure the ingest and the worker against.
// It is correct (no 2xx before JetStream's ack, each webhook handled once)
// but not built for speed: one request/reply round trip per publish, one
// step at a time per handler. No service uses it.
//
// It lives under natsbus because it is NATS code: outside natsbus, only
// tests import nats.go.
package naive

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

// Ingest is the ingest one writes first: read the body, verify it, decode
// it to find its type, publish it with one request/reply round trip, and
// answer once JetStream has acknowledged it, within timeout. It is correct
// (no 2xx before the ack, the webhook-id as Nats-Msg-Id); it is only not
// pipelined.
func Ingest(v *webhook.Verifier, conn *natsbus.Conn, maxBody int64, timeout time.Duration) http.Handler {
	js := conn.JetStream()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		id, ts, sig := r.Header.Get(events.HeaderWebhookID), r.Header.Get(events.HeaderWebhookTimestamp), r.Header.Get(events.HeaderWebhookSignature)
		if _, err := v.Verify(id, ts, sig, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		subject := events.SubjectInvalidJSON
		var env map[string]any
		if json.Unmarshal(body, &env) == nil {
			subject = events.SubjectInvalidType
			if t, ok := env["type"].(string); ok && events.ValidType(t) {
				subject = events.Subject(t)
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		if _, err := js.PublishMsg(ctx, natsbus.WebhookMsg(subject, id, ts, sig, body)); err != nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"stored"}`+"\n")
	})
}

// Consumer is the durable consumer of the naive worker on DODO_EVENTS.
const Consumer = "offerflow-bench-naive"

// Worker is the naive worker: handlers running Step on what its consumer
// delivers. It decodes nothing and keeps no access state: it is the cost of
// the bookkeeping alone.
type Worker struct {
	failures atomic.Int64 // steps that failed and were redelivered
	wg       sync.WaitGroup
	// stopping ends the handlers and any callback waiting for one; the
	// channel of jobs is never closed, since a callback may still be
	// running after Stop.
	stopping chan struct{}
	cc       jetstream.ConsumeContext // nil if Consume failed
}

// StartWorker creates the naive worker's consumer on DODO_EVENTS (at most
// maxAckPending unacknowledged) and starts handlers on it. Goroutines it
// starts inherit the caller's profiler labels. The Worker it returns must
// be stopped, even with an error.
func StartWorker(ctx context.Context, conn *natsbus.Conn, handlers, maxAckPending int) (*Worker, error) {
	w := &Worker{stopping: make(chan struct{})}
	js := conn.JetStream()
	kv, err := js.KeyValue(ctx, natsbus.LedgerBucket)
	if err != nil {
		return w, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, natsbus.EventsStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		FilterSubject: natsbus.EventsSubjects,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
	})
	if err != nil {
		return w, err
	}
	jobs := make(chan jetstream.Msg)
	for range handlers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case m := <-jobs:
					if err := step(ctx, js, kv, m); err != nil {
						w.failures.Add(1)
						_ = m.Nak() // redelivered; the failure is counted
					}
				case <-w.stopping:
					return
				}
			}
		}()
	}
	// As the worker's runner: at most twice the handlers buffered.
	w.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case jobs <- m:
		case <-w.stopping:
		}
	}, jetstream.PullMaxMessages(2*handlers))
	return w, err
}

// Failures counts the steps that failed (and were redelivered).
func (w *Worker) Failures() int64 { return w.failures.Load() }

// Stop ends the handlers and the consumer and waits for both.
func (w *Worker) Stop() {
	close(w.stopping)
	if w.cc != nil {
		w.cc.Stop()
		<-w.cc.Closed()
	}
	w.wg.Wait()
}

// step is the naive handling of one message: claim its webhook-id (KV
// create in the ledger bucket), publish one message to OFFERFLOW and wait
// for its ack, commit (KV update), ack.
func step(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, m jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id := m.Headers().Get(events.HeaderWebhookID)
	key := natsbus.LedgerKey("webhook." + id)
	rev, err := kv.Create(ctx, key, []byte(`{"state":"claimed"}`))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return m.Ack() // a second delivery: handled before
	}
	if err != nil {
		return err
	}
	out := &nats.Msg{Subject: events.OutPrefix + "bench.naive", Data: []byte(id), Header: nats.Header{jetstream.MsgIDHeader: []string{"naive." + id}}}
	if _, err := js.PublishMsg(ctx, out); err != nil {
		return err
	}
	if _, err := kv.Update(ctx, key, []byte(`{"state":"done"}`), rev); err != nil {
		return err
	}
	return m.Ack()
}
