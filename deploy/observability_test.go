package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// grafanaVariables are the variables the dashboard's queries use, each
// replaced by a value of its kind before the query is parsed as PromQL.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// promql parses PromQL as Prometheus does (no experimental functions).
var promql = parser.NewParser(parser.Options{})

// metricNames adds to names the metric name of every series selector in
// expr.
func metricNames(expr parser.Expr, names map[string]bool) {
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		names[name] = true
		return nil
	})
}

// alertNames parses the alert rules with Prometheus's own rule file parser
// (unknown fields refused, every expression and template checked) and
// returns the metric names they use.
func alertNames(data []byte) (map[string]bool, []error) {
	groups, errs := rulefmt.Parse(data, false, model.LegacyValidation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		return nil, errs
	}
	names := map[string]bool{}
	rules := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules++
			where := fmt.Sprintf("group %s rule %s%s", g.Name, r.Alert, r.Record)
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			metricNames(expr, names)
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				errs = append(errs, fmt.Errorf("%s: severity %q, want critical or warning", where, s))
			}
			for _, a := range []string{"summary", "runbook_url"} {
				if r.Annotations[a] == "" {
					errs = append(errs, fmt.Errorf("%s: no %s annotation", where, a))
				}
			}
		}
	}
	if rules == 0 {
		errs = append(errs, errors.New("no rules"))
	}
	return names, errs
}

// panel is the part of a Grafana panel the checks read; rows hold panels.
type panel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// dashboardNames parses the dashboard and every query in it, and returns
// the metric names the queries use.
func dashboardNames(data []byte) (map[string]bool, []error) {
	var d struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, []error{fmt.Errorf("dashboard: %w", err)}
	}
	var errs []error
	if d.UID == "" || d.Title == "" {
		errs = append(errs, errors.New("dashboard: no uid or title"))
	}
	names := map[string]bool{}
	ids := map[int]string{}
	queries := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if other, ok := ids[p.ID]; ok {
				errs = append(errs, fmt.Errorf("panels %q and %q share the id %d", other, p.Title, p.ID))
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				errs = append(errs, fmt.Errorf("panel %q: its datasource is not the dashboard's ${datasource} variable", p.Title))
			}
			if len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("panel %q: no query", p.Title))
			}
			for _, t := range p.Targets {
				queries++
				expr, err := promql.ParseExpr(grafanaVariables.Replace(t.Expr))
				if err != nil {
					errs = append(errs, fmt.Errorf("panel %q: %s: %w", p.Title, t.Expr, err))
					continue
				}
				metricNames(expr, names)
			}
		}
	}
	walk(d.Panels)
	if queries == 0 {
		errs = append(errs, errors.New("dashboard: no queries"))
	}
	return names, errs
}

// listedNames reads metrics.txt: one name a line, sorted, no repeats;
// lines starting with # are comments.
func listedNames(data []byte) ([]string, []error) {
	var names []string
	var errs []error
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		names = append(names, line)
	}
	if !slices.IsSorted(names) {
		errs = append(errs, errors.New("metrics.txt is not sorted"))
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		errs = append(errs, errors.New("metrics.txt names a metric twice"))
	}
	return names, errs
}

// checkObservability checks the alert rules and the dashboard, and that
// metrics.txt lists exactly the metric names they use, all offerflow's.
func checkObservability(alerts, dashboard, list []byte) []error {
	fromAlerts, errs := alertNames(alerts)
	fromDashboard, derrs := dashboardNames(dashboard)
	listed, lerrs := listedNames(list)
	errs = append(append(errs, derrs...), lerrs...)
	used := map[string]bool{}
	for n := range fromAlerts {
		used[n] = true
	}
	for n := range fromDashboard {
		used[n] = true
	}
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range used {
			if !yield(n) {
				return
			}
		}
	}) {
		if !strings.HasPrefix(n, "offerflow_") {
			errs = append(errs, fmt.Errorf("%s is not one of offerflow's metrics", n))
		}
		if !slices.Contains(listed, n) {
			errs = append(errs, fmt.Errorf("%s is used but not in metrics.txt", n))
		}
	}
	for _, n := range listed {
		if !used[n] {
			errs = append(errs, fmt.Errorf("%s is in metrics.txt but used by neither the alerts nor the dashboard", n))
		}
	}
	return errs
}

func readObservability(t *testing.T) (alerts, dashboard, list []byte) {
	t.Helper()
	var files [3][]byte
	for i, name := range []string{"observability/alerts.yaml", "observability/dashboard.json", "observability/metrics.txt"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = data
	}
	return files[0], files[1], files[2]
}

// TestObservability parses the alert rules and the dashboard and keeps
// metrics.txt equal to the metric names they use. The end-to-end metrics
// test reads metrics.txt and checks that the running services export each.
func TestObservability(t *testing.T) {
	alerts, dashboard, list := readObservability(t)
	if errs := checkObservability(alerts, dashboard, list); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
}

// TestObservabilityChecksCatchBreakage breaks the files on purpose and
// wants the checks to say so.
func TestObservabilityChecksCatchBreakage(t *testing.T) {
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"an expression that does not parse", "alerts", "expr: sum by (service) (offerflow_ready) < 1", "expr: sum by (service) (offerflow_ready) <", "unexpected end of input"},
		{"a field rulefmt does not know", "alerts", "    expr: sum by (service) (offerflow_ready) < 1\n    for: 2m", "    expr: sum by (service) (offerflow_ready) < 1\n    fore: 2m", "field fore not found"},
		{"a broken annotation template", "alerts", `summary: "No {{ $labels.service }} replica is ready"`, `summary: "No {{ $labels.service } replica is ready"`, "annotation"},
		{"an alert without severity", "alerts", "    for: 2m\n    labels:\n      severity: critical", "    for: 2m\n    labels:\n      severity: page", `severity "page"`},
		{"an alert on a metric not listed", "alerts", "expr: offerflow_ready == 0", "expr: offerflow_readiness == 0", "offerflow_readiness is used but not in metrics.txt"},
		{"a listed metric nothing uses", "list", "offerflow_ready\n", "offerflow_ready\nofferflow_ready_seconds\n", "offerflow_ready_seconds is in metrics.txt but used by neither"},
		{"a list out of order", "list", "offerflow_ready\n", "offerflow_ready\nofferflow_build_info\n", "not sorted"},
		{"a dashboard query that does not parse", "dashboard", `"expr": "sum by (service) (offerflow_ready)"`, `"expr": "sum by (service) (offerflow_ready"`, "panel \"Ready replicas\""},
		{"a dashboard query on a metric not listed", "dashboard", `"expr": "sum by (service) (offerflow_ready)"`, `"expr": "sum by (service) (offerflow_up)"`, "offerflow_up is used but not in metrics.txt"},
		{"a query on another system's metric", "dashboard", `"expr": "sum by (service) (offerflow_ready)"`, `"expr": "sum by (service) (up)"`, "up is not one of offerflow's metrics"},
		{"a dashboard that is not JSON", "dashboard", `"uid": "offerflow",`, `"uid": "offerflow"`, "dashboard: invalid character"},
		{"panels on another datasource", "dashboard", `"uid": "${datasource}"`, `"uid": "prod-prometheus"`, "not the dashboard's ${datasource}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alerts, dashboard, list := readObservability(t)
			target := map[string]*[]byte{"alerts": &alerts, "dashboard": &dashboard, "list": &list}[tc.file]
			n := bytes.Count(*target, []byte(tc.old))
			if n == 0 || n > 1 && !strings.HasPrefix(tc.name, "panels") {
				t.Fatalf("%s has %q %d times; the breakage needs it once", tc.file, tc.old, n)
			}
			*target = bytes.ReplaceAll(*target, []byte(tc.old), []byte(tc.new))
			errs := checkObservability(alerts, dashboard, list)
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("no failure says %q; got: %v", tc.want, errors.Join(errs...))
		})
	}
}
