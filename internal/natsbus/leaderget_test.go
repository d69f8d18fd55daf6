package natsbus

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// lastFromLeader reads what a KV Get reads, from the stream's leader: the
// value and revision of a key, and no value for a key never written,
// deleted or purged.
func TestLastFromLeader(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, OffersBucket)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(ctx, "ofr_1", []byte(`{"id":"ofr_1"}`))
	if err != nil {
		t.Fatal(err)
	}
	data, got, found, err := lastFromLeader(ctx, js, OffersBucket, "ofr_1")
	if err != nil || !found || got != rev || string(data) != `{"id":"ofr_1"}` {
		t.Fatalf("a key just put: %q rev %d found %v err %v; want its value at rev %d", data, got, found, err, rev)
	}
	if _, err := kv.Put(ctx, "ofr_2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "ofr_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "ofr_3", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "ofr_3"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ofr_never", "ofr_2", "ofr_3"} {
		if _, _, found, err := lastFromLeader(ctx, js, OffersBucket, key); err != nil || found {
			t.Errorf("%s: found %v, err %v; want not found", key, found, err)
		}
		if _, err := kv.Get(ctx, key); err != jetstream.ErrKeyNotFound {
			t.Errorf("%s: kv.Get = %v, want ErrKeyNotFound as lastFromLeader says", key, err)
		}
	}
}
