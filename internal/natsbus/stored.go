package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoMessage means a stream holds no message at a sequence: it never
// existed, aged out, or was deleted.
var ErrNoMessage = errors.New("no message at that sequence")

// StoredMsg is a message as a stream holds it.
type StoredMsg struct {
	Seq     uint64
	Subject string
	// Header holds the headers as stored, names not canonicalised.
	Header map[string][]string
	Data   []byte
}

// HeaderValue returns the first value of header name, "" if there is none.
func (m StoredMsg) HeaderValue(name string) string {
	if v := m.Header[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Stream reads and deletes the messages of one stream by sequence, and
// scans them read-only. offerflow dlq uses it on OFFERFLOW; nothing else
// deletes messages.
type Stream struct {
	js   jetstream.JetStream
	st   jetstream.Stream
	name string
}

// Stream looks up the stream name, with an error that says what to check.
func (c *Conn) Stream(ctx context.Context, name string) (*Stream, error) {
	st, err := c.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s (is NATS_URL offerflow's server?): %w", name, err)
	}
	return &Stream{js: c.js, st: st, name: name}, nil
}

// Get returns the message at seq, or an error wrapping ErrNoMessage.
func (s *Stream) Get(ctx context.Context, seq uint64) (StoredMsg, error) {
	m, err := s.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return StoredMsg{}, fmt.Errorf("sequence %d in %s: %w", seq, s.name, ErrNoMessage)
	}
	if err != nil {
		return StoredMsg{}, fmt.Errorf("get sequence %d from %s: %w", seq, s.name, err)
	}
	return StoredMsg{Seq: m.Sequence, Subject: m.Subject, Header: m.Header, Data: m.Data}, nil
}

// Delete removes the message at seq. A message that is gone already counts
// as deleted: someone else removed it at the same time.
func (s *Stream) Delete(ctx context.Context, seq uint64) error {
	err := s.st.DeleteMsg(ctx, seq)
	if err == nil {
		return nil
	}
	if _, gerr := s.st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
		return nil
	}
	return fmt.Errorf("delete sequence %d from %s: %w", seq, s.name, err)
}

// ScanBatch is how many messages one pull of Scan asks for: few enough
// that a batch of 1 MiB bodies stays small in memory, many enough to need
// few round trips.
const ScanBatch = 64

// Scan calls fn with each message on subjects (NATS filter subjects that
// do not overlap), oldest first, until fn says stop or returns an error,
// which Scan returns.
//
// It reads what was in the stream when it started: a message added during
// the scan is left for the next one, so a caller that republishes as it
// scans cannot loop. It changes nothing: it reads through an ephemeral,
// unacknowledged consumer of its own, never a service's durable one.
func (s *Stream) Scan(ctx context.Context, subjects []string, fn func(StoredMsg) (stop bool, err error)) error {
	info, err := s.st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.name, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	// AckNone means nothing is ever acknowledged or removed, and memory
	// storage with one replica keeps it cheap. The consumer is deleted
	// when the scan ends, and the server drops it after a minute if we
	// crash.
	cons, err := s.st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:       "offerflow: read-only scan",
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("create scan consumer on %s: %w", s.name, err)
	}
	defer func() {
		// The scan's context may be cancelled already; the delete is
		// best effort (the inactive threshold cleans up otherwise).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.js.DeleteConsumer(dctx, s.name, cons.CachedInfo().Name)
	}()

	sc := scan{pending: cons.CachedInfo().NumPending, last: last, fn: fn}
	for sc.pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		// NoWait: the server sends what it has and ends the request at
		// once, so the last, partial batch costs no timeout.
		batch, err := cons.FetchNoWait(int(min(sc.pending, ScanBatch)))
		if err != nil {
			return fmt.Errorf("fetch from %s: %w", s.name, err)
		}
		got, done, err := sc.read(batch)
		if err != nil || done {
			return err
		}
		if got == 0 {
			// What was pending was deleted meanwhile.
			return nil
		}
	}
	return nil
}

// scan is the state of one Scan across its batches.
type scan struct {
	delivered uint64 // the consumer sequence of the last message read
	pending   uint64
	last      uint64 // the stream's last sequence when the scan began
	fn        func(StoredMsg) (bool, error)
}

// read reads one fetched batch. However it returns, it first reads the
// batch to its end: nats.go's goroutine behind a batch ends only when the
// server ends the request, and one left running outlives the scan (and the
// connection, where it waits out the request's expiry).
func (sc *scan) read(batch jetstream.MessageBatch) (got int, done bool, err error) {
	defer func() {
		for range batch.Messages() {
		}
	}()
	for m := range batch.Messages() {
		got++
		meta, err := m.Metadata()
		if err != nil {
			return got, false, fmt.Errorf("message metadata: %w", err)
		}
		// With AckNone nothing is redelivered: a message lost on the
		// way would silently be missing from the listing.
		if meta.Sequence.Consumer != sc.delivered+1 {
			return got, false, fmt.Errorf("messages %d to %d of the scan were lost while reading; run again", sc.delivered+1, meta.Sequence.Consumer-1)
		}
		sc.delivered = meta.Sequence.Consumer
		sc.pending = meta.NumPending
		if meta.Sequence.Stream > sc.last {
			return got, true, nil
		}
		stop, err := sc.fn(StoredMsg{Seq: meta.Sequence.Stream, Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil || stop {
			return got, stop, err
		}
	}
	if err := batch.Error(); err != nil {
		return got, false, fmt.Errorf("fetch: %w", err)
	}
	return got, false, nil
}

// Follower delivers the messages a stream stores from now on, in order, as
// a downstream service would see them. Close stops it.
type Follower struct {
	cc jetstream.ConsumeContext
	// C receives the messages; it is buffered, and a follower whose
	// reader falls behind holds delivery until it catches up or closes.
	C       <-chan StoredMsg
	closing chan struct{}
	once    sync.Once
}

// Follow starts following the messages on subjects of stream that are
// stored after the call, through an ordered consumer (ephemeral,
// unacknowledged, recreated by the client if it falls behind).
func (c *Conn) Follow(ctx context.Context, stream string, subjects ...string) (*Follower, error) {
	cons, err := c.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	out := make(chan StoredMsg, 64)
	f := &Follower{C: out, closing: make(chan struct{})}
	f.cc, err = cons.Consume(func(m jetstream.Msg) {
		sm := StoredMsg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
		if meta, err := m.Metadata(); err == nil {
			sm.Seq = meta.Sequence.Stream
		}
		select {
		case out <- sm:
		case <-f.closing:
			// Close was called: let nats.go's delivery goroutine end
			// instead of waiting for a reader that is gone.
		}
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	return f, nil
}

// Close stops following and waits until the consumer has ended.
func (f *Follower) Close() {
	f.once.Do(func() {
		close(f.closing)
		f.cc.Stop()
		<-f.cc.Closed()
	})
}

// StreamState is what a stream holds now.
type StreamState struct {
	Msgs    uint64
	LastSeq uint64
	// Bytes is what the messages take in the store.
	Bytes uint64
}

// State returns what the stream holds now.
func (s *Stream) State(ctx context.Context) (StreamState, error) {
	info, err := s.st.Info(ctx)
	if err != nil {
		return StreamState{}, fmt.Errorf("stream %s: %w", s.name, err)
	}
	return StreamState{Msgs: info.State.Msgs, LastSeq: info.State.LastSeq, Bytes: info.State.Bytes}, nil
}

// Count returns how many of the stream's messages are on subjects matching
// filter (a NATS subject with wildcards).
func (s *Stream) Count(ctx context.Context, filter string) (uint64, error) {
	info, err := s.st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", s.name, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// ErrNoConsumer means a stream has no consumer of that name (yet).
var ErrNoConsumer = errors.New("no such consumer")

// ConsumerState is how far a consumer has come through its stream.
type ConsumerState struct {
	// Delivered is the stream sequence of the last message delivered,
	// AckFloor the one up to which everything is acknowledged.
	Delivered, AckFloor uint64
	// Pending are messages not delivered yet, AckPending delivered and
	// not acknowledged yet.
	Pending    uint64
	AckPending int
	// Redelivered counts messages delivered more than once.
	Redelivered int
}

// ConsumerState returns the state of the consumer name on the stream, or
// an error wrapping ErrNoConsumer.
func (s *Stream) ConsumerState(ctx context.Context, name string) (ConsumerState, error) {
	c, err := s.st.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return ConsumerState{}, fmt.Errorf("consumer %s on %s: %w", name, s.name, ErrNoConsumer)
	}
	if err != nil {
		return ConsumerState{}, fmt.Errorf("consumer %s on %s: %w", name, s.name, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return ConsumerState{}, fmt.Errorf("consumer %s on %s: %w", name, s.name, err)
	}
	return ConsumerState{Delivered: info.Delivered.Stream, AckFloor: info.AckFloor.Stream, Pending: info.NumPending,
		AckPending: info.NumAckPending, Redelivered: info.NumRedelivered}, nil
}
