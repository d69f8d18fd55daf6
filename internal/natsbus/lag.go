package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerLag is how far a durable consumer is behind its stream.
type ConsumerLag struct {
	// Pending counts the messages not yet acknowledged: those not yet
	// delivered (NumPending) and those delivered and in hand or waiting
	// for a redelivery (NumAckPending).
	Pending uint64
	// Oldest is when JetStream stored the oldest message not yet
	// acknowledged: the first message of the consumer's filter after its
	// ack floor. Zero when nothing is pending.
	Oldest time.Time
}

// ConsumerLag reads the lag of the durable consumer on stream: one
// consumer info request and, when something is pending, one read of the
// message after the ack floor. Pending alone says how much work waits;
// Oldest says how late offerflow is, which is what a customer notices.
func (c *Conn) ConsumerLag(ctx context.Context, stream, durable string) (ConsumerLag, error) {
	cons, err := c.js.Consumer(ctx, stream, durable)
	if err != nil {
		return ConsumerLag{}, fmt.Errorf("consumer %s: %w", durable, err)
	}
	// CachedInfo would be stale: the runner's own handle never refreshes.
	info, err := cons.Info(ctx)
	if err != nil {
		return ConsumerLag{}, fmt.Errorf("consumer %s info: %w", durable, err)
	}
	lag := ConsumerLag{Pending: info.NumPending + uint64(max(info.NumAckPending, 0))}
	if lag.Pending == 0 {
		return lag, nil
	}
	st, err := c.js.Stream(ctx, stream)
	if err != nil {
		return lag, fmt.Errorf("stream %s: %w", stream, err)
	}
	// The ack floor is the last message before the first unacknowledged
	// one; the next message of the filter at or after floor+1 is the
	// oldest one not acknowledged (messages deleted since are skipped by
	// the server).
	filter := info.Config.FilterSubject
	if filter == "" {
		filter = ">"
	}
	m, err := st.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Acknowledged between the two requests.
		return lag, nil
	}
	if err != nil {
		return lag, fmt.Errorf("oldest pending of %s: %w", durable, err)
	}
	lag.Oldest = m.Time
	return lag, nil
}
