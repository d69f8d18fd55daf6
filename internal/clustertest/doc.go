// Package clustertest is offerflow's fault test on a real cluster: three
// nats-server processes started from deploy/nats/nats-server.conf, the
// ingest and two workers as processes of their own, Dodo's stand-in and an
// SMTP server as the outside edges, and kill -9 of the stream leader, a
// bucket leader and a worker under a load of signed webhooks. The package
// has no code besides its test; docs/cluster.md says how to run it and what
// it measured.
package clustertest
