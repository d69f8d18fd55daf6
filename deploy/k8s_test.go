package deploy_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/service"
)

// natsDrain is how long each service waits for its NATS connection to
// drain at the very end of a shutdown (conn.Drain(10 * time.Second) in
// internal/service): part of the time a pod needs before SIGKILL.
const natsDrain = 10 * time.Second

// production is the kustomization an operator applies.
const production = "k8s/overlays/production"

// object is one rendered Kubernetes object, decoded into its type.
type object struct {
	kind, name string
	obj        any // *appsv1.Deployment, ..., or *scaledObject
}

// scaledObject is the part of KEDA's ScaledObject the checks read (the
// schema validates the whole).
type scaledObject struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// kinds maps apiVersion/kind to the type an object must decode into.
var kinds = map[string]func() any{
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return &scaledObject{} },
}

// memTree copies the directory tree at root into an in-memory filesystem,
// at the same paths relative to "/", so that a test can break a file
// without touching the disk.
func memTree(t *testing.T, root string) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		dst := path.Join("/", filepath.ToSlash(rel))
		if d.IsDir() {
			return mem.MkdirAll(dst)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(dst, data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

// kustomizations lists the directories under k8s that hold a
// kustomization.yaml, relative to deploy/.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("k8s", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.ToSlash(filepath.Dir(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 2 {
		t.Fatalf("found kustomizations %v; want base and overlays/production at least", dirs)
	}
	return dirs
}

// render renders the kustomization at dir of fsys and decodes every object
// strictly into its type: a field the type does not have, a field given
// twice, or a field whose case differs (the API server matches names
// case-sensitively) is an error; so is a kind the checks do not know. The
// ScaledObject is checked against KEDA's CRD schema instead.
func render(fsys filesys.FileSystem, dir string, keda *jsonschema.Schema) ([]object, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	var objs []object
	var errs []error
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		gvk := r.GetGvk()
		key := gvk.Kind
		if gvk.Group != "" {
			key = gvk.Group + "/" + gvk.Version + "/" + key
		} else {
			key = gvk.Version + "/" + key
		}
		id := key + " " + r.GetName()
		mk, ok := kinds[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: a kind the checks do not know (add it to kinds, with its type)", id))
			continue
		}
		obj := mk()
		if so, ok := obj.(*scaledObject); ok {
			if err := validateSchema(keda, data); err != nil {
				errs = append(errs, fmt.Errorf("%s: KEDA's CRD schema: %w", id, err))
				continue
			}
			if err := json.Unmarshal(data, so); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
				continue
			}
		} else {
			strict, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", id, err))
				continue
			}
			for _, e := range strict {
				errs = append(errs, fmt.Errorf("%s: %w", id, e))
			}
		}
		objs = append(objs, object{kind: gvk.Kind, name: r.GetName(), obj: obj})
	}
	return objs, errors.Join(errs...)
}

// kedaSchema compiles the OpenAPI schema of KEDA's ScaledObject CRD
// (testdata/keda, pinned) into a JSON Schema, made strict as the API
// server's field validation is: an object with declared properties and no
// additionalProperties or x-kubernetes-preserve-unknown-fields takes no
// other field.
func kedaSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile("testdata/keda/keda.sh_scaledobjects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" {
			schema = v.Schema.OpenAPIV3Schema
		}
	}
	if schema == nil {
		t.Fatal("KEDA's CRD has no v1alpha1 schema")
	}
	raw, err := json.Marshal(strictSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	// OpenAPI 3.0's schemas are draft 4's, with nullable.
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource("keda.sh_scaledobjects.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("keda.sh_scaledobjects.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// strictSchema returns s with additionalProperties: false on every object
// schema that lists its properties and leaves the rest unsaid, and
// OpenAPI's nullable turned into a null type.
func strictSchema(s map[string]any) map[string]any {
	out := maps.Clone(s)
	if props, ok := s["properties"].(map[string]any); ok {
		strict := make(map[string]any, len(props))
		for k, p := range props {
			if pm, ok := p.(map[string]any); ok {
				strict[k] = strictSchema(pm)
			}
		}
		out["properties"] = strict
		_, open := s["additionalProperties"]
		if !open && s["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
	}
	for _, k := range []string{"items", "additionalProperties", "not"} {
		if m, ok := s[k].(map[string]any); ok {
			out[k] = strictSchema(m)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if l, ok := s[k].([]any); ok {
			strict := make([]any, len(l))
			for i, x := range l {
				if m, ok := x.(map[string]any); ok {
					strict[i] = strictSchema(m)
				} else {
					strict[i] = x
				}
			}
			out[k] = strict
		}
	}
	if s["nullable"] == true {
		if t, ok := s["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	return out
}

func validateSchema(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// The checks of rendered objects. Each returns every problem it finds.
var checks = []struct {
	name string
	fn   func([]object) []error
}{
	{"pod security restricted", checkPodSecurity},
	{"settings", checkSettings},
	{"probes and ports", checkProbes},
	{"termination grace", checkGrace},
	{"scaling and disruption", checkScaling},
	{"nats-jetstream trigger", checkTrigger},
	{"network policies", checkNetworkPolicies},
	{"secrets by name only", checkNoSecrets},
}

// runChecks renders dir of fsys and runs every check on what it renders.
func runChecks(t *testing.T, fsys filesys.FileSystem, dir string, keda *jsonschema.Schema) []error {
	t.Helper()
	objs, err := render(fsys, dir, keda)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, c := range checks {
		for _, e := range c.fn(objs) {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, e))
		}
	}
	return errs
}

// TestKustomizations renders every kustomization under k8s and runs every
// check on it.
func TestKustomizations(t *testing.T) {
	keda := kedaSchema(t)
	fsys := memTree(t, ".")
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			objs, err := render(fsys, "/"+dir, keda)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.kind]++
			}
			for kind, want := range map[string]int{"Deployment": 2, "ScaledObject": 1, "HorizontalPodAutoscaler": 1, "PodDisruptionBudget": 2, "NetworkPolicy": 3, "Service": 1} {
				if counts[kind] != want {
					t.Errorf("%d %s objects rendered, want %d", counts[kind], kind, want)
				}
			}
			for _, c := range checks {
				for _, e := range c.fn(objs) {
					t.Errorf("%s: %v", c.name, e)
				}
			}
		})
	}
}

// TestChecksCatchBreakage breaks the production overlay's files on purpose,
// one way at a time, in memory, and wants the checks to say so.
func TestChecksCatchBreakage(t *testing.T) {
	keda := kedaSchema(t)
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "k8s/base/ingest.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimits: 5", `unknown field "spec.revisionHistoryLimits"`},
		{"field of the wrong case", "k8s/base/ingest.yaml", "readOnlyRootFilesystem: true", "readonlyRootFilesystem: true", `unknown field "spec.template.spec.containers[0].securityContext.readonlyRootFilesystem"`},
		{"field twice", "k8s/base/worker.yaml", "      serviceAccountName: offerflow-worker\n", "      serviceAccountName: offerflow-worker\n      serviceAccountName: default\n", `mapping key "serviceAccountName" already defined`},
		{"kind unknown to the checks", "k8s/base/serviceaccounts.yaml", "kind: ServiceAccount\nmetadata:\n  name: offerflow-worker", "kind: Role\nmetadata:\n  name: offerflow-worker", "a kind the checks do not know"},
		{"kustomization broken", "k8s/base/kustomization.yaml", "- worker.yaml", "- workers.yaml", "kustomize"},
		{"privilege escalation", "k8s/base/ingest.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation != false"},
		{"root allowed", "k8s/base/worker.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot != true"},
		{"no seccomp profile", "k8s/base/worker.yaml", "        seccompProfile:\n          type: RuntimeDefault\n", "", "seccompProfile"},
		{"capabilities kept", "k8s/base/ingest.yaml", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "unrestricted capabilities"},
		{"writable root filesystem", "k8s/base/worker.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "read-only root filesystem"},
		{"a variable no service reads", "k8s/base/worker.yaml", "- name: WORKER_ACK_WAIT", "- name: WORKER_ACKWAIT", "WORKER_ACKWAIT is not read by worker"},
		{"a variable of the other service", "k8s/base/ingest.yaml", "- name: INGEST_DRAIN_DELAY", "- name: WORKER_DRAIN_TIMEOUT", "WORKER_DRAIN_TIMEOUT is not read by ingest"},
		{"a misspelt shared variable", "k8s/base/common.env", "STREAM_REPLICAS=3", "STREAM_REPLICA=3", "STREAM_REPLICA is not read by"},
		{"a value the service refuses", "k8s/base/ingest.yaml", "name: INGEST_PUBLISH_TIMEOUT\n          value: 5s", "name: INGEST_PUBLISH_TIMEOUT\n          value: 20s", "INGEST_PUBLISH_TIMEOUT must be in (0, 15s)"},
		{"a value that does not parse", "k8s/base/ingest.yaml", "name: INGEST_DRAIN_DELAY\n          value: 10s", "name: INGEST_DRAIN_DELAY\n          value: \"10\"", "not a duration"},
		{"a secret as a literal", "k8s/base/ingest.yaml", "        - name: OFFERFLOW_API_TOKEN\n          valueFrom:\n            secretKeyRef:\n              name: offerflow-ingest\n              key: api-token\n", "        - name: OFFERFLOW_API_TOKEN\n          value: hunter2\n", "OFFERFLOW_API_TOKEN is a secret"},
		{"a Secret object", "k8s/base/serviceaccounts.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: offerflow-ingest\n", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: offerflow-ingest\nstringData:\n  api-token: hunter2\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: offerflow-ingest\n", "a Secret"},
		{"rules file that does not load", "k8s/base/rules.yaml", "product: pdt_pro,", "product: pdt_gone,", "pdt_gone"},
		{"rules file not mounted", "k8s/base/common.env", "OFFERFLOW_RULES=/etc/offerflow/rules.yaml", "OFFERFLOW_RULES=/etc/rules/rules.yaml", "no volume mounted at /etc/rules"},
		{"readiness on the wrong path", "k8s/base/ingest.yaml", "path: /readyz", "path: /ready", "readiness probe: path /ready, want /readyz"},
		{"liveness on the wrong port", "k8s/base/worker.yaml", "containerPort: 8081", "containerPort: 8080", "port 8080, want 8081"},
		{"metrics annotation on the wrong port", "k8s/base/ingest.yaml", `prometheus.io/port: "9090"`, `prometheus.io/port: "8080"`, "prometheus.io/port 8080, want 9090"},
		{"grace shorter than the ingest's drain", "k8s/base/ingest.yaml", "terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds 40s"},
		{"grace shorter than the ack wait", "k8s/base/worker.yaml", "name: WORKER_ACK_WAIT\n          value: 30s", "name: WORKER_ACK_WAIT\n          value: 90s", "WORKER_ACK_WAIT 1m30s"},
		{"replicas in a scaled Deployment", "k8s/base/ingest.yaml", "  revisionHistoryLimit: 5\n", "  replicas: 2\n  revisionHistoryLimit: 5\n", "sets spec.replicas"},
		{"autoscaler below two", "k8s/base/ingest.yaml", "minReplicas: 2", "minReplicas: 1", "at least 2"},
		{"scaled object below two", "k8s/base/worker.yaml", "minReplicaCount: 2", "minReplicaCount: 1", "at least 2"},
		{"no disruption budget", "k8s/base/worker.yaml", "kind: PodDisruptionBudget\nmetadata:\n  name: offerflow-worker\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: offerflow\n      app.kubernetes.io/component: worker", "kind: PodDisruptionBudget\nmetadata:\n  name: offerflow-worker\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: offerflow\n      app.kubernetes.io/component: workers", "no PodDisruptionBudget"},
		{"scaled object field unknown to KEDA", "k8s/base/worker.yaml", "pollingInterval: 15", "pollInterval: 15", "KEDA's CRD schema"},
		{"scaled object field of the wrong type", "k8s/base/worker.yaml", "minReplicaCount: 2", `minReplicaCount: "2"`, "KEDA's CRD schema"},
		{"trigger on the wrong consumer", "k8s/base/worker.yaml", "consumer: offerflow-worker", "consumer: offerflow-workers", `consumer "offerflow-workers", want "offerflow-worker"`},
		{"trigger key the scaler does not read", "k8s/base/worker.yaml", `lagThreshold: "1000"`, `lagTreshold: "1000"`, "lagTreshold"},
		{"worker cut off from SMTP", "k8s/base/networkpolicies.yaml", "    - port: 587\n      protocol: TCP\n", "", "egress to port 587"},
		{"ingest open on another port", "k8s/base/networkpolicies.yaml", "  ingress:\n  - ports:\n    - port: 8080", "  ingress:\n  - ports:\n    - port: 8080\n      protocol: TCP\n    - port: 22", "ingress on port 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memTree(t, ".")
			if err := replaceOnce(fsys, "/"+tc.file, tc.old, tc.new); err != nil {
				t.Fatal(err)
			}
			errs := runChecks(t, fsys, "/"+production, keda)
			if len(errs) == 0 {
				t.Fatalf("no check failed; want one saying %q", tc.want)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("no failure says %q; got:\n%v", tc.want, errors.Join(errs...))
		})
	}
}

// deployments returns the rendered Deployments.
func deployments(objs []object) []*appsv1.Deployment {
	var ds []*appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// checkPodSecurity evaluates every pod template against Pod Security
// "restricted", at the latest version, with the same checks the API
// server's admission runs.
func checkPodSecurity(objs []object) []error {
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return []error{err}
	}
	level := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	var errs []error
	for _, d := range deployments(objs) {
		res := policy.AggregateCheckResults(ev.EvaluatePod(level, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec))
		if !res.Allowed {
			errs = append(errs, fmt.Errorf("Deployment %s: %s: %s", d.Name, res.ForbiddenReason(), res.ForbiddenDetail()))
		}
		// Not part of "restricted", but the image is built for it.
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				errs = append(errs, fmt.Errorf("Deployment %s container %s: no read-only root filesystem", d.Name, c.Name))
			}
		}
	}
	return errs
}

// settings is what a service container of a Deployment is set to: the
// service it runs, its environment as the process sees it, and its
// configuration parsed from that environment by the service's own code.
type settings struct {
	d       *appsv1.Deployment
	c       corev1.Container
	service string // "ingest" or "worker"
	env     map[string]string
	ingest  service.IngestConfig
	worker  service.WorkerConfig
}

// runtimeVariables are read by the Go runtime or the OpenTelemetry SDK,
// not by internal/conf; a Deployment may set them.
var runtimeVariables = []string{
	"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG",
	"OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_PROPAGATORS",
	"OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
}

// placeholders stand in for secret values, which the manifests only name,
// so that the services' validation can run: each is a value of the
// setting's form.
var placeholders = map[string]string{
	"DODO_WEBHOOK_SECRET": "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32)),
	"OFFERFLOW_OFFER_KEY": "k1:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("o"), 32)),
	"SMTP_URL":            "smtp://user:pass@smtp.example.com:587?from=shop@example.com",
}

// declared returns the environment variables a service reads, and which of
// them are secrets (declared with conf.Secret), from the service's own
// declarations: the usage of each flag ends in "(env NAME)"; a secret's
// default stays empty whatever the environment holds, where any other
// setting's default takes the environment's value.
func declared(svc string) (vars []string, secret map[string]bool) {
	probe := func(string) string { return "probe" }
	s := conf.New(svc, probe, io.Discard)
	switch svc {
	case "ingest":
		var c service.IngestConfig
		c.Declare(s)
	case "worker":
		var c service.WorkerConfig
		c.Declare(s)
	}
	secret = map[string]bool{}
	envName := regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)$`)
	s.FlagSet().VisitAll(func(f *flag.Flag) {
		if m := envName.FindStringSubmatch(f.Usage); m != nil {
			vars = append(vars, m[1])
			secret[m[1]] = f.DefValue == ""
		}
	})
	return vars, secret
}

// serviceSettings reads each container of each Deployment: which service
// it runs (its command), its environment (env and the ConfigMaps of
// envFrom; secrets as placeholders), and that environment parsed by the
// service's own settings code. Problems found on the way are returned.
func serviceSettings(objs []object) ([]settings, []error) {
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	var out []settings
	var errs []error
	for _, d := range deployments(objs) {
		for _, c := range d.Spec.Template.Spec.Containers {
			where := fmt.Sprintf("Deployment %s container %s", d.Name, c.Name)
			if len(c.Command) == 0 {
				errs = append(errs, fmt.Errorf("%s: no command (the image has none: ingest or worker)", where))
				continue
			}
			svc := path.Base(c.Command[0])
			if svc != "ingest" && svc != "worker" {
				errs = append(errs, fmt.Errorf("%s: command %s: want /usr/local/bin/ingest or /usr/local/bin/worker", where, c.Command[0]))
				continue
			}
			vars, secret := declared(svc)
			env := map[string]string{}
			set := func(name, value, from string) {
				if !slices.Contains(vars, name) && !slices.Contains(runtimeVariables, name) {
					errs = append(errs, fmt.Errorf("%s: %s is not read by %s (set in %s)", where, name, svc, from))
				}
				env[name] = value
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil || ef.Prefix != "" {
					errs = append(errs, fmt.Errorf("%s: envFrom other than a ConfigMap without prefix hides the names it sets", where))
					continue
				}
				cm, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					errs = append(errs, fmt.Errorf("%s: envFrom ConfigMap %s is not rendered", where, ef.ConfigMapRef.Name))
					continue
				}
				for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
					if secret[k] && !credentialFree(cm.Data[k]) {
						errs = append(errs, fmt.Errorf("%s: %s is a secret: take it from a Secret (secretKeyRef), not ConfigMap %s", where, k, cm.Name))
					}
					set(k, cm.Data[k], "ConfigMap "+cm.Name)
				}
			}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					v, ok := placeholders[e.Name]
					if !ok {
						v = "placeholder"
					}
					set(e.Name, v, "Secret "+e.ValueFrom.SecretKeyRef.Name)
				case e.ValueFrom != nil:
					errs = append(errs, fmt.Errorf("%s: %s: only literal values and secretKeyRef are checked; add the source to the checks", where, e.Name))
				default:
					if secret[e.Name] && !credentialFree(e.Value) {
						errs = append(errs, fmt.Errorf("%s: %s is a secret: take it from a Secret (secretKeyRef), not a literal", where, e.Name))
					}
					set(e.Name, e.Value, "env")
				}
			}
			st := settings{d: d, c: c, service: svc, env: env}
			getenv := func(k string) string { return env[k] }
			s := conf.New(svc, getenv, io.Discard)
			var verr error
			if svc == "ingest" {
				st.ingest.Declare(s)
				verr = st.ingest.Validate()
			} else {
				st.worker.Declare(s)
				verr = st.worker.Validate()
			}
			if err := s.Parse(nil); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			if verr != nil {
				errs = append(errs, fmt.Errorf("%s: %s refuses these settings: %w", where, svc, verr))
			}
			out = append(out, st)
		}
	}
	return out, errs
}

// credentialFree reports whether v, the value of a setting declared
// secret, carries no secret: a URL (NATS_URL) without a password.
func credentialFree(v string) bool {
	for _, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.Scheme == "" || u.User != nil {
			return false
		}
	}
	return true
}

// checkSettings checks every variable a service container is given: a name
// the service reads, a value it accepts (its own parsing and validation), a
// secret only from a Secret, and the rules file mounted from a ConfigMap
// and loadable.
func checkSettings(objs []object) []error {
	sts, errs := serviceSettings(objs)
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	for _, st := range sts {
		where := fmt.Sprintf("Deployment %s container %s", st.d.Name, st.c.Name)
		rulesPath := st.ingest.RulesPath
		if st.service == "worker" {
			rulesPath = st.worker.RulesPath
		}
		if rulesPath == "" {
			continue
		}
		data, err := mountedConfigMapFile(st.d, st.c, configMaps, rulesPath)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: OFFERFLOW_RULES %s: %w", where, rulesPath, err))
			continue
		}
		catalog, err := rules.Parse(rulesPath, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		// As the worker does at start: offer rules need the offer settings.
		if st.service == "worker" {
			if err := st.worker.Offers.Validate(catalog.HasOfferRules()); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return errs
}

// mountedConfigMapFile returns the content of the file at p in container c
// when it comes from a ConfigMap volume.
func mountedConfigMapFile(d *appsv1.Deployment, c corev1.Container, configMaps map[string]*corev1.ConfigMap, p string) ([]byte, error) {
	dir, file := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir || m.SubPath != "" {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.ConfigMap == nil {
				return nil, fmt.Errorf("volume %s is not a ConfigMap", v.Name)
			}
			cm, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				return nil, fmt.Errorf("ConfigMap %s is not rendered", v.ConfigMap.Name)
			}
			data, ok := cm.Data[file]
			if !ok {
				return nil, fmt.Errorf("ConfigMap %s has no key %s", cm.Name, file)
			}
			return []byte(data), nil
		}
	}
	return nil, fmt.Errorf("no volume mounted at %s", dir)
}

// addrPort is the port of a listen address such as ":8080".
func addrPort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return int32(n), err
}

// containerPort resolves a probe's port, by name or number, to a number.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// checkProbes checks that the probes ask the real endpoints on the real
// port (the one the service's address setting listens on), and that the
// Prometheus annotation names the port /metrics is served on.
func checkProbes(objs []object) []error {
	sts, errs := serviceSettings(objs)
	if len(errs) > 0 {
		return nil // checkSettings reports them
	}
	for _, st := range sts {
		where := fmt.Sprintf("Deployment %s container %s", st.d.Name, st.c.Name)
		var health, metrics string
		if st.service == "ingest" {
			health, metrics = st.ingest.Addr, st.ingest.MetricsAddr
			if metrics == "" {
				metrics = health
			}
		} else {
			health, metrics = st.worker.MetricsAddr, st.worker.MetricsAddr
		}
		hp, err := addrPort(health)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: health address %q: %w", where, health, err))
			continue
		}
		for _, p := range []struct {
			name, want string
			probe      *corev1.Probe
			required   bool
		}{
			{"liveness", "/healthz", st.c.LivenessProbe, true},
			{"readiness", "/readyz", st.c.ReadinessProbe, true},
			{"startup", "/healthz", st.c.StartupProbe, false},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				if p.required {
					errs = append(errs, fmt.Errorf("%s: no HTTP %s probe", where, p.name))
				}
				continue
			}
			if p.probe.HTTPGet.Path != p.want {
				errs = append(errs, fmt.Errorf("%s: %s probe: path %s, want %s", where, p.name, p.probe.HTTPGet.Path, p.want))
			}
			if got := containerPort(st.c, p.probe.HTTPGet.Port); got != hp {
				errs = append(errs, fmt.Errorf("%s: %s probe: port %d, want %d (%s)", where, p.name, got, hp, health))
			}
		}
		mp, err := addrPort(metrics)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: metrics address %q: %w", where, metrics, err))
			continue
		}
		if got := st.d.Spec.Template.Annotations["prometheus.io/port"]; got != strconv.Itoa(int(mp)) {
			errs = append(errs, fmt.Errorf("%s: prometheus.io/port %s, want %d (/metrics)", where, got, mp))
		}
	}
	return errs
}

// checkGrace checks that a pod is given the time its service needs to stop
// cleanly before SIGKILL. Ingest: the preStop sleep, then
// INGEST_DRAIN_DELAY, INGEST_SHUTDOWN_GRACE and the NATS drain. Worker: the
// longer of WORKER_ACK_WAIT and WORKER_DRAIN_TIMEOUT plus the NATS drain.
func checkGrace(objs []object) []error {
	sts, errs := serviceSettings(objs)
	if len(errs) > 0 {
		return nil
	}
	for _, st := range sts {
		spec := st.d.Spec.Template.Spec
		grace := 30 * time.Second // Kubernetes' default
		if spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		}
		var need time.Duration
		var what string
		if st.service == "ingest" {
			var preStop time.Duration
			if l := st.c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
				preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
			}
			need = preStop + st.ingest.DrainDelay + st.ingest.ShutdownGrace + natsDrain
			what = fmt.Sprintf("preStop %s + INGEST_DRAIN_DELAY %s + INGEST_SHUTDOWN_GRACE %s + NATS drain %s", preStop, st.ingest.DrainDelay, st.ingest.ShutdownGrace, natsDrain)
		} else {
			need = max(st.worker.AckWait, st.worker.DrainTimeout+natsDrain)
			what = fmt.Sprintf("max(WORKER_ACK_WAIT %s, WORKER_DRAIN_TIMEOUT %s + NATS drain %s)", st.worker.AckWait, st.worker.DrainTimeout, natsDrain)
		}
		if grace <= need {
			errs = append(errs, fmt.Errorf("Deployment %s: terminationGracePeriodSeconds %s is not longer than %s = %s", st.d.Name, grace, what, need))
		}
	}
	return errs
}

// selects reports whether a label selector's matchLabels all hold in labels
// (the manifests use matchLabels only).
func selects(matchLabels, labels map[string]string) bool {
	if len(matchLabels) == 0 {
		return false
	}
	for k, v := range matchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkScaling checks that each Deployment's replica count is owned by an
// autoscaler (a HorizontalPodAutoscaler or a KEDA ScaledObject) with at
// least two replicas, and not also by the Deployment, and that a
// PodDisruptionBudget covers its pods.
func checkScaling(objs []object) []error {
	var errs []error
	for _, d := range deployments(objs) {
		if d.Spec.Replicas != nil {
			errs = append(errs, fmt.Errorf("Deployment %s sets spec.replicas: its autoscaler owns the count (every apply would reset it)", d.Name))
		}
		scalers := 0
		for _, o := range objs {
			switch s := o.obj.(type) {
			case *autoscalingv2.HorizontalPodAutoscaler:
				if s.Spec.ScaleTargetRef.Kind == "Deployment" && s.Spec.ScaleTargetRef.Name == d.Name {
					scalers++
					if s.Spec.MinReplicas == nil || *s.Spec.MinReplicas < 2 {
						errs = append(errs, fmt.Errorf("HorizontalPodAutoscaler %s: minReplicas must be at least 2", s.Name))
					}
				}
			case *scaledObject:
				kind := s.Spec.ScaleTargetRef.Kind
				if (kind == "" || kind == "Deployment") && s.Spec.ScaleTargetRef.Name == d.Name {
					scalers++
					if s.Spec.MinReplicaCount == nil || *s.Spec.MinReplicaCount < 2 {
						errs = append(errs, fmt.Errorf("ScaledObject %s: minReplicaCount must be at least 2", s.Metadata.Name))
					}
				}
			}
		}
		if scalers != 1 {
			errs = append(errs, fmt.Errorf("Deployment %s: %d autoscalers target it, want 1", d.Name, scalers))
		}
		covered := false
		for _, o := range objs {
			if pdb, ok := o.obj.(*policyv1.PodDisruptionBudget); ok && pdb.Spec.Selector != nil && selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				covered = true
			}
		}
		if !covered {
			errs = append(errs, fmt.Errorf("Deployment %s: no PodDisruptionBudget selects its pods", d.Name))
		}
	}
	return errs
}

// kedaTriggerKeys are the metadata keys KEDA's nats-jetstream scaler reads
// (natsJetStreamMetadata in pkg/scalers/nats_jetstream_scaler.go of KEDA
// v2.20.2, the version of testdata/keda); the CRD schema leaves trigger
// metadata open, so a misspelt key would be dropped silently.
var kedaTriggerKeys = []string{"account", "accountID", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps", "natsServerMonitoringEndpoint"}

// checkTrigger checks that the worker scales on the lag of the consumer the
// worker really uses: the stream and durable consumer of internal/natsbus.
func checkTrigger(objs []object) []error {
	var errs []error
	found := 0
	for _, o := range objs {
		s, ok := o.obj.(*scaledObject)
		if !ok {
			continue
		}
		for _, tr := range s.Spec.Triggers {
			if tr.Type != "nats-jetstream" {
				continue
			}
			found++
			for k := range tr.Metadata {
				if !slices.Contains(kedaTriggerKeys, k) {
					errs = append(errs, fmt.Errorf("ScaledObject %s: trigger metadata %s is not read by KEDA's nats-jetstream scaler (%v)", s.Metadata.Name, k, kedaTriggerKeys))
				}
			}
			if got := tr.Metadata["stream"]; got != natsbus.EventsStream {
				errs = append(errs, fmt.Errorf("ScaledObject %s: stream %q, want %q", s.Metadata.Name, got, natsbus.EventsStream))
			}
			if got := tr.Metadata["consumer"]; got != natsbus.WorkerConsumer {
				errs = append(errs, fmt.Errorf("ScaledObject %s: consumer %q, want %q", s.Metadata.Name, got, natsbus.WorkerConsumer))
			}
			for _, k := range []string{"account", "natsServerMonitoringEndpoint", "lagThreshold"} {
				if tr.Metadata[k] == "" {
					errs = append(errs, fmt.Errorf("ScaledObject %s: trigger metadata %s is required", s.Metadata.Name, k))
				}
			}
		}
	}
	if found != 1 {
		errs = append(errs, fmt.Errorf("%d nats-jetstream triggers, want 1", found))
	}
	return errs
}

// checkNetworkPolicies checks what the NetworkPolicies let through, per
// service: the ingest is reachable on its webhook and metrics ports only,
// the worker on its metrics port only; the worker reaches NATS, Dodo, SMTP,
// the OTLP collector and DNS, the ingest NATS, Dodo, OTLP and DNS; and a
// policy denies everything else.
func checkNetworkPolicies(objs []object) []error {
	sts, errs := serviceSettings(objs)
	if len(errs) > 0 {
		return nil
	}
	var policies []*networkingv1.NetworkPolicy
	for _, o := range objs {
		if np, ok := o.obj.(*networkingv1.NetworkPolicy); ok {
			policies = append(policies, np)
		}
	}
	for _, st := range sts {
		where := "Deployment " + st.d.Name
		var in, out []int32
		var isolatedIn, isolatedOut bool
		for _, np := range policies {
			if !selects(np.Spec.PodSelector.MatchLabels, st.d.Spec.Template.Labels) {
				continue
			}
			for _, pt := range np.Spec.PolicyTypes {
				isolatedIn = isolatedIn || pt == networkingv1.PolicyTypeIngress
				isolatedOut = isolatedOut || pt == networkingv1.PolicyTypeEgress
			}
			for _, r := range np.Spec.Ingress {
				if len(r.Ports) == 0 {
					errs = append(errs, fmt.Errorf("%s: NetworkPolicy %s lets in every port", where, np.Name))
				}
				for _, p := range r.Ports {
					in = append(in, portNumber(p))
				}
			}
			for _, r := range np.Spec.Egress {
				if len(r.Ports) == 0 {
					errs = append(errs, fmt.Errorf("%s: NetworkPolicy %s lets out every port", where, np.Name))
				}
				for _, p := range r.Ports {
					out = append(out, portNumber(p))
				}
			}
		}
		if !isolatedIn || !isolatedOut {
			errs = append(errs, fmt.Errorf("%s: its pods are not isolated both ways (policyTypes Ingress and Egress)", where))
		}
		var wantIn, wantOut []int32
		if st.service == "ingest" {
			p, _ := addrPort(st.ingest.Addr)
			wantIn = []int32{p}
			if st.ingest.MetricsAddr != "" {
				mp, _ := addrPort(st.ingest.MetricsAddr)
				wantIn = append(wantIn, mp)
			}
			wantOut = []int32{4222, 443, 4318, 53}
		} else {
			p, _ := addrPort(st.worker.MetricsAddr)
			wantIn = []int32{p}
			wantOut = []int32{4222, 443, 587, 4318, 53}
		}
		for _, p := range in {
			if !slices.Contains(wantIn, p) {
				errs = append(errs, fmt.Errorf("%s: NetworkPolicies allow ingress on port %d; only %v are served", where, p, wantIn))
			}
		}
		for _, p := range wantIn {
			if !slices.Contains(in, p) {
				errs = append(errs, fmt.Errorf("%s: no NetworkPolicy allows ingress on port %d", where, p))
			}
		}
		for _, p := range wantOut {
			if !slices.Contains(out, p) {
				errs = append(errs, fmt.Errorf("%s: no NetworkPolicy allows egress to port %d", where, p))
			}
		}
	}
	return errs
}

func portNumber(p networkingv1.NetworkPolicyPort) int32 {
	if p.Port == nil || p.Port.Type != intstr.Int {
		return -1 // every port, or a named one: neither is what the manifests mean
	}
	return p.Port.IntVal
}

// checkNoSecrets checks that the manifests carry no secret: no Secret
// object is rendered (they are referenced by name; docs/operations.md says
// how to create them).
func checkNoSecrets(objs []object) []error {
	var errs []error
	for _, o := range objs {
		if o.kind == "Secret" {
			errs = append(errs, fmt.Errorf("a Secret (%s) is rendered: secrets are created apart and only named here", o.name))
		}
	}
	return errs
}
