package service_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// observeRules makes the worker call Dodo for a course purchase: the
// workbook's price (get_product) and the customer's cards
// (list_payment_methods) to make the cross-sell.
const observeRules = `
products:
  - {id: pdt_course, name: Course, tier: 0, features: [course]}
  - {id: pdt_workbook, name: Workbook, tier: 0, features: [workbook]}
rules:
  - id: workbook-after-course
    trigger: {event: payment.succeeded}
    when: '"pdt_course" in payment.product_ids'
    offer: {kind: cross_sell, product: pdt_workbook, valid_for: 1h}
`

// After a purchase at Dodo (its webhooks through the ingest, the worker's
// calls to Dodo to make an offer) and a signed webhook that can only be
// dead-lettered, both services' /metrics show every series of issue 12
// with the values that happened, and pass promlint.
func TestMetricsEndToEnd(t *testing.T) {
	e := testenv.Start(t, testenv.WithRules(observeRules), testenv.WithOffers(), testenv.WithWorkerMetrics())
	for _, p := range []standin.Product{
		{ID: "pdt_course", Name: "Course", Price: 4900, Currency: "USD"},
		{ID: "pdt_workbook", Name: "Workbook", Price: 1900, Currency: "USD"},
	} {
		if _, err := e.Dodo.AddProduct(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Dodo.AddCustomer(standin.Customer{ID: "cus_m", Name: "Mia", Email: "mia@example.com", Country: "US", Zipcode: "94102"}); err != nil {
		t.Fatal(err)
	}
	pm, err := e.Dodo.AddPaymentMethod("cus_m", standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030})
	if err != nil {
		t.Fatal(err)
	}
	e.Buy(t, "cus_m", pm, "pdt_course", nil)
	// Signed, so stored, but not JSON: dead-lettered on its first delivery.
	if code := e.Post(t, "msg_not_json", []byte("not json")); code != http.StatusOK {
		t.Fatalf("webhook: %d, want 200", code)
	}
	e.Settle(t)
	// The customer accepts the cross-sell (the server token stands for the
	// merchant's backend): a charge, a conversion, revenue.
	code, body := e.Call(t, http.MethodGet, "/v1/customers/cus_m/offers", e.APIToken, nil)
	open, _ := body["offers"].([]any)
	if code != http.StatusOK || len(open) != 1 {
		t.Fatalf("GET offers: %d %v, want one open offer", code, body)
	}
	offerID, _ := open[0].(map[string]any)["id"].(string)
	if code, body := e.Call(t, http.MethodPost, "/v1/offers/"+offerID+"/accept", e.APIToken, map[string]any{}); code != http.StatusOK {
		t.Fatalf("accept %s: %d %v", offerID, code, body)
	}
	// A webhook whose signature is wrong: refused, and counted.
	req, err := http.NewRequest(http.MethodPost, e.URL+testenv.WebhookPath, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("webhook-id", "msg_forged")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", resp.StatusCode)
	}
	e.Settle(t)

	const wc, sc = natsbus.WorkerConsumer, service.SignalsConsumer
	// The runner counts a delivery just after its ack or term reaches the
	// server, which is what Settle waits for: wait for the counts too.
	var worker map[string]*dto.MetricFamily
	natstest.WaitFor(t, time.Minute, "the worker's counts", func() bool {
		worker = scrape(t, e.WorkerMetricsURL)
		p, _ := value(worker, "offerflow_consumer_processed_total", map[string]string{"consumer": wc})
		d, _ := value(worker, "offerflow_consumer_dead_lettered_total", map[string]string{"consumer": wc})
		return p >= 1 && d >= 1
	})
	ingest := scrape(t, e.URL+"/metrics")
	for _, c := range []struct {
		name   string
		fams   map[string]*dto.MetricFamily
		metric string
		labels map[string]string
		check  func(float64) bool
		want   string
	}{
		{"ingest build info", ingest, "offerflow_build_info", map[string]string{"service": "ingest"}, eq(1), "1"},
		{"ingest ready", ingest, "offerflow_ready", map[string]string{"service": "ingest"}, eq(1), "1"},
		{"worker build info", worker, "offerflow_build_info", map[string]string{"service": "worker"}, eq(1), "1"},
		{"worker ready", worker, "offerflow_ready", map[string]string{"service": "worker"}, eq(1), "1"},
		{"processed", worker, "offerflow_consumer_processed_total", map[string]string{"consumer": wc}, atLeast(1), ">= 1"},
		{"failed", worker, "offerflow_consumer_failed_total", map[string]string{"consumer": wc}, atLeast(1), ">= 1"},
		{"dead-lettered", worker, "offerflow_consumer_dead_lettered_total", map[string]string{"consumer": wc}, atLeast(1), ">= 1"},
		{"redelivered", worker, "offerflow_consumer_redelivered_total", map[string]string{"consumer": wc}, atLeast(0), ">= 0"},
		{"signals processed", worker, "offerflow_consumer_processed_total", map[string]string{"consumer": sc}, atLeast(0), ">= 0"},
		{"lag", worker, "offerflow_consumer_pending_messages", map[string]string{"consumer": wc}, eq(0), "0 once settled"},
		{"signals lag", worker, "offerflow_consumer_pending_messages", map[string]string{"consumer": sc}, eq(0), "0 once settled"},
		{"oldest pending", worker, "offerflow_consumer_oldest_pending_age_seconds", map[string]string{"consumer": wc}, eq(0), "0 once settled"},
		{"effect latency", worker, "offerflow_webhook_effect_seconds", map[string]string{"consumer": wc}, atLeast(1), "a count >= 1"},
		{"dodo get_product", worker, "offerflow_dodo_requests_total", map[string]string{"operation": "get_product", "status": "200"}, atLeast(1), ">= 1"},
		{"dodo list_payment_methods", worker, "offerflow_dodo_requests_total", map[string]string{"operation": "list_payment_methods", "status": "200"}, atLeast(1), ">= 1"},
		{"dodo latency", worker, "offerflow_dodo_request_duration_seconds", map[string]string{"operation": "get_product"}, atLeast(1), "a count >= 1"},
		{"dodo rate limiter wait", worker, "offerflow_dodo_rate_limit_wait_seconds", map[string]string{"operation": "get_product"}, atLeast(1), "a count >= 1"},
		{"old handled", worker, "offerflow_worker_handled_seconds", map[string]string{"outcome": "ok"}, atLeast(1), "a count >= 1"},
		{"old dead letters", worker, "offerflow_worker_dead_letters_total", map[string]string{"kind": "permanent"}, atLeast(1), ">= 1"},
	} {
		got, ok := value(c.fams, c.metric, c.labels)
		if !ok {
			t.Errorf("%s: no %s%v on /metrics", c.name, c.metric, c.labels)
			continue
		}
		if !c.check(got) {
			t.Errorf("%s: %s%v = %g, want %s", c.name, c.metric, c.labels, got, c.want)
		}
	}
	if got, ok := value(worker, "offerflow_build_info", map[string]string{"service": "worker"}); ok && got == 1 {
		m := worker["offerflow_build_info"].GetMetric()[0]
		for _, l := range m.GetLabel() {
			if l.GetValue() == "" {
				t.Errorf("offerflow_build_info label %s is empty", l.GetName())
			}
		}
	}
	checkDashboardMetrics(t, ingest, worker)
	for name, fams := range map[string]map[string]*dto.MetricFamily{"ingest": ingest, "worker": worker} {
		problems, err := testutil.GatherAndLint(gathered(fams))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s /metrics: promlint: %s: %s", name, p.Metric, p.Text)
		}
	}
}

// checkDashboardMetrics: every metric deploy/observability's dashboard and
// alerts use (deploy/observability/metrics.txt, which deploy's tests keep
// equal to what the two files name) is exported by the running services,
// with at least one series. A histogram is named by its _bucket series.
func checkDashboardMetrics(t *testing.T, services ...map[string]*dto.MetricFamily) {
	t.Helper()
	list, err := os.ReadFile("../../deploy/observability/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(list), "\n") {
		name := strings.TrimSpace(line)
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		n++
		found := false
		for _, fams := range services {
			if f, ok := fams[name]; ok && len(f.GetMetric()) > 0 {
				found = true
			}
			if base, ok := strings.CutSuffix(name, "_bucket"); ok {
				if f, ok := fams[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM && len(f.GetMetric()) > 0 {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("the dashboard or the alerts use %s, which neither service exports", name)
		}
	}
	if n < 10 {
		t.Fatalf("metrics.txt lists %d metrics; want the dashboard's", n)
	}
}

func eq(want float64) func(float64) bool { return func(got float64) bool { return got == want } }

func atLeast(want float64) func(float64) bool { return func(got float64) bool { return got >= want } }

// scrape reads url's Prometheus text.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return fams
}

// value returns the value of the series of metric whose labels include
// labels: a counter's or gauge's value, a histogram's count.
func value(fams map[string]*dto.MetricFamily, metric string, labels map[string]string) (float64, bool) {
	f, ok := fams[metric]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// gathered serves scraped families as a Gatherer, for promlint.
func gathered(fams map[string]*dto.MetricFamily) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}
