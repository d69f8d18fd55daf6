package offerengine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offerflow/offerflow/internal/offers"
)

// Metrics are the engine's Prometheus series. They count what this process
// stored; the cluster-wide figures per rule are in the offer store
// (Engine.Stats, GET /v1/offers/stats).
type Metrics struct {
	offers    *prometheus.CounterVec
	revenue   *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	ineligble *prometheus.CounterVec
	mismatch  *prometheus.CounterVec
}

// NewMetrics registers the engine's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_offers_total",
			Help: "Offers by rule and event: created (shown), accepted, converted, failed, declined, expired.",
		}, []string{"rule", "event"}),
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_offer_revenue_minor_units_total",
			Help: "Amount charged for converted offers, in the currency's minor units, by rule and currency.",
		}, []string{"rule", "currency"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_offer_rules_skipped_total",
			Help: "Rules passed over by reason (owned, open_offer, declined, rule_cap, condition_false, ...).",
		}, []string{"rule", "reason"}),
		ineligble: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_offers_ineligible_total",
			Help: "Offers a rule chose that Dodo's data made ineligible, by rule and reason.",
		}, []string{"rule", "reason"}),
		mismatch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "offerflow_offer_settlement_mismatches_total",
			Help: "Payment webhooks that named an offer but did not match it (customer, product, subscription, amount, currency, payment), by reason; the offer was left as it was.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.offers, m.revenue, m.skipped, m.ineligble, m.mismatch)
	return m
}

func (m *Metrics) count(o offers.Offer, s offers.State) {
	if m == nil {
		return
	}
	rule := offers.StatsKey(o)
	m.offers.WithLabelValues(rule, string(offers.EventOf(s))).Inc()
	if s == offers.Charged {
		m.revenue.WithLabelValues(rule, o.Amounts.Currency).Add(float64(o.Amounts.DueNow))
	}
}

func (m *Metrics) skip(rule, reason string) {
	if m != nil {
		m.skipped.WithLabelValues(rule, reason).Inc()
	}
}

func (m *Metrics) settlementMismatch(reason string) {
	if m != nil {
		m.mismatch.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) ineligible(rule, reason string) {
	if m != nil {
		m.ineligble.WithLabelValues(rule, reason).Inc()
	}
}
