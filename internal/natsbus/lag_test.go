package natsbus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The lag counts what is not yet acknowledged, delivered or not, and dates
// the oldest such message by JetStream's timestamp: the first after the
// ack floor, skipping messages of other subjects.
func TestConsumerLag(t *testing.T) {
	js, nc := setup(t)
	conn := &Conn{nc: nc, js: js}
	ctx := context.Background()
	cfg := DefaultConsumerConfig()
	cfg.Filter = "dodo.events.payment.>"
	cons, err := EnsureConsumer(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lag, err := conn.ConsumerLag(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Pending != 0 || !lag.Oldest.IsZero() {
		t.Fatalf("empty stream: lag %+v, want 0 and no oldest", lag)
	}

	pub := NewPublisher(js, 5*time.Second)
	var stored []time.Time
	for i, subject := range []string{"dodo.events.subscription.active", "dodo.events.payment.succeeded", "dodo.events.payment.failed", "dodo.events.payment.succeeded"} {
		ack, err := pub.Publish(ctx, &nats.Msg{Subject: subject, Data: []byte("{}"), Header: nats.Header{"Nats-Msg-Id": {subject + string(rune('a'+i))}}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := js.Stream(ctx, cfg.Stream)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := m.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, raw.Time)
	}
	lag, err = conn.ConsumerLag(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	// The subscription event is not the consumer's: the oldest of its
	// three is the first payment.
	if lag.Pending != 3 || !lag.Oldest.Equal(stored[1]) {
		t.Fatalf("nothing delivered: lag %+v, want 3 pending, oldest %s", lag, stored[1])
	}

	// One delivered and acknowledged, one delivered and not: both of the
	// rest still count, and the oldest is the one in hand.
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 {
		t.Fatalf("fetched %d, want 2", len(msgs))
	}
	if err := msgs[0].DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	lag, err = conn.ConsumerLag(ctx, cfg.Stream, cfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Pending != 2 || !lag.Oldest.Equal(stored[2]) {
		t.Fatalf("one acked, one in hand: lag %+v, want 2 pending, oldest %s", lag, stored[2])
	}
}
