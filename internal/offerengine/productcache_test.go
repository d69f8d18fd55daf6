package offerengine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// countingProducts answers product reads, counting them; a read of "bad"
// fails, and a read waits for gate when gate is set.
type countingProducts struct {
	reads atomic.Int64
	gate  chan struct{}
}

func (c *countingProducts) get(ctx context.Context, id string) (wire.Product, error) {
	c.reads.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if id == "bad" {
		return wire.Product{}, errors.New("503 from Dodo")
	}
	return wire.Product{ProductID: id}, nil
}

func TestProductCache(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	t.Run("kept for its TTL, then read again", func(t *testing.T) {
		src := &countingProducts{}
		c := newProductCache(time.Minute, 10, clock)
		for range 3 {
			if p, err := c.get(ctx, "pdt_a", src.get); err != nil || p.ProductID != "pdt_a" {
				t.Fatalf("get = %+v, %v; want pdt_a", p, err)
			}
		}
		if got := src.reads.Load(); got != 1 {
			t.Errorf("reads within the TTL = %d, want 1", got)
		}
		advance(time.Minute)
		if _, err := c.get(ctx, "pdt_a", src.get); err != nil {
			t.Fatal(err)
		}
		if got := src.reads.Load(); got != 2 {
			t.Errorf("reads after the TTL = %d, want 2", got)
		}
	})
	t.Run("errors are not kept", func(t *testing.T) {
		src := &countingProducts{}
		c := newProductCache(time.Minute, 10, clock)
		for range 2 {
			if _, err := c.get(ctx, "bad", src.get); err == nil {
				t.Fatal("get of a failing product: no error")
			}
		}
		if got := src.reads.Load(); got != 2 {
			t.Errorf("reads of a failing product = %d, want 2 (each read again)", got)
		}
	})
	t.Run("concurrent misses share one read", func(t *testing.T) {
		src := &countingProducts{gate: make(chan struct{})}
		c := newProductCache(time.Minute, 10, clock)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				p, err := c.get(ctx, "pdt_b", src.get)
				if err == nil && p.ProductID != "pdt_b" {
					err = errors.New("wrong product " + p.ProductID)
				}
				errs <- err
			})
		}
		// The first caller is reading; the others wait for it.
		for src.reads.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		close(src.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := src.reads.Load(); got != 1 {
			t.Errorf("reads by 20 concurrent callers = %d, want 1", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		src := &countingProducts{}
		c := newProductCache(time.Hour, 5, clock)
		for i := range 50 {
			if _, err := c.get(ctx, "pdt_"+string(rune('a'+i%26))+string(rune('a'+i/26)), src.get); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		n := len(c.m)
		c.mu.Unlock()
		if n > 5 {
			t.Errorf("entries = %d, want at most 5", n)
		}
	})
	t.Run("ttl 0 keeps nothing", func(t *testing.T) {
		src := &countingProducts{}
		c := newProductCache(0, 10, clock)
		for range 3 {
			if _, err := c.get(ctx, "pdt_a", src.get); err != nil {
				t.Fatal(err)
			}
		}
		if got := src.reads.Load(); got != 3 {
			t.Errorf("reads without a cache = %d, want 3", got)
		}
	})
}
