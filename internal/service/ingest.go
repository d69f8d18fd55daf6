package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/ingest"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/tracing"
	"github.com/offerflow/offerflow/internal/webhook"
)

// IngestConfig is the ingest's configuration.
type IngestConfig struct {
	Common
	Addr           string
	Secrets        string
	Tolerance      time.Duration
	APIToken       string
	MaxBody        int64
	PublishTimeout time.Duration
	MaxPending     int
	ShutdownGrace  time.Duration
	DrainDelay     time.Duration
	MetricsAddr    string
	CORSOrigins    string
	MaxConns       int
}

// Declare adds the ingest's settings to s.
func (c *IngestConfig) Declare(s *conf.Set) {
	c.Common.Declare(s)
	s.String(&c.Addr, "addr", "INGEST_ADDR", ":8080", "listen address")
	s.Secret(&c.Secrets, "webhook-secret", "DODO_WEBHOOK_SECRET", "whsec_ secrets, separated by spaces or commas (several during rotation) (required)")
	s.Duration(&c.Tolerance, "webhook-tolerance", "DODO_WEBHOOK_TOLERANCE", 5*time.Minute, "allowed clock skew of webhook-timestamp, both directions")
	s.Secret(&c.APIToken, "api-token", "OFFERFLOW_API_TOKEN", "bearer token for server-to-server API calls; empty: the API answers 401")
	s.Int64(&c.MaxBody, "max-body", "INGEST_MAX_BODY", 1<<20, "largest webhook body accepted, bytes (413 above)")
	s.Duration(&c.PublishTimeout, "publish-timeout", "INGEST_PUBLISH_TIMEOUT", 5*time.Second, "how long to wait for JetStream's ack before answering 503 (Dodo gives up after 15s)")
	s.Int(&c.MaxPending, "max-pending", "INGEST_MAX_PENDING", 4096, "publishes in flight before new ones wait")
	s.Duration(&c.ShutdownGrace, "shutdown-grace", "INGEST_SHUTDOWN_GRACE", 20*time.Second, "how long shutdown waits for in-flight requests")
	s.String(&c.CORSOrigins, "cors-origins", "OFFERFLOW_CORS_ORIGINS", "", "origins (scheme://host[:port], or *) whose pages may call the accept and decline routes from a browser; empty: none")
	s.String(&c.MetricsAddr, "metrics-addr", "INGEST_METRICS_ADDR", "", "serve /metrics on this address instead of INGEST_ADDR, so that whoever reaches the webhook port does not read the offer revenue figures; empty: on INGEST_ADDR")
	s.Int(&c.MaxConns, "max-conns", "INGEST_MAX_CONNS", 4096, "open connections served at once; more wait to be accepted (a crowd of slow clients cannot take every file descriptor and gigabytes of buffers)")
	s.Duration(&c.DrainDelay, "drain-delay", "INGEST_DRAIN_DELAY", 0, "after SIGTERM, keep serving this long with /readyz answering 503 before shutting down, so load balancers stop sending first")
}

// Validate reports missing or bad settings, all at once.
func (c *IngestConfig) Validate() error {
	errs := []error{c.Common.Validate()}
	if strings.TrimSpace(c.Secrets) == "" {
		errs = append(errs, errors.New("DODO_WEBHOOK_SECRET is required"))
	} else if _, err := webhook.ParseSecrets(c.Secrets); err != nil {
		errs = append(errs, fmt.Errorf("DODO_WEBHOOK_SECRET: %w", err))
	}
	if c.Tolerance <= 0 {
		errs = append(errs, errors.New("DODO_WEBHOOK_TOLERANCE must be > 0"))
	}
	if c.MaxBody < 1 {
		errs = append(errs, errors.New("INGEST_MAX_BODY must be > 0"))
	}
	if c.PublishTimeout <= 0 || c.PublishTimeout >= 15*time.Second {
		errs = append(errs, errors.New("INGEST_PUBLISH_TIMEOUT must be in (0, 15s): Dodo gives up after 15s"))
	}
	if _, err := ingest.ParseOrigins(c.CORSOrigins); err != nil {
		errs = append(errs, fmt.Errorf("OFFERFLOW_CORS_ORIGINS: %w", err))
	}
	if c.MaxConns < 1 {
		errs = append(errs, errors.New("INGEST_MAX_CONNS must be > 0"))
	}
	if c.MaxPending < 1 {
		errs = append(errs, errors.New("INGEST_MAX_PENDING must be > 0"))
	}
	return errors.Join(errs...)
}

// IngestOptions are what a caller may supply besides the configuration.
type IngestOptions struct {
	// Listener, if set, is served instead of listening on Addr.
	Listener net.Listener
	// MetricsListener, if set, serves /metrics instead of listening on
	// MetricsAddr.
	MetricsListener net.Listener
	// Ready is called with the address once the server is listening.
	Ready func(addr string)
	// Now is the clock of signatures and offers; nil means time.Now.
	Now func() time.Time
	// TracerProvider makes the ingest's spans; nil: none
	// (NewTracerProvider builds one from the OTEL_* variables).
	TracerProvider trace.TracerProvider
}

// RunIngest runs the ingest until ctx is cancelled, then shuts down in
// reverse order: stop accepting, let in-flight requests finish (each is
// acknowledged or answered 503), then drain the NATS connection.
//
// A stop requested while it is still starting is a clean stop: it returns
// nil (see RunWorker).
func RunIngest(ctx context.Context, cfg IngestConfig, log *zap.Logger, opt IngestOptions) error {
	return stoppedWhileStarting(ctx, log, "ingest", runIngest(ctx, cfg, log, opt))
}

func runIngest(ctx context.Context, cfg IngestConfig, log *zap.Logger, opt IngestOptions) error {
	secrets, err := webhook.ParseSecrets(cfg.Secrets)
	if err != nil {
		return fmt.Errorf("DODO_WEBHOOK_SECRET: %w", err)
	}
	logIngestStart(log, cfg, secrets)
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	verifier, err := webhook.NewVerifier(secrets, cfg.Tolerance, now)
	if err != nil {
		return err
	}
	catalog, err := LoadCatalog(cfg.RulesPath)
	if err != nil {
		return err
	}

	conn, err := cfg.open(ctx, "offerflow-ingest", log, cfg.MaxPending, cfg.PublishTimeout)
	if err != nil {
		return err
	}
	defer conn.Drain(10 * time.Second)
	store, err := conn.AccessStore(ctx)
	if err != nil {
		return err
	}

	ready := func(rctx context.Context) error {
		// Not ready from the moment a stop is asked (SIGTERM), before
		// the drain: load balancers stop sending new webhooks.
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		if !conn.Connected() {
			return errors.New("nats is not connected")
		}
		return conn.CheckStreams(rctx)
	}
	reg := newRegistry(serviceIngest, ready)
	tp := tracing.Provider(opt.TracerProvider)
	var offersAPI ingest.OffersAPI
	engine, err := cfg.Offers.newEngine(ctx, conn, catalog, log, reg, now, 0, tp)
	if err != nil {
		return err
	}
	if engine != nil {
		offersAPI = engine // a nil *Engine in the interface would not read as nil
	}
	origins, err := ingest.ParseOrigins(cfg.CORSOrigins)
	if err != nil {
		return fmt.Errorf("OFFERFLOW_CORS_ORIGINS: %w", err)
	}
	var gatherer prometheus.Gatherer = reg
	if cfg.MetricsAddr != "" || opt.MetricsListener != nil {
		gatherer = nil // served apart, below
	}
	handler := ingest.NewServer(ingest.Deps{
		Log:         log,
		Verifier:    verifier,
		Publisher:   conn.Publisher(cfg.PublishTimeout),
		Ready:       ready,
		Tracer:      tp,
		Access:      store,
		Catalog:     catalog,
		APIToken:    cfg.APIToken,
		MaxBody:     cfg.MaxBody,
		RetryAfter:  5 * time.Second,
		Metrics:     ingest.NewMetrics(reg),
		Gatherer:    gatherer,
		CORSOrigins: origins,
		Offers:      offersAPI,
		// Signals are stored like webhooks, for the workers' signal
		// consumer; a publish answers only once JetStream has them.
		Signals:       conn.Publisher(cfg.PublishTimeout),
		SignalSubject: SignalSubject,
	})
	return serveIngest(ctx, cfg, opt, log, handler, reg)
}

// logIngestStart logs the settings an operator checks first; of the
// webhook secrets, only their fingerprints.
func logIngestStart(log *zap.Logger, cfg IngestConfig, secrets []webhook.Secret) {
	fps := make([]string, len(secrets))
	for i, s := range secrets {
		fps[i] = s.Fingerprint()
	}
	log.Info("ingest starting",
		zap.String("addr", cfg.Addr), zap.String("nats_url", natsbus.RedactURL(cfg.NATSURL)),
		zap.Strings("webhook_secrets", fps), zap.Duration("tolerance", cfg.Tolerance),
		zap.Bool("api_token_set", cfg.APIToken != ""), zap.Int64("max_body", cfg.MaxBody),
		zap.Duration("publish_timeout", cfg.PublishTimeout), zap.Int("stream_replicas", cfg.Streams.Replicas),
		zap.Bool("stream_async_persist", cfg.Streams.AsyncPersist))
}

// serveIngest serves the ingest's handler on its address (at most
// INGEST_MAX_CONNS connections at once) and, when asked, /metrics on its
// own, until ctx ends.
func serveIngest(ctx context.Context, cfg IngestConfig, opt IngestOptions, log *zap.Logger, handler http.Handler, reg *prometheus.Registry) error {
	ln := opt.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	// At most MaxConns connections at once: more wait in the kernel's
	// accept queue instead of each holding a goroutine and buffers.
	ln = netutil.LimitListener(ln, cfg.MaxConns)
	separate := cfg.MetricsAddr != "" || opt.MetricsListener != nil
	if !separate {
		return serveHTTP(ctx, log, cfg.Addr, ln, handler, cfg.ShutdownGrace, cfg.DrainDelay, opt.Ready)
	}
	// /metrics on its own address: the two servers live and stop
	// together, and the first to fail stops the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serveHTTP(gctx, log, cfg.Addr, ln, handler, cfg.ShutdownGrace, cfg.DrainDelay, opt.Ready)
	})
	g.Go(func() error {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		return serveHTTP(gctx, log, cfg.MetricsAddr, opt.MetricsListener, mux, 5*time.Second, 0, nil)
	})
	return g.Wait()
}

// serveHTTP serves h until ctx is cancelled, then keeps serving for
// drainDelay (while /readyz answers 503, so that load balancers stop
// sending), then shuts down gracefully.
func serveHTTP(ctx context.Context, log *zap.Logger, addr string, ln net.Listener, h http.Handler, grace, drainDelay time.Duration, ready func(string)) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if drainDelay > 0 {
		log.Info("stopping: not ready, still serving", zap.Duration("drain_delay", drainDelay))
		t := time.NewTimer(drainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := ctxWithTimeout(grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc // Serve has returned ErrServerClosed
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
