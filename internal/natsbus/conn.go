package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Dial says how a process connects to NATS.
type Dial struct {
	// URL is one or more server URLs, comma-separated. It may carry a
	// password: it is never logged or returned in an error as given (see
	// RedactURL).
	URL string
	// Creds is a NATS credentials file, or empty.
	Creds string
	// Name is the connection's name, as the server's monitoring shows it.
	Name string
	// Log receives disconnects, reconnects and asynchronous errors; nil
	// logs nothing.
	Log *zap.Logger
	// MaxPending bounds the publishes in flight, unacknowledged, on the
	// connection; 0 means 4096.
	MaxPending int
	// PublishTimeout is how long a publish waits for its acknowledgement
	// before the message is given up (and the caller retries with the same
	// id); 0 means 10 s.
	PublishTimeout time.Duration
}

// Conn is one process's connection to NATS and its JetStream context.
// Everything offerflow does with NATS goes through a Conn and the types of
// this package, so no other package needs nats.go.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Connect dials NATS and keeps reconnecting for ever: a service that lost
// its server should wait for it, answering 503, not exit. The caller
// drains or closes the Conn.
func Connect(d Dial) (*Conn, error) {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	opts := []nats.Option{
		nats.Name(d.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close or Drain
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("nats async error", zap.Error(err))
		}),
	}
	if d.Creds != "" {
		opts = append(opts, nats.UserCredentials(d.Creds))
	}
	nc, err := nats.Connect(d.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", RedactURL(d.URL), err)
	}
	maxPending, timeout := d.MaxPending, d.PublishTimeout
	if maxPending <= 0 {
		maxPending = 4096
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	js, err := NewPublishJetStream(nc, maxPending, timeout)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{nc: nc, js: js}, nil
}

// JetStream is the connection's JetStream context, for this package's
// constructors (NewLedger, NewPublisher, NewConsumerRunner, ...). Callers
// pass it on without using it themselves.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// Sent is how many messages the connection has sent: every KV read or
// write, publish and JetStream API request is one (a listing is a few), so
// the difference across a piece of work counts what it asked of the
// server. The sweep benchmark reports it.
func (c *Conn) Sent() uint64 { return c.nc.Stats().OutMsgs }

// Connected reports whether the connection is up now (readiness).
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// Close closes the connection at once, dropping what is buffered. Use it
// when every publish has been acknowledged already.
func (c *Conn) Close() { c.nc.Close() }

// Drain drains the connection (flushing what is buffered, letting
// subscriptions finish) and waits until it is closed, at most timeout.
func (c *Conn) Drain(timeout time.Duration) {
	closed := make(chan struct{})
	c.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		c.nc.Close()
	}
}

// EnsureStreams makes sure the streams and buckets exist with settings s.
// NATS that does not answer in time (a loaded or recovering server: seen
// under scripts/stress.sh, where one setup outlasted 30 s) is asked again
// until ctx ends, as a lost connection is waited for: the service is simply
// not ready yet. Any other error (JetStream disabled, a stream that cannot
// take these settings) is returned.
func (c *Conn) EnsureStreams(ctx context.Context, s StreamSettings, log *zap.Logger) error {
	for attempt := 1; ; attempt++ {
		setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := EnsureStreams(setupCtx, c.js, s)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
		log.Warn("NATS did not answer in time while setting up streams; asking again", zap.Int("attempt", attempt), zap.Error(err))
	}
}

// RedactURL hides the passwords in NATS URLs, before they reach a log.
func RedactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "***@" + p[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// CheckStreams reports whether the streams and buckets exist (readiness).
func (c *Conn) CheckStreams(ctx context.Context) error { return CheckStreams(ctx, c.js) }

// Publisher returns a Publisher on the connection (see NewPublisher).
func (c *Conn) Publisher(timeout time.Duration) *Publisher { return NewPublisher(c.js, timeout) }

// Ledger opens the idempotency ledger (see NewLedger).
func (c *Conn) Ledger(ctx context.Context, owner string, lease time.Duration, now func() time.Time) (*Ledger, error) {
	return NewLedger(ctx, c.js, owner, lease, now)
}

// AccessStore opens the access store (see NewAccessStore).
func (c *Conn) AccessStore(ctx context.Context) (*AccessStore, error) {
	return NewAccessStore(ctx, c.js)
}

// OfferStore opens the offer store (see NewOfferStore).
func (c *Conn) OfferStore(ctx context.Context) (*OfferStore, error) { return NewOfferStore(ctx, c.js) }

// ConsumerRunner returns a runner of the consumer cfg describes (see
// NewConsumerRunner).
func (c *Conn) ConsumerRunner(cfg ConsumerConfig, h Handler, log *zap.Logger, m ConsumerMetrics) *ConsumerRunner {
	return NewConsumerRunner(c.js, cfg, h, log, m)
}
