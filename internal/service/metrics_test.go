package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// Every series the services register, each given a sample, passes promlint,
// and the hooks count what the runner reports: redeliveries, failures,
// dead letters, the webhook-to-effect latency from JetStream's timestamp,
// Dodo's answers and its failures to answer.
func TestMetricsCountAndLint(t *testing.T) {
	ready := errors.New("not yet")
	reg := newRegistry(serviceWorker, func(context.Context) error { return ready })

	m := newConsumerMetrics(reg)
	h := m.hooks(natsbus.WorkerConsumer)
	now := time.Now()
	first := natsbus.Delivery{NumDelivered: 1, Published: now.Add(-3 * time.Second)}
	again := natsbus.Delivery{NumDelivered: 2, Published: now.Add(-time.Minute)}
	h.Settled(first, "retry", now)
	h.Settled(again, "ok", now)
	h.Settled(first, "dead_letter", now)
	h.DeadLetters(natsbus.DLQKindPermanent)
	h.Handled("ok", time.Millisecond)

	lag := newLagCollector(nil, zap.NewNop(), natsbus.ConsumerConfig{Stream: "S", Durable: "busy"}, natsbus.ConsumerConfig{Stream: "S", Durable: "gone"})
	lag.lag = func(_ context.Context, _, durable string) (natsbus.ConsumerLag, error) {
		if durable == "gone" {
			return natsbus.ConsumerLag{}, errors.New("consumer not found")
		}
		return natsbus.ConsumerLag{Pending: 7, Oldest: time.Now().Add(-90 * time.Second)}, nil
	}
	reg.MustRegister(lag)

	dodoAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer dodoAPI.Close()
	hc := dodoHTTPClient(reg, noop.NewTracerProvider())
	defer hc.CloseIdleConnections()
	for _, base := range []string{dodoAPI.URL, "http://127.0.0.1:1"} {
		c, err := dodo.New(dodo.Config{APIKey: "k", BaseURL: base, HTTPClient: hc, MaxRetries: -1, RateLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetProduct(context.Background(), "pdt_1"); err == nil {
			t.Fatal("GetProduct: no error, want one")
		}
	}

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"processed", testutil.ToFloat64(m.processed.WithLabelValues(natsbus.WorkerConsumer)), 1},
		{"failed", testutil.ToFloat64(m.failed.WithLabelValues(natsbus.WorkerConsumer)), 2},
		{"redelivered", testutil.ToFloat64(m.redelivered.WithLabelValues(natsbus.WorkerConsumer)), 1},
		{"dead-lettered", testutil.ToFloat64(m.deadLettered.WithLabelValues(natsbus.WorkerConsumer)), 1},
		{"old dead letters", testutil.ToFloat64(m.deadLetters.WithLabelValues(natsbus.DLQKindPermanent)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %g, want %g", c.name, c.got, c.want)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		seen[f.GetName()] = true
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "offerflow_ready":
				if s.GetGauge().GetValue() != 0 {
					t.Errorf("offerflow_ready %g while not ready, want 0", s.GetGauge().GetValue())
				}
			case "offerflow_webhook_effect_seconds":
				// Only the success counts: published a minute ago.
				if hs := s.GetHistogram(); hs.GetSampleCount() != 1 || hs.GetSampleSum() < 59 || hs.GetSampleSum() > 61 {
					t.Errorf("effect latency: %d samples summing %gs, want 1 of 60s", hs.GetSampleCount(), hs.GetSampleSum())
				}
			case "offerflow_consumer_pending_messages":
				if labels["consumer"] != "busy" || s.GetGauge().GetValue() != 7 {
					t.Errorf("pending %v = %g, want only busy = 7", labels, s.GetGauge().GetValue())
				}
			case "offerflow_consumer_oldest_pending_age_seconds":
				if v := s.GetGauge().GetValue(); labels["consumer"] != "busy" || v < 89 || v > 120 {
					t.Errorf("oldest pending %v = %g, want only busy, about 90s", labels, v)
				}
			case "offerflow_dodo_requests_total":
				if labels["operation"] != "get_product" || (labels["status"] != "429" && labels["status"] != "error") || s.GetCounter().GetValue() != 1 {
					t.Errorf("dodo requests %v = %g, want get_product 429 and error, 1 each", labels, s.GetCounter().GetValue())
				}
			}
		}
	}
	for _, name := range []string{"offerflow_build_info", "offerflow_ready", "offerflow_dodo_requests_total", "offerflow_dodo_request_duration_seconds",
		"offerflow_consumer_processed_total", "offerflow_consumer_failed_total", "offerflow_consumer_redelivered_total", "offerflow_consumer_dead_lettered_total",
		"offerflow_consumer_pending_messages", "offerflow_consumer_oldest_pending_age_seconds", "offerflow_webhook_effect_seconds",
		"offerflow_worker_handled_seconds", "offerflow_worker_dead_letters_total"} {
		if !seen[name] {
			t.Errorf("%s not registered", name)
		}
	}
	if n := len(fams); n < 13 {
		t.Fatalf("%d families gathered", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
