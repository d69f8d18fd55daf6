// Package testenv runs offerflow for a test the way it runs in production:
// an embedded JetStream server (natstest), the ingest and the worker as
// their binaries run them (service.RunIngest, service.RunWorker), and, when
// asked, Dodo's stand-in delivering signed webhooks to the ingest, all on
// one fake clock. Only tests import it.
//
// A test starts one with Start and the options it needs, then drives it
// from the outside: webhooks in (Post, or the stand-in through Buy), Settle
// to wait until the worker has handled them, and Messages, Products or the
// stores to read what came out. Everything it starts is stopped and joined
// when the test ends, and every message offerflow stored is validated
// against the published contract (contract/asyncapi.yaml and its schemas).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
	"github.com/offerflow/offerflow/internal/webhook"
)

// WebhookPath is the ingest's route for Dodo's webhooks.
const WebhookPath = "/webhooks/dodo"

// dodoKey is the API key the stand-in requires and the services send.
const dodoKey = "sk_test_testenv"

// Bounds of the waits: far above what they take (well under a second),
// so that they only end a test that would otherwise hang and never fire on
// a slow, loaded machine (scripts/stress.sh).
const (
	startBound = 2 * time.Minute
	waitBound  = time.Minute
)

// Env is one running offerflow. A test reads its fields and never assigns
// them: the services hold the same clock, stand-in and secret.
type Env struct {
	// Clock is the time of the stand-in, the ingest, the worker and Client.
	Clock *fakeclock.Clock
	// NATSURL is the embedded server's; Conn is a connection of the
	// test's own to it.
	NATSURL string
	Conn    *natsbus.Conn
	// URL is the ingest's base URL, http://127.0.0.1:port.
	URL string
	// Secret signs the webhooks the ingest accepts.
	Secret webhook.Secret
	// APIToken is the bearer token of server-to-server API calls.
	APIToken string
	// AccessStore and OfferStore are the worker's buckets.
	AccessStore *natsbus.AccessStore
	OfferStore  *natsbus.OfferStore
	// Dodo is the stand-in and Client a Dodo client of its API, on Clock;
	// both nil without WithDodo.
	Dodo   *standin.Server
	Client *dodo.Client
	// WorkerMetricsURL is the worker's /metrics, with WithWorkerMetrics;
	// the ingest's is URL+"/metrics".
	WorkerMetricsURL string

	offers bool
	http   *http.Client
	buys   atomic.Int64 // for Buy's idempotency keys
}

// settings are what the options choose.
type settings struct {
	clock   *fakeclock.Clock
	rules   string
	dodo    bool
	offers  bool
	smtpURL string
	// offContract are the Nats-Msg-Ids of messages the test publishes
	// itself, outside the contract (WithOffContract).
	offContract map[string]bool
	ingest      []func(*service.IngestConfig)
	worker      []func(*service.WorkerConfig)
	tracer      trace.TracerProvider
	metrics     bool
	publicURL   bool
	// dodoWrap wrap the stand-in's handler, innermost first.
	dodoWrap []func(http.Handler) http.Handler
}

// Option chooses one thing about the offerflow Start runs.
type Option func(*settings)

// WithClock shares c instead of a clock that runs with real time.
func WithClock(c *fakeclock.Clock) Option { return func(s *settings) { s.clock = c } }

// WithRules gives both services this rules and catalog file (YAML).
func WithRules(yaml string) Option { return func(s *settings) { s.rules = yaml } }

// WithDodo starts Dodo's stand-in on the clock, delivering its webhooks to
// the ingest, and a client of its API (Env.Dodo, Env.Client).
func WithDodo() Option { return func(s *settings) { s.dodo = true } }

// WithOffers turns the offer engine on in both services, against the
// stand-in (it implies WithDodo), with a sweep every second; Settle then
// also waits for the signal consumer.
func WithOffers() Option { return func(s *settings) { s.dodo, s.offers = true, true } }

// WithPublicURL sets both services' OFFERFLOW_PUBLIC_URL to the ingest's
// address (Env.URL), so offers carry page_url, the hosted offer page.
func WithPublicURL() Option { return func(s *settings) { s.publicURL = true } }

// WithDodoMiddleware wraps the stand-in's HTTP handler in mw: every
// request of the services, and of Env.Client, passes through it (a test
// that holds Dodo's answers back, or counts them). It implies WithDodo.
func WithDodoMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(s *settings) { s.dodo, s.dodoWrap = true, append(s.dodoWrap, mw) }
}

// WithSMTP has the worker send confirmation emails to SMTP_URL url.
func WithSMTP(url string) Option { return func(s *settings) { s.smtpURL = url } }

// WithTracerProvider gives both services tp for their spans (a test's
// SDK provider with an in-memory exporter); without it they make none.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *settings) { s.tracer = tp }
}

// WithWorkerMetrics serves the worker's /healthz, /readyz and /metrics on
// a port of the loopback (Env.WorkerMetricsURL).
func WithWorkerMetrics() Option { return func(s *settings) { s.metrics = true } }

// WithIngest changes the ingest's settings after Start has made its own.
func WithIngest(f func(*service.IngestConfig)) Option {
	return func(s *settings) { s.ingest = append(s.ingest, f) }
}

// WithWorker changes the worker's settings after Start has made its own.
func WithWorker(f func(*service.WorkerConfig)) Option {
	return func(s *settings) { s.worker = append(s.worker, f) }
}

// Start runs offerflow for t and returns once the ingest listens and the
// worker's consumers exist. The services' settings are their defaults,
// except: no worker /metrics server, and redelivery after 50 ms to 200 ms
// instead of a second to five minutes, so that a retry does not hold a
// test up. When t ends, the stand-in and the services stop; then every
// message stored on DODO_EVENTS and OFFERFLOW is checked against the
// published contract (package contract; WithOffContract exempts what a test
// publishes itself); then the connections close. t fails if a service
// ended with an error or a message breaks the contract.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.clock == nil {
		s.clock = fakeclock.Running()
	}
	e, ln, tr := newEnv(t, s)
	ic, wc := e.configs(t, s)
	// Registered before the services' cleanup, so it runs after it: every
	// message the services published is stored by then, and the
	// connection is still open.
	t.Cleanup(func() { e.checkContract(t, s.offContract) })

	var (
		metricsLn net.Listener // the worker's, with WithWorkerMetrics
		stopDodo  = func() {}
		cancel    = func() {}
		wg        sync.WaitGroup
		errs      = make(chan error, 2)
	)
	t.Cleanup(func() {
		stopDodo()
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("service: %v", err)
			}
		}
		tr.CloseIdleConnections()
		_ = ln.Close() // when Start failed before the ingest took it
		if metricsLn != nil {
			_ = metricsLn.Close() // likewise, the worker
		}
	})

	if s.dodo {
		stopDodo = e.startDodo(t, s, &ic, &wc, tr)
	}
	if s.publicURL {
		ic.Offers.PublicURL, wc.Offers.PublicURL = e.URL, e.URL
	}
	for _, f := range s.ingest {
		f(&ic)
	}
	for _, f := range s.worker {
		f(&wc)
	}

	log := zap.NewNop()
	if testing.Verbose() {
		log, _ = zap.NewDevelopment()
	}
	if s.metrics {
		var err error
		if metricsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		e.WorkerMetricsURL = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	ctx, stop := context.WithCancel(context.Background())
	cancel = stop
	listening := e.runServices(ctx, s, ic, wc, ln, metricsLn, log, &wg, errs)
	started := time.Now()
	waitStart(t, errs, "the ingest to listen", func() bool {
		select {
		case <-listening:
			return true
		default:
			return false
		}
	})
	waitStart(t, errs, "the worker's consumers", e.consuming)
	if d := time.Since(started); d > 5*time.Second {
		t.Logf("the services took %s to start", d)
	}
	// The buckets exist: the ingest made them before it listened.
	var err error
	if e.AccessStore, err = e.Conn.AccessStore(ctx); err != nil {
		t.Fatal(err)
	}
	if e.OfferStore, err = e.Conn.OfferStore(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// newEnv starts the embedded NATS server and the Env's connection to it
// (closed at t's end), and takes the ingest's listener: ours from the
// start, so the stand-in is told its address before the ingest runs and no
// one else can take the port. tr is the transport of the Env's clients.
func newEnv(t testing.TB, s settings) (e *Env, ln net.Listener, tr *http.Transport) {
	natsURL := natstest.Start(t).ClientURL()
	conn, err := natsbus.Connect(natsbus.Dial{URL: natsURL, Name: "testenv"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr = &http.Transport{}
	e = &Env{
		Clock:    s.clock,
		NATSURL:  natsURL,
		Conn:     conn,
		URL:      "http://" + ln.Addr().String(),
		Secret:   webhook.NewSecret(random(t, 32)),
		APIToken: "srv_" + base64.RawURLEncoding.EncodeToString(random(t, 18)),
		offers:   s.offers,
		http:     &http.Client{Transport: tr, Timeout: waitBound},
	}
	return e, ln, tr
}

// startDodo starts the stand-in on an HTTP server of its own, delivering
// webhooks to the ingest, and the Env's client of it; with offers, it points
// both services' offer settings at it. The returned func stops it.
func (e *Env) startDodo(t testing.TB, s settings, ic *service.IngestConfig, wc *service.WorkerConfig, tr *http.Transport) (stop func()) {
	e.Dodo = standin.New(standin.Config{APIKey: dodoKey, WebhookURL: e.URL + WebhookPath, WebhookSecret: e.Secret, Now: e.Clock.Now})
	h := e.Dodo.Handler()
	for _, mw := range s.dodoWrap {
		h = mw(h)
	}
	api := httptest.NewServer(h)
	stop = func() {
		e.Dodo.Close()
		api.Close()
	}
	var err error
	e.Client, err = dodo.New(dodo.Config{APIKey: dodoKey, BaseURL: api.URL, Now: e.Clock.Now, RateLimit: -1, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	if s.offers {
		key := "k1:" + base64.RawURLEncoding.EncodeToString(random(t, 32))
		for _, c := range []*service.Common{&ic.Common, &wc.Common} {
			c.Offers.DodoAPIKey, c.Offers.DodoBaseURL, c.Offers.OfferKey = dodoKey, api.URL, key
			c.Offers.SweepInterval = time.Second
			c.Offers.DodoRateLimit = 0 // the stand-in has no budget to keep to
		}
	}
	return stop
}

// runServices starts the ingest (on ln) and the worker until ctx ends,
// each sending its result on errs when it returns; wg counts them. The
// returned channel closes once the ingest listens.
func (e *Env) runServices(ctx context.Context, s settings, ic service.IngestConfig, wc service.WorkerConfig,
	ln, metricsLn net.Listener, log *zap.Logger, wg *sync.WaitGroup, errs chan<- error) <-chan struct{} {
	listening := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs <- service.RunIngest(ctx, ic, log.Named("ingest"), service.IngestOptions{
			Listener: ln, Ready: func(string) { close(listening) }, Now: e.Clock.Now, TracerProvider: s.tracer,
		})
	}()
	go func() {
		defer wg.Done()
		errs <- service.RunWorker(ctx, wc, log.Named("worker"), service.WorkerOptions{
			Now: e.Clock.Now, TracerProvider: s.tracer, MetricsListener: metricsLn,
		})
	}()
	return listening
}

// configs returns the services' settings: their defaults, as an empty
// environment gives them, and what every test needs.
func (e *Env) configs(t testing.TB, s settings) (service.IngestConfig, service.WorkerConfig) {
	t.Helper()
	var ic service.IngestConfig
	var wc service.WorkerConfig
	empty := func(string) string { return "" }
	si, sw := conf.New("ingest", empty, io.Discard), conf.New("worker", empty, io.Discard)
	ic.Declare(si)
	wc.Declare(sw)
	if err := si.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Parse(nil); err != nil {
		t.Fatal(err)
	}
	ic.NATSURL, wc.NATSURL = e.NATSURL, e.NATSURL
	if s.rules != "" {
		path := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(path, []byte(s.rules), 0o600); err != nil {
			t.Fatal(err)
		}
		ic.RulesPath, wc.RulesPath = path, path
	}
	ic.Secrets, ic.APIToken = e.Secret.Encode(), e.APIToken
	wc.MetricsAddr = ""
	wc.BackoffBase, wc.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	wc.SMTPURL = s.smtpURL
	return ic, wc
}

// consuming reports whether the worker's durable consumers exist: then
// whatever is stored is the worker's to handle.
func (e *Env) consuming() bool {
	return e.hasConsumer(natsbus.EventsStream, natsbus.WorkerConsumer) &&
		(!e.offers || e.hasConsumer(natsbus.OutStream, service.SignalsConsumer) && e.hasConsumer(natsbus.EventsStream, service.OffersConsumer))
}

func (e *Env) hasConsumer(stream, name string) bool {
	ctx := context.Background()
	st, err := e.Conn.Stream(ctx, stream)
	if err != nil {
		return false
	}
	_, err = st.ConsumerState(ctx, name)
	return err == nil
}

// waitStart polls cond until it holds, failing t if a service ends first
// or startBound passes.
func waitStart(t testing.TB, errs <-chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startBound)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", startBound, what)
		}
		select {
		case err := <-errs:
			t.Fatalf("a service stopped while starting (waiting for %s): %v", what, err)
		case <-tick.C:
		}
	}
}

func random(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
