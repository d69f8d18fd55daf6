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
	// PullHeartbeat is how often the server reports on a waiting pull
	// while it has no message for it. Two missed reports mean the pull
	// was lost (its consumer leader died without answering), and the
	// client asks again; nats.go's default, 15 s, left a worker idle for
	// 30 s after a leader was killed.
	PullHeartbeat time.Duration
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
		PullHeartbeat:  3 * time.Second,
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
	// PullErrors counts each error the client reports while pulling
	// from the durable consumer named: no leader to answer, a missed
	// heartbeat, a leadership change, a disconnect.
	PullErrors func(consumer string)
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
	// until the drain begins or the consumer stops, and not while a
	// failed pull waits for the consumer's leader.
	consuming atomic.Bool
	mu        sync.Mutex
	lastErr   error // the last error the client reported while consuming
	notReady  error // why not consuming, when it is for a reason worth saying

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
	r.mu.Lock()
	why := r.notReady
	r.mu.Unlock()
	if why != nil {
		return why
	}
	return fmt.Errorf("consumer %s is not consuming", r.cfg.Durable)
}

func (r *ConsumerRunner) setNotReady(why error) {
	r.mu.Lock()
	r.notReady = why
	r.mu.Unlock()
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
	p, err := r.startPulling(cons, rs)
	if err != nil {
		close(rs.draining)
		wg.Wait()
		return fmt.Errorf("consume %s: %w", r.cfg.Durable, err)
	}
	stopped := r.consume(ctx, cons, rs, &p)
	r.consuming.Store(false)
	// From here on, dispatch sets aside what it is given instead of
	// starting it, and idle handlers end.
	close(rs.draining)
	// Drain unsubscribes, waits until the server has seen that (so no
	// pull request of ours is served any more), and passes what is
	// still buffered to dispatch.
	p.cc.Drain()
	select {
	case <-p.cc.Closed():
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("drain timed out; messages still in the client's buffer will be redelivered after the ack wait", zap.Duration("timeout", r.cfg.DrainTimeout))
		p.cc.Stop()
		<-p.cc.Closed()
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

// pulling is one call of Consume and what its error handler reports.
type pulling struct {
	cc jetstream.ConsumeContext
	// check asks Run to look whether the consumer still exists: nats.go
	// stops by itself only when the server answers a pending pull with
	// "consumer deleted".
	check chan struct{}
	// noLeader says a pull found no one to answer it: the consumer has
	// no leader (being elected, or the cluster lost its quorum), or it
	// was deleted while no pull was pending.
	noLeader chan error
}

// startPulling starts consuming into rs. Every error the client reports is
// counted and logged, and wakes consume up.
func (r *ConsumerRunner) startPulling(cons jetstream.Consumer, rs *runState) (*pulling, error) {
	p := &pulling{check: make(chan struct{}, 1), noLeader: make(chan error, 1)}
	// The client buffers at most twice the concurrency, so that a message
	// does not sit in a local buffer while its AckWait runs out.
	opts := []jetstream.PullConsumeOpt{
		jetstream.PullMaxMessages(2 * r.cfg.Concurrency),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			r.log.Warn("consume", zap.Error(err))
			if r.metrics.PullErrors != nil {
				r.metrics.PullErrors(r.cfg.Durable)
			}
			r.mu.Lock()
			r.lastErr = err
			r.mu.Unlock()
			if errors.Is(err, nats.ErrNoResponders) {
				select {
				case p.noLeader <- err:
				default:
				}
				return
			}
			select {
			case p.check <- struct{}{}:
			default:
			}
		}),
	}
	if r.cfg.PullHeartbeat > 0 {
		opts = append(opts, jetstream.PullHeartbeat(r.cfg.PullHeartbeat))
	}
	cc, err := cons.Consume(rs.dispatch, opts...)
	if err != nil {
		return nil, err
	}
	p.cc = cc
	return p, nil
}

// consume keeps pulling until ctx is cancelled (nil) or consuming has ended
// for good (ErrConsumerStopped); *p is the pull in use when it returns.
//
// A pull that finds no consumer leader is answered "no responders" at once,
// and nats.go does not ask again until its heartbeat check fires (2 x
// PullHeartbeat later; 30 s with nats.go's defaults), so a worker started
// while its consumer was being elected sat idle, and ready, while another
// did all the work (issue 12). Instead the runner stops that pull, reports
// not ready, waits until the consumer has a leader, and pulls again.
func (r *ConsumerRunner) consume(ctx context.Context, cons jetstream.Consumer, rs *runState, p **pulling) error {
	for {
		r.setNotReady(nil)
		r.consuming.Store(true)
		noLeader, stopped := r.watch(ctx, cons, *p)
		if noLeader == nil {
			return stopped
		}
		r.consuming.Store(false)
		r.setNotReady(fmt.Errorf("consumer %s: a pull found no leader (%v); waiting for one", r.cfg.Durable, noLeader))
		r.log.Warn("pull found no consumer leader; pulling again once one is elected", zap.String("consumer", r.cfg.Durable), zap.Error(noLeader))
		waited := time.Now()
		r.stopPulling(ctx, (*p).cc)
		if err := r.awaitLeader(ctx, cons); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			stopped := fmt.Errorf("%w: %s: %v", ErrConsumerStopped, r.cfg.Durable, err)
			r.log.Error("consumer stopped for good", zap.Error(stopped))
			return stopped
		}
		next, err := r.startPulling(cons, rs)
		if err != nil {
			// The connection is closed for good: nothing else makes
			// Consume fail with options that worked before.
			stopped := fmt.Errorf("%w: consume %s: %v", ErrConsumerStopped, r.cfg.Durable, err)
			r.log.Error("consumer stopped for good", zap.Error(stopped))
			return stopped
		}
		*p = next
		r.log.Info("pulling again", zap.String("consumer", r.cfg.Durable), zap.Duration("after", time.Since(waited)))
	}
}

// stopPulling ends a pull that found no leader: unsubscribe and let
// dispatch have what is still buffered (handled as usual, not handed back:
// the runner is not shutting down).
func (r *ConsumerRunner) stopPulling(ctx context.Context, cc jetstream.ConsumeContext) {
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-ctx.Done():
		// Run's own drain takes over, with the same context.
	case <-time.After(r.cfg.DrainTimeout):
		cc.Stop()
	}
}

// awaitLeader waits until the consumer has a leader: on a cluster, only
// its leader answers Info, and the other nodes answer "cluster not
// available" until one is elected. It returns an error when the consumer
// or its stream is gone, or ctx's when cancelled.
func (r *ConsumerRunner) awaitLeader(ctx context.Context, cons jetstream.Consumer) error {
	wait := 100 * time.Millisecond
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := cons.Info(ictx)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
			return err
		case err == nil && (info.Cluster == nil || info.Cluster.Leader != ""):
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// watch waits until ctx is cancelled (nil, nil), a pull found no leader
// (that error, nil), or consuming has ended for good (nil,
// ErrConsumerStopped): nats.go gave up (the connection closed for good, the
// consumer deleted under a pending pull), or, checked after each error the
// client reports, the consumer or its stream no longer exists.
func (r *ConsumerRunner) watch(ctx context.Context, cons jetstream.Consumer, p *pulling) (noLeader, stopped error) {
	for {
		var gone error
		select {
		case <-ctx.Done():
			return nil, nil
		case err := <-p.noLeader:
			return err, nil
		case <-p.cc.Closed():
			r.mu.Lock()
			gone = r.lastErr
			r.mu.Unlock()
			if gone == nil {
				// Closed without a report (the connection gave up, here
				// on an authorization error): say why, not "<nil>".
				nc := r.js.Conn()
				gone = cmp.Or(nc.LastError(), error(nats.ErrConnectionClosed))
			}
		case <-p.check:
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
		return nil, stopped
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
		switch {
		case errors.Is(herr, ErrClaimHeld):
			// Another handler is doing this very effect right now (a
			// redelivery racing the first delivery, the ingest and a
			// worker confirming the same change): the expected outcome
			// of the claims, not a fault.
			log.Info("effect claimed by another handler, will retry", zap.Error(herr), zap.Duration("retry_in", delay))
		case fault.IsWait(herr):
			// Work in progress elsewhere that finishes on its own (see
			// fault.Wait).
			log.Info("waiting for work in progress, will retry", zap.Error(herr), zap.Duration("retry_in", delay))
		default:
			log.Warn("transient failure, will retry", zap.Error(herr), zap.Duration("retry_in", delay))
		}
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
