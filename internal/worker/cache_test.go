package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/access"
)

func TestKeyedLockSerialisesOneKey(t *testing.T) {
	k := newKeyedLock()
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.lock(context.Background(), "msg_1")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d handlers held the same key at once, want 1", maxInside.Load())
	}
	if len(k.held) != 0 {
		t.Fatalf("%d keys left held", len(k.held))
	}
}

func TestKeyedLockOtherKeysAndCancel(t *testing.T) {
	k := newKeyedLock()
	unlock, _ := k.lock(context.Background(), "a")
	// Another key does not wait.
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same key waits until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); err == nil {
		t.Fatal("lock of a held key returned before the context ended")
	}
	unlock()
	if _, err := k.lock(context.Background(), "a"); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
}

func TestDocCacheAndSettledAreBounded(t *testing.T) {
	c := newDocCache(3)
	s := newSettledSet(3)
	for i := 0; i < 10; i++ {
		id := string(rune('a' + i))
		c.put(id, access.NewDoc(id), uint64(i))
		s.add(id)
		if len(c.docs) > 3 || len(s.ids) > 3 {
			t.Fatalf("cache %d, settled %d entries; bound is 3", len(c.docs), len(s.ids))
		}
	}
	if _, rev, ok := c.get("j"); !ok || rev != 9 {
		t.Fatalf("latest entry: rev %d ok %v", rev, ok)
	}
	c.drop("j")
	if _, _, ok := c.get("j"); ok {
		t.Fatal("dropped entry still cached")
	}
	if !s.has("j") || s.has("zz") {
		t.Fatal("settled set answers wrongly")
	}
}
