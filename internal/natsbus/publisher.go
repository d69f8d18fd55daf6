package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/events"
)

// ErrNotStored means JetStream did not confirm the message in time or at
// all. The message may or may not be stored; the sender must retry with the
// same Nats-Msg-Id, which the stream de-duplicates.
var ErrNotStored = errors.New("jetstream did not acknowledge the message")

// PubAck is what JetStream confirmed for one message.
type PubAck struct {
	Stream    string
	Sequence  uint64
	Duplicate bool
}

// Publisher publishes messages to JetStream and waits for each message's own
// acknowledgement.
//
// It pipelines: every caller's message goes out on one connection without
// waiting for earlier messages' acks (JetStream's async publish), and the
// connection's writer coalesces concurrent messages into few socket writes.
// A caller still returns only once its own message is acknowledged, so the
// ingest never answers 2xx for a message that is not stored.
type Publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
	stall   jetstream.PublishOpt
}

// NewPublisher returns a Publisher whose Publish gives up after timeout.
// The JetStream context should be created with NewPublishJetStream so that
// abandoned acks are cleaned up after the same timeout.
func NewPublisher(js jetstream.JetStream, timeout time.Duration) *Publisher {
	return &Publisher{js: js, timeout: timeout, stall: jetstream.WithStallWait(timeout)}
}

// NewPublishJetStream returns a JetStream context for a Publisher: up to
// maxPending unacknowledged messages in flight, each forgotten after
// timeout (without it, a lost ack would hold a slot forever).
func NewPublishJetStream(nc *nats.Conn, maxPending int, timeout time.Duration) (jetstream.JetStream, error) {
	return jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPending),
		jetstream.WithPublishAsyncTimeout(timeout),
	)
}

// Publish sends msg and waits for its acknowledgement, the context's end, or
// the publisher's timeout, whichever comes first. Any failure wraps
// ErrNotStored.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg) (PubAck, error) {
	// The stall wait bounds how long we queue behind a full in-flight
	// window; past it the ingest answers 503 rather than piling up requests.
	fut, err := p.js.PublishMsgAsync(msg, p.stall)
	if err != nil {
		return PubAck{}, fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	// A timer, not a context.WithTimeout: the ingest pays this on every
	// webhook, and a derived context also registers with its parent.
	timeout := time.NewTimer(p.timeout)
	defer timeout.Stop()
	select {
	case ack := <-fut.Ok():
		return PubAck{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-fut.Err():
		return PubAck{}, fmt.Errorf("%w: %w", ErrNotStored, err)
	case <-timeout.C:
		return PubAck{}, fmt.Errorf("%w: %w", ErrNotStored, context.DeadlineExceeded)
	case <-ctx.Done():
		return PubAck{}, fmt.Errorf("%w: %w", ErrNotStored, ctx.Err())
	}
}

// PublishSync sends msg with one request/reply round trip. It is the
// straightforward way, kept for the benchmark's naive reference and for
// low-volume publishes where pipelining does not matter.
func PublishSync(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) (PubAck, error) {
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return PubAck{}, fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	return PubAck{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// Send publishes m and waits for its acknowledgement, as Publish; a
// message without an ID is refused (events.ErrNoMessageID), never sent.
func (p *Publisher) Send(ctx context.Context, m events.Message) (PubAck, error) {
	msg, err := natsMsg(m)
	if err != nil {
		return PubAck{}, err
	}
	return p.Publish(ctx, msg)
}

// SendAll publishes msgs pipelined and waits for every acknowledgement, as
// PublishAll; if any message has no ID, none is sent.
func (p *Publisher) SendAll(ctx context.Context, msgs []events.Message) error {
	out := make([]*nats.Msg, 0, len(msgs))
	for _, m := range msgs {
		msg, err := natsMsg(m)
		if err != nil {
			return err
		}
		out = append(out, msg)
	}
	return p.PublishAll(ctx, out)
}

// natsMsg is m as JetStream takes it, or the reason it cannot be sent.
func natsMsg(m events.Message) (*nats.Msg, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	return toNATS(m), nil
}

// toNATS is m with its ID as the Nats-Msg-Id. Assigning the header map
// directly keeps the names exactly as given (the webhook-* ones stay lower
// case) instead of canonicalising them.
func toNATS(m events.Message) *nats.Msg {
	h := make(nats.Header, len(m.Header)+1)
	for k, v := range m.Header {
		h[k] = v
	}
	h[jetstream.MsgIDHeader] = []string{m.ID}
	return &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
}

// PublishAll publishes msgs pipelined and waits for every acknowledgement.
// It returns the first failure; messages carry Nats-Msg-Id, so the caller
// may simply publish all of them again.
func (p *Publisher) PublishAll(ctx context.Context, msgs []*nats.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(p.timeout))
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNotStored, m.Subject, err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("%w: %s: %w", ErrNotStored, f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotStored, ctx.Err())
		}
	}
	return nil
}

// Webhook headers, stored with every event so anyone can re-verify it.
const (
	HeaderWebhookID = events.HeaderWebhookID
	// HeaderReconciled marks a message offerflow built itself from Dodo's
	// API (offerflow reconcile) rather than received from Dodo: it has no
	// signature, and its event may be days old.
	HeaderReconciled       = events.HeaderReconciled
	HeaderWebhookTimestamp = events.HeaderWebhookTimestamp
	HeaderWebhookSignature = events.HeaderWebhookSignature
)

// PublishWebhook stores a verified webhook's raw body on subject, with
// Nats-Msg-Id set to its webhook-id (so Dodo's retries within the
// duplicate window are stored once) and the three webhook-* headers.
func (p *Publisher) PublishWebhook(ctx context.Context, subject, id, timestamp, signature string, body []byte) (PubAck, error) {
	return p.Publish(ctx, WebhookMsg(subject, id, timestamp, signature, body))
}

// WebhookMsg builds the message PublishWebhook sends
// (events.WebhookMessage, with its ID as the Nats-Msg-Id).
func WebhookMsg(subject, id, timestamp, signature string, body []byte) *nats.Msg {
	return toNATS(events.WebhookMessage(subject, id, timestamp, signature, body))
}
