package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/tracing"
	"github.com/offerflow/offerflow/internal/worker"
)

// WorkerConfig is the worker's configuration.
type WorkerConfig struct {
	Common
	MetricsAddr    string
	Concurrency    int
	AckWait        time.Duration
	MaxAckPending  int
	MaxAttempts    int
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	HandlerTimeout time.Duration
	DrainTimeout   time.Duration
	SMTPURL        string
	Templates      string
	// ConfirmationsOff are the confirmation kinds not to send.
	ConfirmationsOff string
}

// Declare adds the worker's settings to s.
func (c *WorkerConfig) Declare(s *conf.Set) {
	c.Common.Declare(s)
	d := natsbus.DefaultConsumerConfig()
	s.String(&c.MetricsAddr, "metrics-addr", "WORKER_METRICS_ADDR", ":8081", "address of /healthz, /readyz and /metrics; off: none")
	s.Int(&c.Concurrency, "concurrency", "WORKER_CONCURRENCY", d.Concurrency, "handlers running at once in this process")
	s.Duration(&c.AckWait, "ack-wait", "WORKER_ACK_WAIT", d.AckWait, "redeliver a message not acknowledged within this (long handlers send InProgress)")
	s.Int(&c.MaxAckPending, "max-ack-pending", "WORKER_MAX_ACK_PENDING", d.MaxAckPending, "unacknowledged messages across all replicas")
	s.Int(&c.MaxAttempts, "max-attempts", "WORKER_MAX_ATTEMPTS", d.MaxAttempts, "deliveries before a failing message is dead-lettered")
	s.Duration(&c.BackoffBase, "backoff-base", "WORKER_BACKOFF_BASE", time.Second, "first redelivery delay after a transient failure (doubles each time)")
	s.Duration(&c.BackoffMax, "backoff-max", "WORKER_BACKOFF_MAX", 5*time.Minute, "longest redelivery delay")
	s.Duration(&c.HandlerTimeout, "handler-timeout", "WORKER_HANDLER_TIMEOUT", d.HandlerTimeout, "longest one handler call may take")
	s.Duration(&c.DrainTimeout, "drain-timeout", "WORKER_DRAIN_TIMEOUT", d.DrainTimeout, "how long shutdown waits for messages in hand")
	s.Secret(&c.SMTPURL, "smtp-url", "SMTP_URL", "smtp[s]://user:pass@host:port[?from=...&starttls=...&timeout=...] for confirmation emails; empty: confirmations only published")
	s.String(&c.ConfirmationsOff, "confirmations-off", "OFFERFLOW_CONFIRMATIONS_OFF", "", "confirmation kinds not to send, comma-separated (offer_purchased, plan_upgraded, plan_downgraded, plan_changed, access_granted, access_revoked, charge_failed); empty: all are sent")
	s.String(&c.Templates, "templates", "OFFERFLOW_TEMPLATES", "", "directory of confirmation templates that replace the built-in ones (<kind>.<lang>.{subject.txt,txt,html})")
}

// Validate reports bad settings, all at once.
func (c *WorkerConfig) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("WORKER_CONCURRENCY must be > 0"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, errors.New("WORKER_ACK_WAIT must be at least 1s"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, errors.New("WORKER_MAX_ATTEMPTS must be > 0"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("WORKER_BACKOFF_BASE must be > 0 and <= WORKER_BACKOFF_MAX"))
	}
	if c.HandlerTimeout <= 0 {
		errs = append(errs, errors.New("WORKER_HANDLER_TIMEOUT must be > 0"))
	}
	if c.MaxAckPending < c.Concurrency {
		errs = append(errs, errors.New("WORKER_MAX_ACK_PENDING must be >= WORKER_CONCURRENCY"))
	}
	if _, err := confirm.ParseKinds(c.ConfirmationsOff); err != nil {
		errs = append(errs, fmt.Errorf("OFFERFLOW_CONFIRMATIONS_OFF: %w", err))
	}
	if c.SMTPURL != "" {
		if _, err := confirm.ParseSMTPURL(c.SMTPURL); err != nil {
			errs = append(errs, fmt.Errorf("SMTP_URL: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ConsumerConfig is the natsbus consumer configuration c describes.
func (c *WorkerConfig) ConsumerConfig() natsbus.ConsumerConfig {
	cc := natsbus.DefaultConsumerConfig()
	cc.Concurrency = c.Concurrency
	cc.AckWait = c.AckWait
	cc.MaxAckPending = c.MaxAckPending
	cc.MaxAttempts = c.MaxAttempts
	cc.Backoff = natsbus.ExponentialBackoff(c.BackoffBase, c.BackoffMax)
	cc.HandlerTimeout = c.HandlerTimeout
	cc.DrainTimeout = c.DrainTimeout
	return cc
}

// WorkerOptions are what a caller may supply besides the configuration.
type WorkerOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DodoTimeout bounds each Dodo API attempt; 0 means the client's
	// default.
	DodoTimeout time.Duration
	// Mailer, if set, delivers confirmation emails instead of SMTP_URL's
	// server (offerflow dev writes them to a folder).
	Mailer confirm.Mailer
	// MetricsListener, if set, serves /healthz, /readyz and /metrics
	// instead of listening on MetricsAddr.
	MetricsListener net.Listener
	// TracerProvider makes the worker's spans; nil: none
	// (NewTracerProvider builds one from the OTEL_* variables).
	TracerProvider trace.TracerProvider
}

// MetricsOff as WORKER_METRICS_ADDR serves no /healthz, /readyz or /metrics.
const MetricsOff = "off"

// RunWorker consumes DODO_EVENTS until ctx is cancelled, then drains: stop
// pulling, finish and ack what is in hand, close the metrics server and the
// connection.
//
// A stop requested while it is still starting (connecting, creating streams
// and the consumer) is a clean stop, not a failure: nothing was taken, so
// nothing is lost, and it returns nil.
func RunWorker(ctx context.Context, cfg WorkerConfig, log *zap.Logger, opt WorkerOptions) error {
	return stoppedWhileStarting(ctx, log, "worker", runWorker(ctx, cfg, log, opt))
}

func runWorker(ctx context.Context, cfg WorkerConfig, log *zap.Logger, opt WorkerOptions) error {
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	host, _ := os.Hostname()
	owner := host + "/" + strconv.Itoa(os.Getpid())
	log.Info("worker starting",
		zap.String("nats_url", natsbus.RedactURL(cfg.NATSURL)), zap.String("owner", owner),
		zap.Int("concurrency", cfg.Concurrency), zap.Duration("ack_wait", cfg.AckWait),
		zap.Int("max_attempts", cfg.MaxAttempts), zap.String("rules", cfg.RulesPath))
	catalog, err := LoadCatalog(cfg.RulesPath)
	if err != nil {
		return err
	}
	if err := cfg.Offers.Validate(catalog.HasOfferRules()); err != nil {
		return err
	}
	conn, err := cfg.open(ctx, "offerflow-worker", log, 4096, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Drain(10 * time.Second)
	// ready is assigned once the runners exist, before the registry or
	// /readyz can call it.
	var ready func(context.Context) error
	reg := newRegistry(serviceWorker, func(ctx context.Context) error { return ready(ctx) })
	opt.TracerProvider = tracing.Provider(opt.TracerProvider)
	w, engine, err := buildWorker(ctx, cfg, opt, conn, catalog, log, reg, owner, now)
	if err != nil {
		return err
	}
	runner, signals, offerRunner := consumers(cfg, conn, w, engine, log, reg, opt.TracerProvider)
	ready = func(context.Context) error {
		if !conn.Connected() {
			return errors.New("nats is not connected")
		}
		if err := runner.Ready(); err != nil {
			return err
		}
		if signals != nil {
			if err := signals.Ready(); err != nil {
				return err
			}
			return offerRunner.Ready()
		}
		return nil
	}
	// The health server outlives the consumers: /readyz says 503 while
	// they drain.
	stopHealth, err := serveHealth(cfg.MetricsAddr, opt.MetricsListener, log, reg, ready)
	if err != nil {
		return err
	}

	// One group: the first loop to end for good (its consumer stopped)
	// stops the others, and the worker returns its error, so the process
	// exits non-zero and is replaced. A loop that ends only because ctx
	// was cancelled returns nil.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runner.Run(gctx) })
	if signals != nil {
		g.Go(func() error { return signals.Run(gctx) })
		g.Go(func() error { return offerRunner.Run(gctx) })
		g.Go(func() error { engine.RunSweeper(gctx, cfg.Offers.SweepInterval); return nil })
	}
	runErr := g.Wait()
	log.Info("worker drained")
	return errors.Join(runErr, stopHealth())
}

// buildWorker assembles what handles each webhook: the ledger, the access
// store, the offer engine (nil when offers are off) and the confirmations.
func buildWorker(ctx context.Context, cfg WorkerConfig, opt WorkerOptions, conn *natsbus.Conn, catalog *rules.Catalog,
	log *zap.Logger, reg prometheus.Registerer, owner string, now func() time.Time) (*worker.Worker, *offerengine.Engine, error) {
	// A claim outlives the consumer's AckWait, so a slow but alive worker
	// keeps it while the message is redelivered to nobody else.
	ledger, err := conn.Ledger(ctx, owner, 2*cfg.AckWait, now)
	if err != nil {
		return nil, nil, err
	}
	store, err := conn.AccessStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	w := worker.New(ledger, store, conn.Publisher(10*time.Second), catalog, now, opt.TracerProvider)
	engine, err := cfg.Offers.newEngine(ctx, conn, catalog, log, reg, now, opt.DodoTimeout, opt.TracerProvider)
	if err != nil {
		return nil, nil, err
	}
	if engine != nil {
		webhooks, err := conn.Stream(ctx, natsbus.EventsStream)
		if err != nil {
			return nil, nil, err
		}
		w.WithOffers(engine).WithAccessFloor(func(ctx context.Context) (uint64, error) {
			st, err := webhooks.ConsumerState(ctx, natsbus.WorkerConsumer)
			return st.AckFloor, err
		})
	}
	confirmer, err := newConfirmer(cfg, opt, ledger, conn.Publisher(10*time.Second), log, now)
	if err != nil {
		return nil, nil, err
	}
	off, err := confirm.ParseKinds(cfg.ConfirmationsOff)
	if err != nil {
		return nil, nil, fmt.Errorf("OFFERFLOW_CONFIRMATIONS_OFF: %w", err)
	}
	w.WithConfirmations(confirmer, off, func(id string) string {
		p, _ := catalog.Product(id)
		return p.Name
	})
	return w, engine, nil
}

// consumers returns the webhook consumer's runner and, while offers are on,
// the runners of the merchant app's signals and of the offers webhooks
// trigger (nil otherwise), all counted in reg (their lag at each scrape)
// and each delivery a consumer span of tp.
//
// Offers are made on a consumer of their own (worker.HandleOffers), with
// few handlers: their Dodo calls wait for the process's rate limit, and on
// the webhook consumer that wait would hold the handlers that grant access.
func consumers(cfg WorkerConfig, conn *natsbus.Conn, w *worker.Worker, engine *offerengine.Engine,
	log *zap.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (runner, signals, offers *natsbus.ConsumerRunner) {
	metrics := newConsumerMetrics(reg)
	wc := cfg.ConsumerConfig()
	runner = conn.ConsumerRunner(wc, traced(tp, wc.Durable, w.Handle), log, metrics.hooks(wc.Durable))
	if engine == nil {
		reg.MustRegister(newLagCollector(conn, log, wc))
		return runner, nil, nil
	}
	dodoHandlers := OfferConcurrency(cfg)
	sc := cfg.ConsumerConfig()
	sc.Stream, sc.Durable, sc.Filter = natsbus.OutStream, SignalsConsumer, SignalsSubjects
	sc.Concurrency = max(1, min(cfg.Concurrency, 16, dodoHandlers))
	sc.MaxAckPending = max(sc.Concurrency, min(cfg.MaxAckPending, 256))
	oc := cfg.ConsumerConfig()
	oc.Durable = OffersConsumer
	oc.Concurrency = dodoHandlers
	// It outwaits every attempt of the webhook consumer (HandleOffers).
	oc.MaxAttempts = 2 * cfg.MaxAttempts
	oc.MaxAckPending = max(oc.Concurrency, min(cfg.MaxAckPending, 1024))
	reg.MustRegister(newLagCollector(conn, log, wc, sc, oc))
	signals = conn.ConsumerRunner(sc, traced(tp, sc.Durable, signalHandler(engine)), log, metrics.hooks(sc.Durable))
	offers = conn.ConsumerRunner(oc, traced(tp, oc.Durable, w.HandleOffers), log, metrics.hooks(oc.Durable))
	return runner, signals, offers
}

// OfferConcurrency is how many handlers of one worker make offers (and
// handle signals) at once. All of them share the process's Dodo rate limit
// (DODO_RATE_LIMIT a minute), and an offer makes up to four Dodo calls (the
// customer's payments and payment methods; a plan change's subscription
// and preview, or a fallback checkout), so n handlers can wait up to 4n
// calls' worth of budget. Keeping that within half the handler timeout,
// n <= limit per second x timeout / 8, means a burst makes every handler
// wait its turn instead of timing out and spending its attempts: at 240 a
// minute and 25 s, 12 handlers. Without a limit (the stand-in), up to 64.
func OfferConcurrency(cfg WorkerConfig) int {
	if cfg.Offers.DodoRateLimit <= 0 {
		return max(1, min(cfg.Concurrency, 64))
	}
	perSecond := float64(cfg.Offers.DodoRateLimit) / 60
	n := int(perSecond * cfg.HandlerTimeout.Seconds() / 8)
	return max(1, min(n, cfg.Concurrency, 32))
}

// traced makes each delivery h handles a consumer span of tp, the child of
// the span whose W3C trace context the message's headers carry (the
// ingest's span of the webhook), so that one trace follows a webhook from
// its POST to its last effect.
func traced(tp trace.TracerProvider, durable string, h natsbus.Handler) natsbus.Handler {
	tracer := tp.Tracer(tracerName)
	return func(ctx context.Context, d natsbus.Delivery) error {
		ctx = tracing.Extract(ctx, d.Header)
		// Named by the consumer, not the subject: subjects carry ids.
		ctx, span := tracer.Start(ctx, "process "+durable, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.consumer.group.name", durable),
				attribute.String("messaging.destination.name", d.Subject),
				attribute.String("messaging.message.id", d.Header.Get(natsbus.HeaderWebhookID)),
				attribute.Int64("messaging.nats.stream_sequence", int64(d.StreamSeq)),
				attribute.Int64("messaging.nats.delivered_count", int64(d.NumDelivered)),
			))
		defer span.End()
		err := h(ctx, d)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}

// tracerName is the instrumentation scope of the spans this package makes.
const tracerName = "github.com/offerflow/offerflow/internal/service"

// serveHealth serves /healthz, /readyz and /metrics on ln, or else on
// addr, until the returned stop is called; stop waits for the server to
// end and returns its error. Without ln, "off" serves nothing; so does an
// empty -metrics-addr= (an empty variable cannot: the environment does not
// tell it from an unset one).
func serveHealth(addr string, ln net.Listener, log *zap.Logger, reg *prometheus.Registry, ready func(context.Context) error) (stop func() error, err error) {
	if ln == nil {
		if addr == "" || addr == MetricsOff {
			return func() error { return nil }, nil
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveHTTP(ctx, log, "", ln, healthMux(reg, ready), 5*time.Second, 0, nil) }()
	return func() error {
		cancel()
		return <-done
	}, nil
}

// healthMux serves the worker's /healthz (the process is up), /readyz (it
// is consuming: connected, consumers bound and pulling, not draining) and
// /metrics.
func healthMux(reg *prometheus.Registry, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// newConfirmer builds the confirmation sender: templates (built in, or
// overridden by OFFERFLOW_TEMPLATES; a bad one stops startup), and the
// mailer (opt.Mailer, SMTP_URL's server, or none: publish only).
func newConfirmer(cfg WorkerConfig, opt WorkerOptions, ledger *natsbus.Ledger, pub *natsbus.Publisher, log *zap.Logger, now func() time.Time) (*confirm.Service, error) {
	r, err := confirm.NewRenderer(cfg.Templates)
	if err != nil {
		return nil, fmt.Errorf("OFFERFLOW_TEMPLATES: %w", err)
	}
	mailer := opt.Mailer
	if mailer == nil && cfg.SMTPURL != "" {
		sc, err := confirm.ParseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		m, err := confirm.NewSMTPMailer(sc)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		log.Info("confirmation emails on", zap.Stringer("smtp", sc))
		mailer = m
	}
	return confirm.NewService(ledger, pub, mailer, r, log.Named("confirm"), now, opt.TracerProvider), nil
}
