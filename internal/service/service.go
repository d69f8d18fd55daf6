// Package service assembles offerflow's two services, ingest and worker,
// from their configuration. The binaries in cmd/ingest and cmd/worker parse
// settings and call RunIngest or RunWorker; `offerflow dev` calls both on
// one embedded NATS server.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/offerflow/offerflow/internal/conf"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/rules"
)

// Common are the settings both services share.
type Common struct {
	NATSURL   string
	NATSCreds string
	RulesPath string
	LogLevel  string
	Streams   natsbus.StreamSettings
	Offers    OffersConfig
}

// Declare adds the shared settings to s.
func (c *Common) Declare(s *conf.Set) {
	d := natsbus.DefaultStreamSettings()
	// Secret, not String: a URL may carry a password, and usage would
	// print it as the default.
	s.Secret(&c.NATSURL, "nats-url", "NATS_URL", "NATS server URL(s), comma-separated (required)")
	s.String(&c.NATSCreds, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	s.String(&c.RulesPath, "rules", "OFFERFLOW_RULES", "", "rules and catalog file (YAML); empty: access by product id only")
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn, error")
	s.Int(&c.Streams.Replicas, "stream-replicas", "STREAM_REPLICAS", d.Replicas, "replicas of streams and buckets (1 single server, 3 production cluster)")
	s.Duration(&c.Streams.MaxAge, "stream-max-age", "STREAM_MAX_AGE", d.MaxAge, "how long DODO_EVENTS and OFFERFLOW keep messages")
	s.Duration(&c.Streams.Duplicates, "stream-duplicate-window", "STREAM_DUPLICATE_WINDOW", d.Duplicates, "JetStream de-duplication window on Nats-Msg-Id")
	s.Int64(&c.Streams.MaxBytes, "stream-max-bytes", "STREAM_MAX_BYTES", 0, "size limit of each stream, 0 unlimited; when full, publishes are refused (503 to Dodo), never old events dropped")
	s.Bool(&c.Streams.AsyncPersist, "stream-async-persist", "STREAM_ASYNC_PERSIST", false, "acknowledge publishes before they are written (R1 only; unsafe for payments)")
	s.Duration(&c.Streams.LedgerTTL, "ledger-ttl", "LEDGER_TTL", d.LedgerTTL, "how long the idempotency ledger remembers a webhook-id (at least 168h)")
	s.Duration(&c.Streams.OfferRetention, "offer-retention", "OFFER_RETENTION", d.OfferRetention, "how long an offer is kept after its last change (at least 720h)")
	c.Offers.Declare(s)
}

// Validate reports missing or contradictory shared settings.
func (c *Common) Validate() error {
	var errs []error
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS_URL is required (offerflow dev embeds a server)"))
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if err := c.Streams.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Offers.Validate(false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NewLogger returns a JSON logger at level writing to out's sink (stderr
// in production).
func NewLogger(level string, console bool) (*zap.Logger, error) {
	cfg := zap.NewProductionConfig()
	if console {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}

// open connects to NATS as name and makes sure the streams and buckets
// exist, as every service does at start. The caller drains the connection.
func (c *Common) open(ctx context.Context, name string, log *zap.Logger, maxPending int, timeout time.Duration) (*natsbus.Conn, error) {
	conn, err := natsbus.Connect(natsbus.Dial{URL: c.NATSURL, Creds: c.NATSCreds, Name: name, Log: log, MaxPending: maxPending, PublishTimeout: timeout})
	if err != nil {
		return nil, err
	}
	if err := conn.EnsureStreams(ctx, c.Streams, log); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// LoadCatalog loads the rules file, or returns nil when path is empty.
func LoadCatalog(path string) (*rules.Catalog, error) {
	if path == "" {
		return nil, nil
	}
	return rules.Load(path)
}

// stoppedWhileStarting turns an error that only says the service was
// stopped (ctx cancelled) before it had started into nil, logged: a stop is
// not a failure, and a service stopped before it took any work has nothing
// to drain. Any other error is returned as is.
func stoppedWhileStarting(ctx context.Context, log *zap.Logger, name string, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		log.Info(name+" stopped while starting", zap.Error(err))
		return nil
	}
	return err
}

// ctxWithTimeout is context.WithTimeout detached from a parent that is
// already cancelled at shutdown.
func ctxWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
