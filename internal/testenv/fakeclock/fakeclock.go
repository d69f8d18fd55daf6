// Package fakeclock is the clock tests hand to the stand-in, the services
// and the stores in place of time.Now, so that a test decides what time it
// is: to price a plan change on a given day, to let a lease or an offer run
// out, to jump to the end of a billing period.
//
// It is apart from package testenv, and imports nothing of offerflow's, so
// that the tests inside the packages testenv is built on (the stand-in,
// confirm) can use it too without an import cycle.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a clock a test sets and moves. It either stands still (At) or
// runs with real time (Running); Set and Advance move it in both cases. It
// is safe for concurrent use: handlers, consumers and the stand-in's
// sender read it while the test moves it.
type Clock struct {
	mu      sync.Mutex
	running bool
	at      time.Time     // the time, while standing still
	offset  time.Duration // added to real time, while running
}

// At returns a clock that stands at t until Set or Advance moves it: every
// reading is the same, so a test can compare timestamps exactly.
func At(t time.Time) *Clock { return &Clock{at: t} }

// Running returns a clock that reads real time (in UTC) until Set or
// Advance moves it, and then real time moved by as much. For tests whose
// code needs time to pass (ordering by timestamp, leases, unique
// timestamps) and that still jump ahead now and then.
func Running() *Clock { return &Clock{running: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return time.Now().Add(c.offset).UTC()
	}
	return c.at
}

// Set moves the clock to t; a running clock runs on from there.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.offset = time.Until(t)
		return
	}
	c.at = t
}

// Advance moves the clock on by d (back, if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.offset += d
		return
	}
	c.at = c.at.Add(d)
}
