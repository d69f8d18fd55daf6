package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Settled is about the messages a consumer is for: a message its filter
// matches and nobody has acknowledged keeps it unsettled from the moment
// its publish is acknowledged (a condition on NumPending was not: the
// server counts a new message for its consumers asynchronously), and
// messages of other subjects do not count.
func TestSettled(t *testing.T) {
	srv := Start(t)
	js, err := jetstream.New(Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"a.>", "b.>"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", FilterSubject: "a.>", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	settled := Settled(js, "S", "C")
	if !settled() {
		t.Fatal("settled: false with no messages")
	}
	if _, err := js.Publish(ctx, "b.1", nil); err != nil {
		t.Fatal(err)
	}
	if !settled() {
		t.Fatal("settled: false with only a message of another subject")
	}
	for i := range 50 {
		if _, err := js.Publish(ctx, "a.1", nil); err != nil {
			t.Fatal(err)
		}
		// Right after the publish's ack, every time.
		if settled() {
			t.Fatalf("publish %d: settled before the consumer took the message", i)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if settled() {
				t.Fatalf("publish %d: settled before the message was acknowledged", i)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if !settled() {
			t.Fatalf("publish %d: not settled once the message was acknowledged", i)
		}
	}
	if _, err := js.Publish(ctx, "b.2", nil); err != nil {
		t.Fatal(err)
	}
	if !settled() {
		t.Fatal("settled: false after a message of another subject")
	}
}
