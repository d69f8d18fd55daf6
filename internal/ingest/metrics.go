package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest's Prometheus series.
type Metrics struct {
	requests       *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	publishSeconds prometheus.Histogram
	duplicates     prometheus.Counter
}

// NewMetrics registers the ingest's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_ingest_requests_total",
			Help: "Webhook requests by HTTP status code.",
		}, []string{"code"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_ingest_verify_failures_total",
			Help: "Webhooks refused before publishing, by reason.",
		}, []string{"reason"}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "offerflow_ingest_publish_seconds",
			Help:    "Time from publish to JetStream acknowledgement (or failure).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "offerflow_ingest_duplicates_total",
			Help: "Webhooks whose webhook-id JetStream had already stored.",
		}),
	}
	reg.MustRegister(m.requests, m.verifyFailures, m.publishSeconds, m.duplicates)
	return m
}
