package service

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// The service label of offerflow_build_info and offerflow_ready.
const (
	serviceIngest = "ingest"
	serviceWorker = "worker"
)

// scrapeTimeout bounds what a scrape waits for NATS: the readiness check
// and the consumers' lag. Prometheus's default scrape timeout is 10s; a
// NATS that does not answer in this leaves the series out (lag) or reports
// not ready, instead of failing the whole scrape.
const scrapeTimeout = 2 * time.Second

// newRegistry returns a registry with the Go runtime's and the process's
// series, offerflow_build_info and offerflow_ready, which follows ready
// (the check /readyz answers with) at each scrape.
func newRegistry(service string, ready func(context.Context) error) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	version, revision, goVersion := buildInfo()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "offerflow_build_info",
		Help: "Always 1; its labels say which build of which service runs.",
	}, []string{"service", "version", "revision", "go_version"})
	info.WithLabelValues(service, version, revision, goVersion).Set(1)
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "offerflow_ready",
		Help:        "1 while the service is ready (what /readyz answers 200 for), else 0.",
		ConstLabels: prometheus.Labels{"service": service},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		defer cancel()
		if ready(ctx) != nil {
			return 0
		}
		return 1
	})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info, up)
	return reg
}

// buildInfo returns the main module's version ("(devel)" when built from a
// checkout), the VCS revision the go command stamped ("unknown" without
// one; "-dirty" when the tree had changes) and the Go version.
func buildInfo() (version, revision, goVersion string) {
	version, revision, goVersion = "unknown", "unknown", runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, revision, goVersion
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && revision != "unknown" {
		revision += "-dirty"
	}
	return version, revision, goVersion
}

// consumerMetrics are the worker's series of its consumers: the two it
// always had (offerflow_worker_*, across consumers) and the per-consumer
// ones (label consumer, the durable name).
type consumerMetrics struct {
	handled      *prometheus.HistogramVec
	deadLetters  *prometheus.CounterVec
	processed    *prometheus.CounterVec
	failed       *prometheus.CounterVec
	redelivered  *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	effect       *prometheus.HistogramVec
	pullErrors   *prometheus.CounterVec
}

// newConsumerMetrics registers the consumers' series on reg.
func newConsumerMetrics(reg prometheus.Registerer) *consumerMetrics {
	consumer := []string{"consumer"}
	m := &consumerMetrics{
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "offerflow_worker_handled_seconds",
			Help:    "Handled deliveries by outcome (ok, retry, dead_letter) and their duration.",
			Buckets: prometheus.DefBuckets,
		}, []string{"outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_worker_dead_letters_total",
			Help: "Messages dead-lettered, by kind (permanent, max_deliveries).",
		}, []string{"kind"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_consumer_processed_total",
			Help: "Deliveries whose handler succeeded and that were acknowledged, by consumer.",
		}, consumer),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_consumer_failed_total",
			Help: "Deliveries whose handler returned an error (retried later or dead-lettered), by consumer.",
		}, consumer),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_consumer_redelivered_total",
			Help: "Deliveries of a message delivered before (JetStream's delivery count above 1), by consumer.",
		}, consumer),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_consumer_dead_lettered_total",
			Help: "Messages dead-lettered (published on offerflow.deadletter.> and terminated), by consumer.",
		}, consumer),
		effect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "offerflow_webhook_effect_seconds",
			Help: "Time from JetStream storing a message to the end of its successful handling (retries and backlog included), by consumer.",
			// From a handler's milliseconds to a backlog of half an hour:
			// redeliveries back off up to WORKER_BACKOFF_MAX (5m).
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, consumer),
		pullErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_consumer_pull_errors_total",
			Help: "Errors pulling from a JetStream consumer (no leader to answer, a missed heartbeat, a leadership change), by consumer.",
		}, consumer),
	}
	reg.MustRegister(m.handled, m.deadLetters, m.processed, m.failed, m.redelivered, m.deadLettered, m.effect, m.pullErrors)
	return m
}

// hooks returns the runner's hooks for the consumer named durable. Its
// counters start at zero, so that rates and alerts see the series before
// the first message.
func (m *consumerMetrics) hooks(durable string) natsbus.ConsumerMetrics {
	processed := m.processed.WithLabelValues(durable)
	failed := m.failed.WithLabelValues(durable)
	redelivered := m.redelivered.WithLabelValues(durable)
	deadLettered := m.deadLettered.WithLabelValues(durable)
	effect := m.effect.WithLabelValues(durable)
	pullErrors := m.pullErrors.WithLabelValues(durable)
	return natsbus.ConsumerMetrics{
		PullErrors: func(string) { pullErrors.Inc() },
		Handled:    func(outcome string, d time.Duration) { m.handled.WithLabelValues(outcome).Observe(d.Seconds()) },
		DeadLetters: func(kind string) {
			m.deadLetters.WithLabelValues(kind).Inc()
			deadLettered.Inc()
		},
		Settled: func(d natsbus.Delivery, outcome string, at time.Time) {
			if d.NumDelivered > 1 {
				redelivered.Inc()
			}
			// The runner's outcomes: ok (acked), retry, dead_letter.
			if outcome != "ok" {
				failed.Inc()
				return
			}
			processed.Inc()
			// Both times are real: JetStream's clock and the runner's.
			effect.Observe(max(0, at.Sub(d.Published).Seconds()))
		},
	}
}

// lagCollector reports each consumer's lag at scrape time: one consumer
// info request and one message read per consumer, all within
// scrapeTimeout. A consumer NATS cannot describe in time has no series in
// that scrape (absent, not a stale or made-up figure), and the failure is
// logged.
type lagCollector struct {
	lag       func(ctx context.Context, stream, durable string) (natsbus.ConsumerLag, error)
	consumers []natsbus.ConsumerConfig
	log       *zap.Logger
	pending   *prometheus.Desc
	oldest    *prometheus.Desc
}

func newLagCollector(conn *natsbus.Conn, log *zap.Logger, consumers ...natsbus.ConsumerConfig) *lagCollector {
	return &lagCollector{
		lag:       conn.ConsumerLag,
		consumers: consumers,
		log:       log,
		pending: prometheus.NewDesc("offerflow_consumer_pending_messages",
			"Messages of the consumer's stream not yet acknowledged: not yet delivered plus delivered and awaiting an ack.",
			[]string{"consumer"}, nil),
		oldest: prometheus.NewDesc("offerflow_consumer_oldest_pending_age_seconds",
			"Age of the oldest message not yet acknowledged (the first after the consumer's ack floor), 0 when none.",
			[]string{"consumer"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
}

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, cc := range c.consumers {
		lag, err := c.lag(ctx, cc.Stream, cc.Durable)
		if err != nil {
			c.log.Warn("consumer lag for /metrics", zap.String("consumer", cc.Durable), zap.Error(err))
			continue
		}
		age := 0.0
		if !lag.Oldest.IsZero() {
			// JetStream's timestamps are on the real clock.
			age = max(0, time.Since(lag.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(lag.Pending), cc.Durable)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, cc.Durable)
	}
}

// dodoHTTPClient returns the HTTP client of the Dodo client: each attempt
// is counted and timed per operation (dodo.Operation) on reg, and is a
// client span of tp.
func dodoHTTPClient(reg prometheus.Registerer, tp trace.TracerProvider) *http.Client {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "offerflow_dodo_requests_total",
		Help: "HTTP requests to Dodo's API (each attempt), by operation and status: the HTTP status code, or error when no answer came.",
	}, []string{"operation", "status"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "offerflow_dodo_request_duration_seconds",
		Help:    "Time from sending a request to Dodo's API to its answer's headers (or the failure), by operation.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"operation"})
	reg.MustRegister(requests, seconds)
	var rt http.RoundTripper = &dodoMetrics{next: http.DefaultTransport, requests: requests, seconds: seconds}
	rt = otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(tp),
		// Dodo takes no part in offerflow's traces: send it no
		// traceparent of ours.
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "dodo " + dodoOperation(r)
		}),
	)
	return &http.Client{Transport: rt}
}

// limiterWaitMetric registers offerflow_dodo_rate_limit_wait_seconds and
// returns the dodo client's hook that feeds it.
func limiterWaitMetric(reg prometheus.Registerer) func(operation string, d time.Duration) {
	wait := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "offerflow_dodo_rate_limit_wait_seconds",
		Help: "Time a request to Dodo's API waited for this process's rate limiter (DODO_RATE_LIMIT, DODO_RATE_BURST), by operation.",
		// From no wait at all to a minute's budget spent ahead.
		Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"operation"})
	reg.MustRegister(wait)
	return func(operation string, d time.Duration) { wait.WithLabelValues(operation).Observe(d.Seconds()) }
}

// dodoMetrics counts and times each request to Dodo's API.
type dodoMetrics struct {
	next     http.RoundTripper
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// RoundTrip implements http.RoundTripper.
func (t *dodoMetrics) RoundTrip(r *http.Request) (*http.Response, error) {
	op := dodoOperation(r)
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.requests.WithLabelValues(op, status).Inc()
	return resp, err
}

// dodoOperation is r's operation, "other" for a request the client did not
// name (never a path: a label value per id would grow without bound).
func dodoOperation(r *http.Request) string {
	if op := dodo.Operation(r.Context()); op != "" {
		return op
	}
	return "other"
}
