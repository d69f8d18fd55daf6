// Package deploy holds no code: it is the home of offerflow's deployment
// files (docker/, nats/, k8s/, observability/) and of the offline checks of
// them, its tests. They render every kustomization and decode each object
// strictly into its Kubernetes type, hold every pod to Pod Security
// "restricted", validate the KEDA ScaledObject against KEDA's CRD schema and
// the NATS Helm values against the chart's keys, check that every
// environment variable set is one the services read (with a value they
// accept), parse the Prometheus rules and the dashboard's queries, and keep
// observability/metrics.txt equal to the metric names they use. Each check
// has a test that breaks a file on purpose and sees it fail.
package deploy
