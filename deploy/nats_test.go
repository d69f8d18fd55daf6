package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The NATS Helm chart (nats-io/k8s, chart nats 2.14.2) ships no
// values.schema.json; its values.yaml, pinned in testdata/nats-chart, is
// the list of keys it reads.

// openMaps are the chart's keys that take any keys below them: the maps it
// merges or copies into what it renders as they are.
var openMaps = []string{"merge", "env", "resources", "labels", "annotations", "topologySpreadConstraints", "nodeSelector"}

// checkValueKeys returns an error for every key of values that the chart's
// values do not have, at its path ("config.jetstream.fileStore.pvc.size").
func checkValueKeys(values, chart map[string]any, at string) []error {
	var errs []error
	for _, k := range sortedKeys(values) {
		p := strings.TrimPrefix(at+"."+k, ".")
		cv, ok := chart[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: the chart has no such value", p))
			continue
		}
		if slices.Contains(openMaps, k) {
			continue
		}
		sub, isMap := values[k].(map[string]any)
		csub, chartMap := cv.(map[string]any)
		switch {
		case isMap && chartMap:
			errs = append(errs, checkValueKeys(sub, csub, p)...)
		case isMap && cv != nil:
			errs = append(errs, fmt.Errorf("%s: a map, where the chart has %T", p, cv))
		}
	}
	return errs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// lookup returns the value at path in values, or nil.
func lookup(values map[string]any, path ...string) any {
	var v any = values
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// checkNATSValues checks deploy/nats/values.yaml: every key is one the
// chart has, and the decisions offerflow depends on are there.
func checkNATSValues(data, chartData []byte) []error {
	var values, chart map[string]any
	if err := yaml.UnmarshalStrict(data, &values); err != nil {
		return []error{fmt.Errorf("values.yaml: %w", err)}
	}
	if err := yaml.Unmarshal(chartData, &chart); err != nil {
		return []error{fmt.Errorf("the chart's values.yaml: %w", err)}
	}
	errs := checkValueKeys(values, chart, "")
	// The chart renders extraResources as they are: each must be an object
	// of a kind the checks know, strictly.
	extra, _ := values["extraResources"].([]any)
	for i, r := range extra {
		data, err := json.Marshal(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var head struct{ APIVersion, Kind string }
		_ = json.Unmarshal(data, &head)
		mk, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("extraResources[%d]: %s %s, a kind the checks do not know", i, head.APIVersion, head.Kind))
			continue
		}
		strict, err := sigsjson.UnmarshalStrict(data, mk(), sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		for _, e := range append(strict, err) {
			if e != nil {
				errs = append(errs, fmt.Errorf("extraResources[%d]: %w", i, e))
			}
		}
	}
	for _, d := range []struct {
		path []string
		want any
	}{
		{[]string{"config", "cluster", "enabled"}, true},
		{[]string{"config", "cluster", "replicas"}, float64(3)},
		{[]string{"config", "jetstream", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "pvc", "enabled"}, true},
		{[]string{"config", "jetstream", "memoryStore", "enabled"}, false},
		{[]string{"config", "jetstream", "merge", "sync_interval"}, "always"},
		{[]string{"config", "monitor", "enabled"}, true},
		// The port of the ScaledObject's natsServerMonitoringEndpoint.
		{[]string{"config", "monitor", "port"}, float64(8222)},
		{[]string{"promExporter", "enabled"}, true},
		{[]string{"podDisruptionBudget", "enabled"}, true},
		{[]string{"podTemplate", "topologySpreadConstraints", "kubernetes.io/hostname", "whenUnsatisfiable"}, "DoNotSchedule"},
	} {
		if got := lookup(values, d.path...); got != d.want {
			errs = append(errs, fmt.Errorf("%s is %v, want %v", strings.Join(d.path, "."), got, d.want))
		}
	}
	return errs
}

func readNATSValues(t *testing.T) (values, chart []byte) {
	t.Helper()
	values, err := os.ReadFile("nats/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chart, err = os.ReadFile("testdata/nats-chart/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return values, chart
}

// TestNATSValues checks the NATS Helm values against the chart's keys and
// offerflow's decisions.
func TestNATSValues(t *testing.T) {
	values, chart := readNATSValues(t)
	if errs := checkNATSValues(values, chart); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
}

// TestNATSValuesChecksCatchBreakage breaks the values on purpose and wants
// the check to say so.
func TestNATSValuesChecksCatchBreakage(t *testing.T) {
	values, chart := readNATSValues(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"a key the chart does not have", "        size: 50Gi", "        sizes: 50Gi", "config.jetstream.fileStore.pvc.sizes: the chart has no such value"},
		{"a misplaced key", "    replicas: 3", "    replicas: 3\n    routes: []", "config.cluster.routes: the chart has no such value"},
		{"the default fsync", "      sync_interval: always", "      sync_interval: 2m", "sync_interval is 2m, want always"},
		{"one node", "    replicas: 3", "    replicas: 1", "config.cluster.replicas is 1, want 3"},
		{"no exporter", "promExporter:\n  enabled: true", "promExporter:\n  enabled: false", "promExporter.enabled is false"},
		{"no disruption budget", "podDisruptionBudget:\n  enabled: true", "podDisruptionBudget:\n  enabled: false", "podDisruptionBudget.enabled is false"},
		{"a policy field unknown to Kubernetes", "    policyTypes: [Ingress]", "    policyType: [Ingress]", `extraResources[0]: unknown field "spec.policyType"`},
		{"a key twice", "    replicas: 3", "    replicas: 3\n    replicas: 5", "already set in map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := string(values)
			if n := strings.Count(s, tc.old); n != 1 {
				t.Fatalf("values.yaml has %q %d times; the breakage needs it once", tc.old, n)
			}
			errs := checkNATSValues([]byte(strings.Replace(s, tc.old, tc.new, 1)), chart)
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("no failure says %q; got: %v", tc.want, errors.Join(errs...))
		})
	}
}
