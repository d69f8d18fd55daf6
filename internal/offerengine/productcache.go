package offerengine

import (
	"context"
	"sync"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// productCache keeps Dodo's answers to GET /products/{id} for a while: a
// product and its price change rarely, and every offer reads one, so
// without it a product read is a third of an offer's Dodo budget. Dodo
// sends no webhook when a product changes (its spec has no product.*
// event), so an entry lives for its TTL and no longer: a price changed at
// Dodo shows in new offers at most TTL later. An offer already made keeps
// the price it was made with, as before.
//
// It belongs to one engine (no state between processes), holds at most max
// products, and is safe for concurrent use. Concurrent misses of one
// product share one read, so a burst of triggers does not send a read per
// trigger while the first is in flight. Only answers are kept: an error
// (a product Dodo does not know, a 5xx) is read again next time.
type productCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]*productEntry
}

type productEntry struct {
	done    chan struct{} // closed once the read ended
	p       wire.Product
	err     error
	expires time.Time
}

// newProductCache returns a cache of up to max products kept for ttl; ttl
// <= 0 returns nil, which caches nothing.
func newProductCache(ttl time.Duration, max int, now func() time.Time) *productCache {
	if ttl <= 0 {
		return nil
	}
	return &productCache{ttl: ttl, max: max, now: now, m: map[string]*productEntry{}}
}

// get returns the product from the cache, or reads it with fetch.
func (c *productCache) get(ctx context.Context, id string, fetch func(context.Context, string) (wire.Product, error)) (wire.Product, error) {
	if c == nil {
		return fetch(ctx, id)
	}
	for {
		c.mu.Lock()
		e, ok := c.m[id]
		if !ok {
			break // c.mu is held: this caller reads it
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return wire.Product{}, ctx.Err()
		}
		if e.err == nil && c.now().Before(e.expires) {
			return e.p, nil
		}
		// Failed or stale: the reader's own failure was its answer; this
		// caller removes the entry (unless another already replaced it)
		// and reads again.
		c.mu.Lock()
		if c.m[id] == e {
			delete(c.m, id)
		}
		c.mu.Unlock()
	}
	e := &productEntry{done: make(chan struct{})}
	c.m[id] = e
	c.evict()
	c.mu.Unlock()

	e.p, e.err = fetch(ctx, id)
	e.expires = c.now().Add(c.ttl)
	close(e.done)
	if e.err != nil {
		c.mu.Lock()
		if c.m[id] == e {
			delete(c.m, id)
		}
		c.mu.Unlock()
	}
	return e.p, e.err
}

// evict makes room for one more entry: first the expired ones go, then
// any (a catalog larger than max is read more often, never held whole).
// The caller holds c.mu.
func (c *productCache) evict() {
	if len(c.m) <= c.max {
		return
	}
	now := c.now()
	for id, e := range c.m {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(c.m, id)
			}
		default:
		}
	}
	for id := range c.m {
		if len(c.m) <= c.max {
			return
		}
		delete(c.m, id)
	}
}
