package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's and client's long-lived goroutines end
		// with Shutdown/Close in t.Cleanup, but some finish a moment
		// after; these are theirs, not ours.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
	)
}

func setup(t *testing.T) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	js, err := NewPublishJetStream(nc, 256, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureStreams(ctx, js, StreamSettings{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return js, nc
}

func TestEnsureStreamsIdempotentAndConcurrent(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- EnsureStreams(ctx, js, StreamSettings{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent EnsureStreams: %v", err)
		}
	}
	st, err := js.Stream(ctx, EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	def := DefaultStreamSettings()
	if cfg.Discard != jetstream.DiscardNew || cfg.Duplicates != def.Duplicates || cfg.MaxAge != def.MaxAge || cfg.PersistMode != jetstream.DefaultPersistMode {
		t.Fatalf("stream config = discard %v dup %s age %s persist %v, want DiscardNew %s %s default",
			cfg.Discard, cfg.Duplicates, cfg.MaxAge, cfg.PersistMode, def.Duplicates, def.MaxAge)
	}
	// A changed setting is applied by the next start.
	if err := EnsureStreams(ctx, js, StreamSettings{Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	info, _ := js.Stream(ctx, EventsStream)
	if got := info.CachedInfo().Config.Duplicates; got != time.Minute {
		t.Fatalf("duplicates after update = %s, want 1m", got)
	}
	if err := CheckStreams(ctx, js); err != nil {
		t.Fatalf("CheckStreams: %v", err)
	}
}

func TestStreamSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		s    StreamSettings
		want string
	}{
		{name: "defaults", s: StreamSettings{}, want: ""},
		{name: "too many replicas", s: StreamSettings{Replicas: 7}, want: "replicas must be 1..5"},
		{name: "short ledger", s: StreamSettings{LedgerTTL: 24 * time.Hour}, want: "ledger ttl must be at least"},
		{name: "window over age", s: StreamSettings{MaxAge: time.Minute, Duplicates: time.Hour}, want: "longer than max age"},
		{name: "short offer retention", s: StreamSettings{OfferRetention: 7 * 24 * time.Hour}, want: "offer retention must be at least"},
		{name: "async with replicas", s: StreamSettings{Replicas: 3, AsyncPersist: true}, want: "only supported with 1 replica"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPublishWebhookDeduplicates(t *testing.T) {
	js, _ := setup(t)
	p := NewPublisher(js, 5*time.Second)
	ctx := context.Background()
	var seqs []uint64
	for i := 0; i < 3; i++ {
		ack, err := p.PublishWebhook(ctx, "dodo.events.payment.succeeded", "msg_1", "1700000000", "v1,abc", []byte(`{"a":1}`))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if ack.Duplicate != (i > 0) {
			t.Fatalf("publish %d: duplicate = %v, want %v", i, ack.Duplicate, i > 0)
		}
		seqs = append(seqs, ack.Sequence)
	}
	if seqs[0] != seqs[1] || seqs[1] != seqs[2] {
		t.Fatalf("sequences = %v, want one sequence for one webhook-id", seqs)
	}
	st, _ := js.Stream(ctx, EventsStream)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	raw, err := st.GetMsg(ctx, seqs[0])
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Nats-Msg-Id": "msg_1", "webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": "v1,abc"} {
		if got := raw.Header.Get(k); got != want {
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
	if string(raw.Data) != `{"a":1}` {
		t.Fatalf("data = %q, want the raw body", raw.Data)
	}
}

func TestPublishFailsWhenServerGone(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	js, _ := NewPublishJetStream(nc, 16, 300*time.Millisecond)
	if err := EnsureStreams(context.Background(), js, StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.WaitForShutdown()
	p := NewPublisher(js, 300*time.Millisecond)
	_, err := p.PublishWebhook(context.Background(), "dodo.events.x", "id", "1", "v1,x", []byte("{}"))
	if !errors.Is(err, ErrNotStored) {
		t.Fatalf("publish with the server down: err = %v, want ErrNotStored", err)
	}
}

func TestLedger(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	a, err := NewLedger(ctx, js, "a", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLedger(ctx, js, "b", time.Minute, now)

	c, err := a.Claim(ctx, "webhook.msg_1")
	if err != nil || c.Done || c.TakenOver {
		t.Fatalf("first claim = %+v, %v; want a fresh claim", c, err)
	}
	if _, err := b.Claim(ctx, "webhook.msg_1"); !errors.Is(err, ErrClaimHeld) {
		t.Fatalf("second claim while held: err = %v, want ErrClaimHeld", err)
	}
	if st, _ := a.State(ctx, "webhook.msg_1"); st != "claimed" {
		t.Fatalf("state = %q, want claimed", st)
	}
	if err := a.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c2, err := b.Claim(ctx, "webhook.msg_1"); err != nil || !c2.Done {
		t.Fatalf("claim after commit = %+v, %v; want Done", c2, err)
	}

	// A claim whose worker died is taken over once its lease runs out.
	dead, _ := a.Claim(ctx, "webhook.msg_2")
	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	c3, err := b.Claim(ctx, "webhook.msg_2")
	if err != nil || !c3.TakenOver {
		t.Fatalf("claim after lease = %+v, %v; want a takeover", c3, err)
	}
	if err := b.Commit(ctx, c3); err != nil {
		t.Fatal(err)
	}
	// The dead worker waking up and committing late is harmless.
	if err := a.Commit(ctx, dead); err != nil {
		t.Fatalf("late commit: %v", err)
	}
	if st, _ := a.State(ctx, "webhook.msg_2"); st != "done" {
		t.Fatalf("state = %q, want done", st)
	}

	// Ids that are not KV-safe still get their own key.
	odd := "msg with spaces/and.dots"
	co, err := a.Claim(ctx, odd)
	if err != nil {
		t.Fatalf("claim odd id: %v", err)
	}
	if err := a.Commit(ctx, co); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.State(ctx, "msg with spaces/and-dots"); st != "" {
		t.Fatalf("a different odd id shares the key: state %q", st)
	}
}

func TestLedgerConcurrentClaims(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	l, _ := NewLedger(ctx, js, "x", time.Minute, time.Now)
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Claim(ctx, "webhook.same"); err == nil {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d concurrent claims won, want exactly 1", won.Load())
	}
}

func TestLedgerKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"webhook.msg_2Kq8", "webhook.msg_2Kq8"},
		{"webhook.msg with space", "webhook.b64_bXNnIHdpdGggc3BhY2U"},
		{"webhook.a.b", "webhook.b64_YS5i"},
		{"plain", "plain"},
		{"bad ns.x", "b64_YmFkIG5zLng"},
	}
	for _, tt := range tests {
		if got := LedgerKey(tt.in); got != tt.want {
			t.Errorf("LedgerKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cus_8VbC6JDZzPEqfBPUdpj0K", "cus_8VbC6JDZzPEqfBPUdpj0K"},
		{"a.b", "b64_YS5i"},
		{"a*", "b64_YSo"},
		{"", "b64_"},
		{"b64_YS5i", "b64_YjY0X1lTNWk"}, // cannot impersonate an encoded id
	}
	for _, tt := range tests {
		if got := Token(tt.in); got != tt.want {
			t.Errorf("Token(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// runnerHarness runs a ConsumerRunner with a test handler on a fresh server.
type runnerHarness struct {
	js     jetstream.JetStream
	cancel context.CancelFunc
	done   chan error
}

func startRunner(t *testing.T, js jetstream.JetStream, cfg ConsumerConfig, h Handler) *runnerHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := NewConsumerRunner(js, cfg, h, zap.NewNop(), ConsumerMetrics{})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	rh := &runnerHarness{js: js, cancel: cancel, done: done}
	t.Cleanup(rh.stop)
	return rh
}

func (rh *runnerHarness) stop() {
	rh.cancel()
	<-rh.done
	rh.done <- nil // let a second stop return
}

func testConsumerConfig() ConsumerConfig {
	cfg := DefaultConsumerConfig()
	cfg.Concurrency = 4
	cfg.AckWait = 2 * time.Second
	cfg.MaxAttempts = 3
	cfg.Backoff = func(uint64) time.Duration { return 50 * time.Millisecond }
	cfg.HandlerTimeout = 10 * time.Second
	cfg.DrainTimeout = 10 * time.Second
	return cfg
}

func publishTestEvent(t *testing.T, js jetstream.JetStream, typ, id string) {
	t.Helper()
	p := NewPublisher(js, 5*time.Second)
	if _, err := p.PublishWebhook(context.Background(), "dodo.events."+typ, id, "1700000000", "v1,sig", []byte(`{"type":"`+typ+`"}`)); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	natstest.WaitFor(t, d, what, cond)
}

func deadLetters(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, js, OutStream, DeadLetterPrefix)
}

func consumerSettled(t *testing.T, js jetstream.JetStream) func() bool {
	return natstest.Settled(js, EventsStream, WorkerConsumer)
}

func TestConsumerAckPolicy(t *testing.T) {
	tests := []struct {
		name        string
		handler     func(calls int) error
		wantCalls   int
		wantDLQKind string // "" means no dead letter
		wantReason  string
	}{
		{name: "success acks once", handler: func(int) error { return nil }, wantCalls: 1},
		{name: "transient then success retries", handler: func(n int) error {
			if n < 3 {
				return errors.New("dodo 503")
			}
			return nil
		}, wantCalls: 3},
		{name: "permanent dead-letters at once", handler: func(int) error {
			return fault.Permanent(errors.New("bad payload: no customer"))
		}, wantCalls: 1, wantDLQKind: DLQKindPermanent, wantReason: "bad payload: no customer"},
		{name: "transient forever dead-letters after max attempts", handler: func(int) error {
			return errors.New("dodo keeps timing out")
		}, wantCalls: 3, wantDLQKind: DLQKindMaxDeliveries, wantReason: "dodo keeps timing out"},
		{name: "panic is permanent", handler: func(int) error { panic("nil map") }, wantCalls: 1, wantDLQKind: DLQKindPermanent, wantReason: "handler panic: nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, _ := setup(t)
			var calls atomic.Int32
			rh := startRunner(t, js, testConsumerConfig(), func(ctx context.Context, d Delivery) error {
				return tt.handler(int(calls.Add(1)))
			})
			publishTestEvent(t, js, "payment.succeeded", "msg_poison")
			waitFor(t, time.Minute, "the message to be settled", consumerSettled(t, js))
			if tt.wantDLQKind != "" {
				waitFor(t, time.Minute, "a dead letter", func() bool { return len(deadLetters(t, js)) == 1 })
			}
			rh.stop()
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Fatalf("handler calls = %d, want %d", got, tt.wantCalls)
			}
			dl := deadLetters(t, js)
			if tt.wantDLQKind == "" {
				if len(dl) != 0 {
					t.Fatalf("dead letters = %d, want none", len(dl))
				}
				return
			}
			if len(dl) != 1 {
				t.Fatalf("dead letters = %d, want 1", len(dl))
			}
			m := dl[0]
			if m.Subject != "offerflow.deadletter.payment.succeeded" {
				t.Fatalf("dead letter subject = %q", m.Subject)
			}
			if got := m.Header.Get(HeaderDLQKind); got != tt.wantDLQKind {
				t.Fatalf("kind = %q, want %q", got, tt.wantDLQKind)
			}
			if got := m.Header.Get(HeaderDLQReason); !strings.Contains(got, tt.wantReason) {
				t.Fatalf("reason = %q, want it to contain %q", got, tt.wantReason)
			}
			if m.Header.Get("webhook-id") != "msg_poison" || m.Header.Get("webhook-signature") != "v1,sig" ||
				m.Header.Get(HeaderDLQSubject) != "dodo.events.payment.succeeded" || string(m.Data) != `{"type":"payment.succeeded"}` {
				t.Fatalf("dead letter lost the original: headers %v data %q", m.Header, m.Data)
			}
		})
	}
}

func TestConsumerKeepsLongHandlersAlive(t *testing.T) {
	js, _ := setup(t)
	cfg := testConsumerConfig()
	// AckWait/3 between InProgress beats leaves room for a loaded CI
	// machine's scheduling delays.
	cfg.AckWait = 2 * time.Second
	var calls atomic.Int32
	startRunner(t, js, cfg, func(ctx context.Context, d Delivery) error {
		calls.Add(1)
		time.Sleep(4500 * time.Millisecond) // 2.25 x AckWait
		return nil
	})
	publishTestEvent(t, js, "payment.succeeded", "msg_slow")
	waitFor(t, time.Minute, "the slow message to be acked", consumerSettled(t, js))
	if got := calls.Load(); got != 1 {
		t.Fatalf("slow handler ran %d times, want 1 (InProgress should prevent redelivery)", got)
	}
}

// Drain keeps its promise, deterministically: with the only handler blocked
// on a message while the drain starts, the messages the runner took but did
// not start are handed back at once, so another replica gets them while the
// handler is still blocked (not after the ack wait, an hour here); the
// blocked one is finished, and its ack confirmed, before Run returns.
func TestConsumerDrainsOnShutdown(t *testing.T) {
	js, _ := setup(t)
	cfg := testConsumerConfig()
	cfg.Concurrency = 1
	cfg.AckWait = time.Hour // a message left unacknowledged would not come back during the test
	started := make(chan string, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	var first []string
	rh := startRunner(t, js, cfg, func(ctx context.Context, d Delivery) error {
		id := d.Header.Get(HeaderWebhookID)
		mu.Lock()
		first = append(first, id)
		mu.Unlock()
		started <- id
		<-release
		return nil
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the runner's stop, should the test fail
	for i := 0; i < 3; i++ {
		publishTestEvent(t, js, "payment.succeeded", fmt.Sprintf("msg_drain_%d", i))
	}
	inHand := <-started
	ackPending := func() int {
		c, err := js.Consumer(context.Background(), EventsStream, WorkerConsumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.NumAckPending
	}
	// The runner has taken more than it is handling: one in the handler,
	// at least one waiting for it.
	waitFor(t, time.Minute, "the runner to take a second message", func() bool { return ackPending() >= 2 })

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		rh.stop()
	}()
	// A second replica gets the two messages not started while the first
	// one's handler is still blocked.
	got := make(chan string, 10)
	startRunner(t, js, cfg, func(ctx context.Context, d Delivery) error {
		got <- d.Header.Get(HeaderWebhookID)
		return nil
	})
	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(seen) < 2 {
		select {
		case id := <-got:
			if id == inHand {
				t.Fatalf("the message in hand %s was delivered to another replica", id)
			}
			seen[id] = true
		case <-timeout:
			t.Fatalf("while the first runner drained, the second got %v; want the 2 messages the first took but did not start", seen)
		}
	}
	select {
	case <-stopped:
		t.Fatal("shutdown returned while a handler was still running")
	default:
	}
	// The second replica's acks are one-way: wait until the server has
	// them, so that only the blocked message is left.
	waitFor(t, time.Minute, "the second replica's acks", func() bool { return ackPending() == 1 })
	unblock()
	<-stopped
	// Run returned: the server has recorded the ack of the message in hand.
	if n := ackPending(); n != 0 {
		t.Fatalf("after drain %d messages are unacknowledged, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(first) != 1 || first[0] != inHand {
		t.Fatalf("the draining runner handled %v, want only the message in hand %s", first, inHand)
	}
}

// A released claim is claimed again at once; a claim that moved on (taken
// over, committed) is not deleted by a stale release.
func TestLedgerRelease(t *testing.T) {
	srv := natstest.Start(t)
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	a, _ := NewLedger(ctx, js, "a", time.Minute, clock)
	b, _ := NewLedger(ctx, js, "b", time.Minute, clock)
	c, err := a.Claim(ctx, "webhook.r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, "webhook.r1"); !errors.Is(err, ErrClaimHeld) {
		t.Fatalf("claim while held: %v", err)
	}
	if err := a.Release(ctx, c); err != nil {
		t.Fatal(err)
	}
	cb, err := b.Claim(ctx, "webhook.r1")
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// a's stale claim must not undo b's.
	if err := a.Release(ctx, c); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(ctx, "webhook.r1"); st != "claimed" {
		t.Fatalf("state after a stale release: %q, want claimed", st)
	}
	if err := b.Commit(ctx, cb); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, cb); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.State(ctx, "webhook.r1"); st != "done" {
		t.Fatalf("state after releasing a committed claim: %q, want done", st)
	}
}

// A runner whose consuming ends for good without being asked to (its
// consumer deleted, its connection closed for good) returns
// ErrConsumerStopped and reports not ready, so that the worker exits
// non-zero and is replaced; before, Run waited for a cancel that never
// came, and the worker sat healthy and idle.
func TestConsumerStopsForGood(t *testing.T) {
	deleteConsumer := func(t *testing.T, js jetstream.JetStream, _ *nats.Conn) {
		if err := js.DeleteConsumer(context.Background(), EventsStream, WorkerConsumer); err != nil {
			t.Error(err)
		}
	}
	tests := []struct {
		name string
		// early kills before the first pull request instead of while
		// consuming.
		early bool
		kill  func(t *testing.T, js jetstream.JetStream, nc *nats.Conn)
	}{
		{name: "consumer deleted", kill: deleteConsumer},
		// No pull is pending when the consumer goes, so the server does
		// not say "consumer deleted"; the next pull gets "no responders".
		{name: "consumer deleted with no pull pending", early: true, kill: deleteConsumer},
		{name: "connection closed", kill: func(_ *testing.T, _ jetstream.JetStream, nc *nats.Conn) { nc.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, nc := setup(t)
			r := NewConsumerRunner(js, testConsumerConfig(), func(context.Context, Delivery) error { return nil }, zap.NewNop(), ConsumerMetrics{})
			if tt.early {
				r.beforeConsume = func() { tt.kill(t, js, nc) }
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			if !tt.early {
				waitFor(t, time.Minute, "the runner to consume", func() bool { return r.Ready() == nil })
				tt.kill(t, js, nc)
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrConsumerStopped) || strings.Contains(err.Error(), "<nil>") {
					t.Fatalf("Run = %v, want ErrConsumerStopped with its reason", err)
				}
			case <-time.After(20 * time.Second):
				cancel()
				<-done
				t.Fatal("Run still waits after its consumer stopped for good")
			}
			if r.Ready() == nil {
				t.Fatal("a stopped runner reports ready")
			}
		})
	}
}

// A message without an id is refused before anything is sent: a publish
// that cannot be de-duplicated is not one offerflow makes.
func TestSendRefusesAMessageWithoutID(t *testing.T) {
	js, _ := setup(t)
	pub := NewPublisher(js, 5*time.Second)
	ctx := context.Background()
	if _, err := pub.Send(ctx, events.Message{Subject: "offerflow.test.noid", Data: []byte("x")}); !errors.Is(err, events.ErrNoMessageID) {
		t.Fatalf("Send without an id: %v, want ErrNoMessageID", err)
	}
	err := pub.SendAll(ctx, []events.Message{{Subject: "offerflow.test.a", ID: "a"}, {Subject: "offerflow.test.b"}})
	if !errors.Is(err, events.ErrNoMessageID) {
		t.Fatalf("SendAll with one message without an id: %v, want ErrNoMessageID", err)
	}
	if got := natstest.Messages(t, js, OutStream, "offerflow.test."); len(got) != 0 {
		t.Fatalf("%d messages stored, want none: nothing is sent when one message is refused", len(got))
	}
	ack, err := pub.Send(ctx, events.Message{Subject: "offerflow.test.ok", ID: "ok-1", Header: map[string][]string{"webhook-id": {"w"}}, Data: []byte("x")})
	if err != nil || ack.Duplicate {
		t.Fatalf("Send: %+v %v", ack, err)
	}
	if again, err := pub.Send(ctx, events.Message{Subject: "offerflow.test.ok", ID: "ok-1", Data: []byte("x")}); err != nil || !again.Duplicate {
		t.Fatalf("the same id again: %+v %v, want a duplicate", again, err)
	}
	got := natstest.Messages(t, js, OutStream, "offerflow.test.ok")
	if len(got) != 1 || got[0].Header.Get(jetstream.MsgIDHeader) != "ok-1" || got[0].Header["webhook-id"][0] != "w" {
		t.Fatalf("stored %+v, want one message with its id and its headers as given", got)
	}
}

// TestConsumerLogsAHeldClaimAtInfo: a retry because another handler holds
// the effect's claim is the claims working (info); any other transient
// failure is a warning.
func TestConsumerLogsAHeldClaimAtInfo(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		level   zapcore.Level
		message string
	}{
		{name: "claim held", err: fmt.Errorf("confirm.x: %w (owner w2)", ErrClaimHeld), level: zapcore.InfoLevel, message: "effect claimed by another handler, will retry"},
		{name: "waiting for work in progress", err: fmt.Errorf("handle: %w", fault.Wait(errors.New("outcome not recorded yet"))), level: zapcore.InfoLevel, message: "waiting for work in progress, will retry"},
		{name: "other transient", err: errors.New("dodo 503"), level: zapcore.WarnLevel, message: "transient failure, will retry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			js, _ := setup(t)
			core, logs := observer.New(zapcore.DebugLevel)
			var calls atomic.Int32
			r := NewConsumerRunner(js, testConsumerConfig(), func(context.Context, Delivery) error {
				if calls.Add(1) == 1 {
					return tt.err
				}
				return nil
			}, zap.New(core), ConsumerMetrics{})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			publishTestEvent(t, js, "payment.succeeded", "msg_claim")
			waitFor(t, time.Minute, "the retry to succeed", func() bool { return calls.Load() >= 2 })
			got := logs.FilterMessage(tt.message).All()
			if len(got) != 1 || got[0].Level != tt.level {
				t.Fatalf("log %q: %v, want one at %s", tt.message, got, tt.level)
			}
		})
	}
}
