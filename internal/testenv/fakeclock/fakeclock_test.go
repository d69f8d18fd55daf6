package fakeclock

import (
	"sync"
	"testing"
	"time"
)

func TestAtStandsStill(t *testing.T) {
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	c := At(at)
	if got := c.Now(); !got.Equal(at) {
		t.Fatalf("Now = %s, want %s", got, at)
	}
	c.Advance(time.Hour)
	if got, want := c.Now(), at.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after Advance: %s, want %s", got, want)
	}
	c.Set(at.AddDate(0, 1, 0))
	if got, want := c.Now(), at.AddDate(0, 1, 0); !got.Equal(want) {
		t.Fatalf("after Set: %s, want %s", got, want)
	}
}

func TestRunningFollowsRealTime(t *testing.T) {
	c := Running()
	before := time.Now()
	got := c.Now()
	if got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) || got.Location() != time.UTC {
		t.Fatalf("Now = %s, want real time (%s) in UTC", got, before)
	}
	c.Advance(30 * 24 * time.Hour)
	if d := time.Until(c.Now()); d < 30*24*time.Hour-time.Second || d > 30*24*time.Hour+time.Second {
		t.Fatalf("after Advance by 30 days: %s ahead of real time", d)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(at)
	if got := c.Now(); got.Before(at) || got.After(at.Add(time.Minute)) {
		t.Fatalf("after Set: %s, want %s and running", got, at)
	}
}

// Readers and a writer at once: -race checks the lock.
func TestConcurrentUse(t *testing.T) {
	c := At(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				_ = c.Now()
			}
		})
	}
	wg.Go(func() {
		for range 1000 {
			c.Advance(time.Second)
		}
	})
	wg.Wait()
	if got, want := c.Now(), time.Date(2026, 4, 1, 0, 16, 40, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Now = %s, want %s", got, want)
	}
}
