// Package devstack is `offerflow dev`: offerflow on one machine, in one
// process, for a developer's first look. It runs an embedded NATS server,
// a stand-in for Dodo's API and webhooks, and the ingest and the worker as
// the real services with their production settings; then it sends a demo
// journey through the real HTTP endpoint and the stand-in's API, prints
// what offerflow published in answer, and keeps serving. StartStandin is
// the stand-in alone, as `offerflow dodo-standin` runs it.
//
// Nothing is read from the environment: every secret is generated for the
// run, so the demo behaves the same on every machine.
package devstack

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/natsserver"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// demoFiles holds the catalog and offer rules the demo runs with.
//
//go:embed demo-rules.yaml
var demoFiles embed.FS

// Config is how `offerflow dev` runs; its flags set it.
type Config struct {
	// DataDir holds the JetStream store, the demo's rules file, the
	// webhook secret, the env file and the inbox of confirmation emails;
	// it is created if missing. Empty means a temporary directory, removed
	// when Run returns.
	DataDir string
	// RulesPath is the merchant's own rules and catalog file, read and
	// never written. Empty means the demo's, written to DataDir. The demo
	// journey is written for the demo's rules, so it is skipped with a
	// file of one's own.
	RulesPath string
	// NATSAddr, HTTPAddr and DodoAddr are the addresses of the embedded
	// NATS server, the ingest and the Dodo stand-in's API. Where a port is
	// taken, a free one on the same host is used instead, so that a second
	// run beside the first still starts.
	NATSAddr, HTTPAddr, DodoAddr string
	// SyncAlways makes JetStream fsync every write before acknowledging it.
	SyncAlways bool
	// ExitAfterDemo makes Run return after the demo instead of serving
	// until its context ends.
	ExitAfterDemo bool
	// LogLevel is the services' log level: debug, info, warn or error.
	LogLevel string
}

// Run starts the stack, runs the demo journey and prints it to stdout, then
// serves until ctx ends (or returns at once with cfg.ExitAfterDemo). It
// shuts down in the reverse order of starting: the services first, so that
// they drain, then the stand-in and the NATS server. A ctx that ends before
// the services are up stops Run without an error.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	// Ids are unique per run, so that a second run on the same DataDir is
	// a new journey, not Dodo retrying (or replaying older events of) the
	// first one.
	runID := hex.EncodeToString(randomBytes(3))

	dir, removeDir, err := dataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer removeDir()
	rulesPath := cfg.RulesPath
	if rulesPath == "" {
		if rulesPath, err = writeRules(dir); err != nil {
			return err
		}
	}
	keys, err := newKeys(dir)
	if err != nil {
		return err
	}
	log, err := service.NewLogger(cfg.LogLevel, true)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ns, err := startNATS(cfg, dir)
	if err != nil {
		return err
	}
	defer natsserver.Stop(ns)

	httpLn, err := listenFree(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	st := &stack{runID: runID, natsURL: ns.ClientURL(), baseURL: "http://" + httpLn.Addr().String(), keys: keys, inboxDir: filepath.Join(dir, "inbox")}
	// The Dodo stand-in starts before the services: they call its API
	// (offers), and it sends its webhooks to the ingest's address.
	st.dodo, err = StartStandin(StandinConfig{Addr: cfg.DodoAddr, WebhookURL: st.baseURL + "/webhooks/dodo", WebhookSecret: keys.webhook, IDTag: runID})
	if err != nil {
		httpLn.Close()
		return err
	}
	defer st.dodo.Close()

	svc, err := startServices(st, rulesPath, httpLn, log)
	if err != nil {
		return err
	}
	defer svc.stop()
	select {
	case <-svc.ready:
	case err := <-svc.errs:
		return fmt.Errorf("service stopped at start: %w", err)
	case <-ctx.Done():
		return nil
	}

	envPath, err := writeEnv(dir, st)
	if err != nil {
		return err
	}
	p := &printer{w: stdout}
	customer := "cus_ana_" + runID
	p.header(st.natsURL, st.baseURL, keys.apiToken, keys.webhookPath, customer, cfg.SyncAlways)
	p.line("  Dodo      %s  (stand-in; API key %s; sends its webhooks to the ingest)", st.dodo.URL, st.dodo.APIKey)
	p.line("  rules     %s", rulesPath)
	p.line("  env       %s  (the URLs and keys above as shell exports, for bash docs/journeys.sh %s)", envPath, envPath)
	p.customers(st.dodo.Customers)
	if cfg.RulesPath != "" {
		p.line("\nThe demo journey is skipped: it is written for the demo's rules, not %s.", cfg.RulesPath)
	} else if err := runDemo(ctx, st, customer, p); err != nil {
		return err
	}
	return serve(ctx, cfg.ExitAfterDemo, svc.errs, p)
}

// stack is what Run started, as the demo needs to reach it.
type stack struct {
	runID    string
	natsURL  string
	baseURL  string // the ingest's
	keys     keys
	dodo     *Standin
	inboxDir string // where the worker writes confirmation emails
}

// dataDir returns dir, or a new temporary directory if dir is empty, and
// the function that removes what it created.
func dataDir(dir string) (string, func(), error) {
	if dir != "" {
		// Created if missing, as a user naming a new directory expects.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("-data %s: %w", dir, err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "offerflow-dev-*")
	if err != nil {
		return "", nil, err
	}
	// A leftover temporary directory is harmless; there is no one to
	// report a failed removal to at exit.
	return tmp, func() { _ = os.RemoveAll(tmp) }, nil
}

// writeRules writes the demo's rules file into dir and returns its path:
// the services read it from a file, as in production.
func writeRules(dir string) (string, error) {
	rules, err := demoFiles.ReadFile("demo-rules.yaml")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "rules.yaml")
	return path, os.WriteFile(path, rules, 0o600)
}

// writeEnv writes the run's addresses and local credentials into dir/env as
// shell exports, for a script to source (docs/journeys.sh does), and returns
// its path. The webhook secret stays in its own file.
func writeEnv(dir string, st *stack) (string, error) {
	vars := []struct{ name, value string }{
		{"OFFERFLOW_URL", st.baseURL},
		{"OFFERFLOW_API_TOKEN", st.keys.apiToken},
		{"DODO_API_BASE_URL", st.dodo.URL},
		{"DODO_API_KEY", st.dodo.APIKey},
		{"NATS_URL", st.natsURL},
	}
	var b strings.Builder
	b.WriteString("# offerflow dev: this run's addresses and local credentials (rewritten on every run).\n")
	for _, v := range vars {
		// Single quotes: the shell expands nothing in the value.
		fmt.Fprintf(&b, "export %s='%s'\n", v.name, strings.ReplaceAll(v.value, "'", `'\''`))
	}
	path := filepath.Join(dir, "env")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// keys are the secrets of one run, all generated for it.
type keys struct {
	webhook     webhook.Secret
	webhookPath string // where webhook is written, in whsec_ form
	apiToken    string
	offerKey    string
}

func newKeys(dir string) (keys, error) {
	k := keys{
		webhook:     webhook.NewSecret(randomBytes(32)),
		webhookPath: filepath.Join(dir, "webhook-secret"),
		apiToken:    "dev_" + hex.EncodeToString(randomBytes(16)),
		offerKey:    "dev:" + base64.RawURLEncoding.EncodeToString(randomBytes(32)),
	}
	// The secret goes to a file, not the terminal, so a person can sign
	// their own webhooks without it landing in scroll-back or CI logs.
	if err := os.WriteFile(k.webhookPath, []byte(k.webhook.Encode()+"\n"), 0o600); err != nil {
		return keys{}, err
	}
	return k, nil
}

// startNATS starts the embedded NATS server with its store in dir. It
// listens on a loopback port too, so that the nats CLI can watch.
func startNATS(cfg Config, dir string) (*natsserver.Server, error) {
	host, port, err := freeAddr(cfg.NATSAddr)
	if err != nil {
		return nil, err
	}
	return natsserver.Start(natsserver.Config{Name: "offerflow-dev", Host: host, Port: port, StoreDir: filepath.Join(dir, "nats"), SyncAlways: cfg.SyncAlways})
}

// services are the ingest and the worker, run as in production.
type services struct {
	ready  chan struct{} // closed once the ingest serves
	errs   chan error    // what each service returned when it stopped
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startServices starts the ingest, serving on ln, and the worker, with the
// production defaults except where dev must differ. It owns ln from then
// on, and closes it if it cannot start.
//
// The services' context is not Run's: on Ctrl-C Run stops them itself
// (stop), before the stand-in and the NATS server they depend on.
func startServices(st *stack, rulesPath string, ln net.Listener, log *zap.Logger) (*services, error) {
	ic, wc, err := serviceConfigs(st, rulesPath)
	if err != nil {
		ln.Close()
		return nil, err
	}
	// Confirmation emails land in a folder a person can read.
	mailer := &confirm.FolderMailer{Dir: st.inboxDir, From: "Offerflow Demo <shop@offerflow.test>"}

	ctx, cancel := context.WithCancel(context.Background())
	s := &services{ready: make(chan struct{}), errs: make(chan error, 2), cancel: cancel}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.errs <- service.RunIngest(ctx, ic, log.Named("ingest"), service.IngestOptions{Listener: ln, Ready: func(string) { close(s.ready) }})
	}()
	go func() {
		defer s.wg.Done()
		s.errs <- service.RunWorker(ctx, wc, log.Named("worker"), service.WorkerOptions{Mailer: mailer})
	}()
	return s, nil
}

// stop stops both services and waits until they have drained.
func (s *services) stop() {
	s.cancel()
	s.wg.Wait()
}

// serviceConfigs returns the services' settings: their documented
// defaults, pointed at this run's NATS server, rules, keys and stand-in.
func serviceConfigs(st *stack, rulesPath string) (service.IngestConfig, service.WorkerConfig, error) {
	var ic service.IngestConfig
	var wc service.WorkerConfig
	if err := declareDefaults(&ic, &wc); err != nil {
		return ic, wc, err
	}
	for _, c := range []*service.Common{&ic.Common, &wc.Common} {
		c.NATSURL = st.natsURL
		c.RulesPath = rulesPath
		c.Offers.DodoAPIKey, c.Offers.DodoBaseURL, c.Offers.OfferKey = st.dodo.APIKey, st.dodo.URL, st.keys.offerKey
		c.Offers.PublicURL = st.baseURL // offers carry the page the demo prints
	}
	ic.Secrets = st.keys.webhook.Encode()
	ic.APIToken = st.keys.apiToken
	// A merchant tries an offer page from their own dev server: any
	// origin may call accept and decline here (never in production by
	// default).
	ic.CORSOrigins = "*"
	wc.MetricsAddr = ""
	// Short retry delays: a webhook that fails for good is dead-lettered
	// within seconds, not after minutes of redeliveries.
	wc.BackoffBase, wc.BackoffMax = 200*time.Millisecond, time.Second
	return ic, wc, nil
}

// declareDefaults fills the service configs with their documented defaults,
// as if started without flags, so dev runs exactly the production settings
// except where it says otherwise.
//
// dev ignores the environment on purpose: it must behave the same on every
// machine, whatever NATS_URL or secrets the shell happens to export.
func declareDefaults(ic *service.IngestConfig, wc *service.WorkerConfig) error {
	empty := func(string) string { return "" }
	si := conf.New("ingest", empty, io.Discard)
	ic.Declare(si)
	sw := conf.New("worker", empty, io.Discard)
	wc.Declare(sw)
	return errors.Join(si.Parse(nil), sw.Parse(nil))
}

// serve keeps the stack running after the demo until ctx ends or a service
// stops; with exitAfter it returns at once.
func serve(ctx context.Context, exitAfter bool, errs <-chan error, p *printer) error {
	if exitAfter {
		p.line("\nDemo done; stopping (--exit-after-demo).")
		return nil
	}
	p.line("\nStill running: send your own webhooks or watch the subjects. Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		p.line("\nStopping: draining the worker and the ingest...")
		return nil
	case err := <-errs:
		return fmt.Errorf("a service stopped: %w", err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// freeAddr returns addr's host and port if the port is free, else the host
// and a port that was free a moment ago.
func freeAddr(addr string) (string, int, error) {
	ln, err := listenFree(addr)
	if err != nil {
		return "", 0, err
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return a.IP.String(), a.Port, nil
}

// listenFree listens on addr, or on a free port of addr's host if addr's
// port is taken.
func listenFree(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, fmt.Errorf("address %q: %w", addr, splitErr)
	}
	return net.Listen("tcp", net.JoinHostPort(host, "0"))
}
