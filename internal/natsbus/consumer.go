package natsbus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
)

// Delivery is one message handed to a Handler.
type Delivery struct {
	Subject      string
	Data         []byte
	Header       nats.Header
	StreamSeq    uint64
	NumDelivered uint64
	// Published is when JetStream stored the message.
	Published time.Time
}

// Handler processes one delivery. It returns nil when the delivery's effects
// are done (or were already done), an error marked fault.Permanent when it
// can never succeed, and any other error when a later attempt may succeed.
// Handlers never ack: ConsumerRunner decides that in one place.
type Handler func(ctx context.Context, d Delivery) error

// Headers offerflow adds to a dead letter, beside the original's headers.
const (
	HeaderDLQReason       = events.HeaderDLQReason
	HeaderDLQKind         = events.HeaderDLQKind
	HeaderDLQSubject      = events.HeaderDLQSubject
	HeaderDLQStream       = events.HeaderDLQStream
	HeaderDLQStreamSeq    = events.HeaderDLQStreamSeq
	HeaderDLQDeliveries   = events.HeaderDLQDeliveries
	HeaderDLQDeadAt       = events.HeaderDLQDeadAt
	DeadLetterPrefix      = events.DeadLetterPrefix
	DLQKindPermanent      = "permanent"
	DLQKindMaxDeliveries  = "max_deliveries"
	maxDeadLetterReasonSz = 1024
)

// ConsumerConfig configures a ConsumerRunner.
type ConsumerConfig struct {
	Stream  string
	Durable string
	Filter  string
	// Concurrency is how many handlers run at once in this process.
	Concurrency int
	// AckWait is how long the server waits for an ack before redelivering.
	// Long handlers are kept alive with InProgress every AckWait/3.
	AckWait time.Duration
	// MaxAckPending bounds unacknowledged messages across all replicas.
	MaxAckPending int
	// MaxAttempts is how many deliveries a message gets before it is
	// dead-lettered.
	MaxAttempts int
	// Backoff gives the redelivery delay after the n-th failed delivery
	// (n starts at 1).
	Backoff func(n uint64) time.Duration
	// HandlerTimeout bounds one handler call.
	HandlerTimeout time.Duration
	// DrainTimeout bounds how long shutdown waits for in-hand messages.
	DrainTimeout time.Duration
}

// DefaultConsumerConfig returns the worker's consumer settings.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{
		Stream:         EventsStream,
		Durable:        WorkerConsumer,
		Filter:         EventsSubjects,
		Concurrency:    128,
		AckWait:        30 * time.Second,
		MaxAckPending:  4096,
		MaxAttempts:    10,
		Backoff:        ExponentialBackoff(time.Second, 5*time.Minute),
		HandlerTimeout: 25 * time.Second,
		DrainTimeout:   30 * time.Second,
	}
}

// ExponentialBackoff doubles from base up to max: base, 2base, 4base, ...
func ExponentialBackoff(base, max time.Duration) func(n uint64) time.Duration {
	return func(n uint64) time.Duration {
		d := base
		for i := uint64(1); i < n && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// ConsumerMetrics receives what the runner observes; nil fields are skipped.
type ConsumerMetrics struct {
	Handled     func(outcome string, d time.Duration)
	DeadLetters func(kind string)
	// Settled is called once per delivery, after its ack, nak or term was
	// sent, with the outcome (ok, retry, dead_letter) and the time then:
	// with d.NumDelivered and d.Published it gives redeliveries and the
	// webhook-to-effect latency.
	Settled func(d Delivery, outcome string, at time.Time)
}

// ConsumerRunner runs a Handler on a durable pull consumer shared by every
// replica, with bounded concurrency and one ack policy:
//
//   - nil: Ack.
//   - fault.Permanent: publish a dead letter with the reason, then Term.
//   - any other error: NakWithDelay(Backoff(n)); once a message has been
//     delivered MaxAttempts times, dead letter it and Term.
//   - a panic in the handler is a permanent error.
//
// A dead letter that cannot be published is not lost: the message is Nak'ed
// and dead-lettered on a later delivery. The consumer itself has no
// MaxDeliver, so the server never stops redelivering a message the runner
// has not dead-lettered; nothing is dropped silently.
type ConsumerRunner struct {
	js      jetstream.JetStream
	cfg     ConsumerConfig
	handler Handler
	log     *zap.Logger
	metrics ConsumerMetrics
	now     func() time.Time

	// consuming is true while messages are pulled: after Consume started,
	// until the drain begins or the consumer stops.
	consuming atomic.Bool
	mu        sync.Mutex
	lastErr   error // the last error the client reported while consuming

	// beforeConsume, when set (by tests), runs between ensuring the
	// consumer and starting to consume.
	beforeConsume func()
}

// ErrConsumerStopped is returned by Run when consuming ends for good
// without being asked to (the connection closed for good, the consumer or
// its stream deleted): a worker that cannot work must say so and stop,
// never sit healthy and idle.
var ErrConsumerStopped = errors.New("consumer stopped")

// Ready reports nil while the runner is pulling messages, and why not
// otherwise (starting, draining, stopped): the worker's /readyz.
func (r *ConsumerRunner) Ready() error {
	if r.consuming.Load() {
		return nil
	}
	return fmt.Errorf("consumer %s is not consuming", r.cfg.Durable)
}

// NewConsumerRunner returns a runner; call Run to start it.
func NewConsumerRunner(js jetstream.JetStream, cfg ConsumerConfig, h Handler, log *zap.Logger, m ConsumerMetrics) *ConsumerRunner {
	return &ConsumerRunner{js: js, cfg: cfg, handler: h, log: log, metrics: m, now: time.Now}
}

// EnsureConsumer creates or updates the durable consumer. Every replica calls
// it with the same configuration, so they never fight over settings.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := retryRace(ctx, func() error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable:       cfg.Durable,
			Description:   "offerflow workers: every replica shares this consumer",
			FilterSubject: cfg.Filter,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxAckPending: cfg.MaxAckPending,
			// No MaxDeliver: the runner dead-letters after MaxAttempts
			// itself; a server-side limit could stop redelivery of a
			// message whose last attempt crashed before dead-lettering.
			MaxDeliver:    -1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cfg.Durable, err)
	}
	return cons, nil
}

// Run consumes until ctx is cancelled, then drains. Draining keeps two
// promises: every message this process has taken is either finished (the
// handlers already running complete, and their acks are confirmed by the
// server) or handed back with a Nak for immediate redelivery (the ones
// taken but not started: in the client's buffer, or waiting for a free
// handler), and Run returns only after all of that, with every handler
// goroutine ended. So no message waits out the AckWait after a shutdown.
func (r *ConsumerRunner) Run(ctx context.Context) error {
	cons, err := EnsureConsumer(ctx, r.js, r.cfg)
	if err != nil {
		return err
	}
	rs := &runState{jobs: make(chan jetstream.Msg), draining: make(chan struct{})}
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m := <-rs.jobs:
					r.process(m, rs.draining)
				case <-rs.draining:
					return
				}
			}
		}()
	}
	if r.beforeConsume != nil {
		r.beforeConsume()
	}
	// Every error the client reports asks Run to look whether the consumer
	// still exists: nats.go stops by itself only when the server answers a
	// pending pull with "consumer deleted". A consumer deleted while no
	// pull was pending answers the next pull with "no responders", which
	// nats.go reports and retries for ever.
	check := make(chan struct{}, 1)
	// The client buffers at most twice the concurrency, so that a message
	// does not sit in a local buffer while its AckWait runs out.
	cc, err := cons.Consume(rs.dispatch,
		jetstream.PullMaxMessages(2*r.cfg.Concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			r.log.Warn("consume", zap.Error(err))
			r.mu.Lock()
			r.lastErr = err
			r.mu.Unlock()
			select {
			case check <- struct{}{}:
			default:
			}
		}),
	)
	if err != nil {
		close(rs.draining)
		wg.Wait()
		return fmt.Errorf("consume %s: %w", r.cfg.Durable, err)
	}
	r.consuming.Store(true)
	stopped := r.watch(ctx, cons, cc, check)
	r.consuming.Store(false)
	// From here on, dispatch sets aside what it is given instead of
	// starting it, and idle handlers end.
	close(rs.draining)
	// Drain unsubscribes, waits until the server has seen that (so no
	// pull request of ours is served any more), and passes what is
	// still buffered to dispatch.
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("drain timed out; messages still in the client's buffer will be redelivered after the ack wait", zap.Duration("timeout", r.cfg.DrainTimeout))
		cc.Stop()
		<-cc.Closed()
	}
	// Only now, with the subscription gone, hand back what was set
	// aside: a Nak before the unsubscribe could be redelivered to this
	// very subscription.
	for _, m := range rs.takeSetAside() {
		r.handBack(m)
	}
	wg.Wait()
	if stopped != nil {
		return stopped
	}
	// Acks of messages finished before the drain began were sent without
	// waiting for the server; make sure it has received them.
	if err := r.js.Conn().FlushTimeout(5 * time.Second); err != nil {
		r.log.Warn("flush acks", zap.Error(err))
	}
	return nil
}

// watch waits until ctx is cancelled (nil) or consuming has ended for good
// (ErrConsumerStopped): nats.go gave up (the connection closed for good, the
// consumer deleted under a pending pull), or, checked after each error the
// client reports, the consumer or its stream no longer exists.
func (r *ConsumerRunner) watch(ctx context.Context, cons jetstream.Consumer, cc jetstream.ConsumeContext, check <-chan struct{}) error {
	for {
		var gone error
		select {
		case <-ctx.Done():
			return nil
		case <-cc.Closed():
			r.mu.Lock()
			gone = r.lastErr
			r.mu.Unlock()
			if gone == nil {
				// Closed without a report (the connection gave up, here
				// on an authorization error): say why, not "<nil>".
				nc := r.js.Conn()
				gone = cmp.Or(nc.LastError(), error(nats.ErrConnectionClosed))
			}
		case <-check:
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cons.Info(ictx)
			cancel()
			if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
				// It exists, or the server cannot say now (disconnected):
				// the next error asks again.
				continue
			}
			gone = err
		}
		stopped := fmt.Errorf("%w: %s: %v", ErrConsumerStopped, r.cfg.Durable, gone)
		r.log.Error("consumer stopped for good", zap.Error(stopped))
		return stopped
	}
}

// runState is what one Run shares between the client's callback and the
// handler goroutines.
type runState struct {
	jobs     chan jetstream.Msg
	draining chan struct{}

	mu       sync.Mutex
	setAside []jetstream.Msg
}

// dispatch is the consume callback: it hands a message to a free handler,
// or, once draining, sets it aside to be handed back.
func (rs *runState) dispatch(m jetstream.Msg) {
	select {
	case <-rs.draining:
		rs.putAside(m)
		return
	default:
	}
	select {
	case rs.jobs <- m:
	case <-rs.draining:
		rs.putAside(m)
	}
}

func (rs *runState) putAside(m jetstream.Msg) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.setAside = append(rs.setAside, m)
}

func (rs *runState) takeSetAside() []jetstream.Msg {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := rs.setAside
	rs.setAside = nil
	return out
}

// handBack naks a message this process took but never started, for
// immediate redelivery to another replica, and waits for the server to
// confirm it (a plain Nak does not). The delivery still counts toward
// MaxAttempts.
func (r *ConsumerRunner) handBack(m jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.js.Conn().RequestWithContext(ctx, m.Reply(), []byte("-NAK")); err != nil {
		r.log.Warn("hand back on drain; the message is redelivered after the ack wait", zap.String("subject", m.Subject()), zap.Error(err))
	}
}

func (r *ConsumerRunner) process(m jetstream.Msg, draining <-chan struct{}) {
	start := r.now()
	meta, err := m.Metadata()
	if err != nil {
		// Not a JetStream message: nothing to ack. Cannot happen on a
		// pull consumer, but never panic on it.
		r.log.Error("message without metadata", zap.String("subject", m.Subject()), zap.Error(err))
		return
	}
	d := Delivery{
		Subject:      m.Subject(),
		Data:         m.Data(),
		Header:       m.Headers(),
		StreamSeq:    meta.Sequence.Stream,
		NumDelivered: meta.NumDelivered,
		Published:    meta.Timestamp,
	}
	log := r.log.With(zap.String("subject", d.Subject), zap.Uint64("stream_seq", d.StreamSeq),
		zap.String("webhook_id", d.Header.Get(events.HeaderWebhookID)), zap.Uint64("delivery", d.NumDelivered))

	var herr error
	if d.NumDelivered > uint64(r.cfg.MaxAttempts) {
		// Delivered more often than allowed without being dead-lettered
		// (earlier attempts crashed or timed out): do not run it again.
		herr = fmt.Errorf("delivered %d times, more than the %d allowed", d.NumDelivered, r.cfg.MaxAttempts)
	} else {
		herr = r.call(d, m)
	}
	outcome := r.settle(m, d, herr, log, draining)
	end := r.now()
	if r.metrics.Handled != nil {
		r.metrics.Handled(outcome, end.Sub(start))
	}
	if r.metrics.Settled != nil {
		r.metrics.Settled(d, outcome, end)
	}
}

// call runs the handler with a timeout, keeps the message alive with
// InProgress while it runs, and turns a panic into a permanent error.
func (r *ConsumerRunner) call(d Delivery, m jetstream.Msg) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.HandlerTimeout)
	defer cancel()
	stop := r.keepAlive(m)
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			err = fault.Permanent(fmt.Errorf("handler panic: %v\n%s", p, debug.Stack()))
		}
	}()
	return r.handler(ctx, d)
}

// keepAlive sends InProgress every AckWait/3 until stop is called, so a
// handler slower than AckWait is not redelivered to another worker.
func (r *ConsumerRunner) keepAlive(m jetstream.Msg) (stop func()) {
	every := r.cfg.AckWait / 3
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	tick := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		_ = m.InProgress() // best effort: a lost one means a redelivery the ledger absorbs
		t.Reset(every)
	}
	mu.Lock()
	t = time.AfterFunc(every, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// settle is the one place that maps a handler's result to an ack.
func (r *ConsumerRunner) settle(m jetstream.Msg, d Delivery, herr error, log *zap.Logger, draining <-chan struct{}) string {
	if herr == nil {
		if err := r.ack(m, draining); err != nil {
			log.Warn("ack", zap.Error(err))
		}
		return "ok"
	}
	kind := ""
	switch {
	case fault.IsPermanent(herr):
		kind = DLQKindPermanent
	case d.NumDelivered >= uint64(r.cfg.MaxAttempts):
		kind = DLQKindMaxDeliveries
	}
	if kind == "" {
		delay := r.cfg.Backoff(d.NumDelivered)
		log.Warn("transient failure, will retry", zap.Error(herr), zap.Duration("retry_in", delay))
		if err := m.NakWithDelay(delay); err != nil {
			log.Warn("nak", zap.Error(err))
		}
		return "retry"
	}
	if err := r.deadLetter(d, kind, herr.Error()); err != nil {
		// Keep the message: it is dead-lettered on a later delivery.
		log.Error("dead letter publish failed; message kept for redelivery", zap.Error(err), zap.NamedError("reason", herr))
		if err := m.NakWithDelay(r.cfg.Backoff(1)); err != nil {
			log.Warn("nak", zap.Error(err))
		}
		return "retry"
	}
	log.Error("dead-lettered", zap.String("kind", kind), zap.Error(herr))
	if err := m.TermWithReason(kind); err != nil {
		log.Warn("term", zap.Error(err))
	}
	if r.metrics.DeadLetters != nil {
		r.metrics.DeadLetters(kind)
	}
	return "dead_letter"
}

// ack acknowledges a finished message. While draining it waits for the
// server's confirmation, so that Run returns only once the server has
// recorded every ack; otherwise one-way, to save a round trip per message.
func (r *ConsumerRunner) ack(m jetstream.Msg, draining <-chan struct{}) error {
	select {
	case <-draining:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return m.DoubleAck(ctx)
	default:
		return m.Ack()
	}
}

// deadLetter publishes the original message, byte for byte with its headers,
// under offerflow.deadletter.<original subject>, with why it failed. Its
// Nats-Msg-Id derives from the stream sequence, so a retry after a crash is
// de-duplicated.
func (r *ConsumerRunner) deadLetter(d Delivery, kind, reason string) error {
	if len(reason) > maxDeadLetterReasonSz {
		reason = reason[:maxDeadLetterReasonSz] + "..."
	}
	h := nats.Header{}
	for k, v := range d.Header {
		// Nats-* headers are instructions to JetStream (Nats-Expected-Stream
		// and the like) that the original's publisher gave for the original;
		// copied, they would make the dead letter's own publish fail.
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	h.Set(jetstream.MsgIDHeader, "dlq."+r.cfg.Stream+"."+strconv.FormatUint(d.StreamSeq, 10))
	h.Set(HeaderDLQReason, strings.ToValidUTF8(strings.ReplaceAll(reason, "\n", " | "), "?"))
	h.Set(HeaderDLQKind, kind)
	h.Set(HeaderDLQSubject, d.Subject)
	h.Set(HeaderDLQStream, r.cfg.Stream)
	h.Set(HeaderDLQStreamSeq, strconv.FormatUint(d.StreamSeq, 10))
	h.Set(HeaderDLQDeliveries, strconv.FormatUint(d.NumDelivered, 10))
	h.Set(HeaderDLQDeadAt, r.now().UTC().Format(time.RFC3339Nano))
	msg := &nats.Msg{Subject: DeadLetterSubject(d.Subject), Data: d.Data, Header: h}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := PublishSync(ctx, r.js, msg)
	return err
}

// DeadLetterSubject is where a message from subject is dead-lettered:
// offerflow.deadletter.<subject without its dodo.events. prefix>, so
// operators can filter dead letters by event type.
func DeadLetterSubject(subject string) string {
	return DeadLetterPrefix + strings.TrimPrefix(subject, events.SubjectPrefix)
}
