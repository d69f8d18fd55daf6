package worker

import (
	"context"
	"sync"

	"github.com/offerflow/offerflow/internal/access"
)

// docCache remembers the access documents this worker last read or wrote,
// with their revisions, so that a customer's next event skips a KV read.
//
// A cached document may be stale (another replica wrote since), and that
// is safe: access only moves forward in event time, so a stale document can
// only make an update look newer than it is, never older; the write that
// follows is compare-and-swap on the stale revision, fails, and the worker
// re-reads from the store.
type docCache struct {
	mu   sync.Mutex
	max  int
	docs map[string]cachedDoc
}

type cachedDoc struct {
	doc access.Doc
	rev uint64
}

func newDocCache(max int) *docCache {
	return &docCache{max: max, docs: make(map[string]cachedDoc)}
}

func (c *docCache) get(customerID string) (access.Doc, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.docs[customerID]
	return e.doc, e.rev, ok
}

// put stores a document. Documents are never modified after they are
// stored (access.Apply returns new ones), so sharing them is safe.
func (c *docCache) put(customerID string, doc access.Doc, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.docs) >= c.max {
		// Crude but bounded: start over rather than track recency. A
		// miss costs one KV read.
		clear(c.docs)
	}
	c.docs[customerID] = cachedDoc{doc: doc, rev: rev}
}

func (c *docCache) drop(customerID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.docs, customerID)
}

// settledSet remembers the webhooks this worker has published and
// committed, so their outbox entries can be dropped at the customer's next
// write. Forgetting is harmless (an entry then lives until access.OutboxTTL),
// so the set is simply cleared when it grows past max.
type settledSet struct {
	mu  sync.Mutex
	max int
	ids map[string]struct{}
}

func newSettledSet(max int) *settledSet {
	return &settledSet{max: max, ids: make(map[string]struct{})}
}

func (s *settledSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) >= s.max {
		clear(s.ids)
	}
	s.ids[id] = struct{}{}
}

func (s *settledSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

// keyedLock serialises handlers of the same webhook-id within this process.
// Two deliveries of one webhook handled at once (Dodo's retry and the
// original, both stored after JetStream's duplicate window) would otherwise
// meet at the ledger, where the second finds a live claim and is redelivered
// after a back-off; waiting here instead lets it find the ledger committed.
// Across replicas the ledger's claim still decides.
type keyedLock struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

func newKeyedLock() *keyedLock {
	return &keyedLock{held: make(map[string]chan struct{})}
}

// lock waits until no other handler of this process holds key, or ctx
// ends, and returns the function that releases it.
func (k *keyedLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		ch, busy := k.held[key]
		if !busy {
			ch = make(chan struct{})
			k.held[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
