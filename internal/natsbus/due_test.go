package natsbus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/offers"
)

func TestDueMinute(t *testing.T) {
	m0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		want int64
	}{
		{"on a minute", m0, m0.Unix() / 60},
		{"a nanosecond after", m0.Add(time.Nanosecond), m0.Unix()/60 + 1},
		{"a second before the next", m0.Add(59 * time.Second), m0.Unix()/60 + 1},
		{"a nanosecond before", m0.Add(-time.Nanosecond), m0.Unix() / 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dueMinute(tc.at); got != tc.want {
				t.Fatalf("dueMinute(%s) = %d, want %d", tc.at, got, tc.want)
			}
			if start := time.Unix(dueMinute(tc.at)*60, 0); start.Before(tc.at) {
				t.Fatalf("the entry's minute starts at %s, before %s: it would be listed early", start, tc.at)
			}
		})
	}
}

func TestDueFilters(t *testing.T) {
	day := int64(20544 * 1440) // a midnight
	for _, tc := range []struct {
		name     string
		from, to int64
		limit    int
		want     []string
		covered  int64
	}{
		{"one minute", day + 61, day + 61, 64, []string{"due.20544.493057.29583421.*"}, day + 61},
		{"empty", day + 5, day + 4, 64, nil, day + 4},
		{"an hour and a minute", day + 60, day + 120, 64,
			[]string{"due.20544.493057.>", "due.20544.493058.29583480.*"}, day + 120},
		{"into a whole day", day - 1, day + 1440, 64,
			[]string{"due.20543.493055.29583359.*", "due.20544.>", "due.20545.493080.29584800.*"}, day + 1440},
		{"cut at the limit", day + 1, day + 10, 3,
			[]string{"due.20544.493056.29583361.*", "due.20544.493056.29583362.*", "due.20544.493056.29583363.*"}, day + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, covered := dueFilters(tc.from, tc.to, tc.limit)
			if !slices.Equal(got, tc.want) || covered != tc.covered {
				t.Fatalf("dueFilters(%d, %d) = %q up to %d, want %q up to %d", tc.from, tc.to, got, covered, tc.want, tc.covered)
			}
		})
	}
}

// TestDueFiltersCoverTheRange: every minute the filters say they cover is
// matched by exactly one of them, and no other minute is.
func TestDueFiltersCoverTheRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 25 {
		from := 29_000_000 + r.Int64N(10_000)
		to := from + r.Int64N(4_000) - 10
		filters, covered := dueFilters(from, to, 1+r.IntN(80))
		if covered > max(to, from-1) {
			t.Fatalf("dueFilters(%d, %d) covers up to %d, past the range", from, to, covered)
		}
		split := make([][]string, len(filters))
		for i, f := range filters {
			split[i] = strings.Split(f, ".")
		}
		for m := from - 2; m <= to+2; m++ {
			key := strings.Split(dueKey(m, "ofr_x"), ".")
			n := 0
			for _, f := range split {
				if subjectMatches(f, key) {
					n++
				}
			}
			want := 0
			if m >= from && m <= covered {
				want = 1
			}
			if n != want {
				t.Fatalf("dueFilters(%d, %d) = %q: minute %d matched %d times, want %d", from, to, filters, m, n, want)
			}
		}
	}
}

// subjectMatches is NATS subject matching with * and >, on subjects split
// into tokens.
func subjectMatches(f, s []string) bool {
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

func dueOffer(t *testing.T, s *OfferStore, id string, created, expires time.Time) offers.Offer {
	t.Helper()
	o, err := offers.New(offers.Offer{
		ID: id, CustomerID: "cus_" + id, Kind: offers.CrossSell, ProductID: "pdt_addon", Quantity: 1,
		Amounts:   offers.Amounts{Currency: "USD", Price: 900, DueNow: 900},
		ExpiresAt: expires, Trigger: offers.Trigger{Event: "payment.succeeded", WebhookID: "msg_" + id},
	}, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func dueIDs(scan DueScan) []string {
	var ids []string
	for _, d := range scan.Entries {
		ids = append(ids, d.OfferID)
	}
	return ids
}

// The due index lists an offer from its expiry on, an accepted one from
// its accept on, and nothing before; a handled entry is gone, a kept one
// holds the cursor so the next scan lists it again.
func TestScanDue(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	if scan, err := s.ScanDue(ctx, t0); err != nil || len(scan.Entries) != 0 || scan.found {
		t.Fatalf("before any entry: %+v, %v; want an empty scan without a cursor", scan, err)
	}
	dueOffer(t, s, "ofr_a", t0, t0.Add(10*time.Minute))
	dueOffer(t, s, "ofr_b", t0, t0.Add(30*time.Second))
	dueOffer(t, s, "ofr_c", t0, t0.Add(3*time.Hour))
	acc := t0.Add(5 * time.Minute)
	if _, err := s.Transition(ctx, "ofr_c", func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, acc) }); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{t0, nil},
		{t0.Add(59 * time.Second), nil},
		{t0.Add(time.Minute), []string{"ofr_b"}},
		{acc, []string{"ofr_b", "ofr_c"}},
		{t0.Add(11 * time.Minute), []string{"ofr_b", "ofr_c", "ofr_a"}},
	} {
		scan, err := s.ScanDue(ctx, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := dueIDs(scan); !slices.Equal(got, tc.want) {
			t.Errorf("due at %s: %v, want %v", tc.at.Format(time.TimeOnly), got, tc.want)
		}
	}

	now := t0.Add(20 * time.Minute)
	scan, err := s.ScanDue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var kept []Due
	for _, d := range scan.Entries {
		if d.OfferID == "ofr_c" {
			kept = append(kept, d)
			continue
		}
		if err := s.Unschedule(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AdvanceDue(ctx, scan, kept); err != nil {
		t.Fatal(err)
	}
	next, err := s.ScanDue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := dueIDs(next); !slices.Equal(got, []string{"ofr_c"}) {
		t.Fatalf("after handling all but ofr_c: %v, want [ofr_c]", got)
	}
	if next.cursor != floorMinute(acc) {
		t.Fatalf("cursor %d, want %d: the kept entry's minute", next.cursor, floorMinute(acc))
	}
	if err := s.Unschedule(ctx, next.Entries[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceDue(ctx, next, nil); err != nil {
		t.Fatal(err)
	}
	last, err := s.ScanDue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Entries) != 0 || last.cursor != floorMinute(now)-dueLag+1 {
		t.Fatalf("all handled: %v at cursor %d, want none at %d (dueLag behind)", dueIDs(last), last.cursor, floorMinute(now)-dueLag+1)
	}
	// A stale scan cannot move the cursor back.
	if err := s.AdvanceDue(ctx, scan, kept); err != nil {
		t.Fatal(err)
	}
	if again, err := s.ScanDue(ctx, now); err != nil || again.cursor != last.cursor {
		t.Fatalf("after a stale advance: cursor %d, %v; want %d", again.cursor, err, last.cursor)
	}
}

// A sweep that catches up on a gap longer than one listing covers lists it
// over several scans, and none of them misses an entry.
func TestScanDueCatchesUp(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 9, 17, 0, 0, time.UTC)
	var want []string
	for i := range 40 {
		id := fmt.Sprintf("ofr_%02d", i)
		dueOffer(t, s, id, t0, t0.Add(time.Duration(i)*97*time.Minute+time.Second))
		want = append(want, id)
	}
	now := t0.Add(300 * 24 * time.Hour) // more days than one listing's filters
	var got []string
	scans := 0
	for range 10 {
		scan, err := s.ScanDue(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if scan.cursor <= floorMinute(now)-dueLag {
			scans++
		}
		got = append(got, dueIDs(scan)...)
		for _, d := range scan.Entries {
			if err := s.Unschedule(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AdvanceDue(ctx, scan, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want each of %v once, in order", got, want)
	}
	if scans < 2 {
		t.Fatalf("caught up in %d scan, want several: the test no longer covers the cut", scans)
	}
}

func TestClaimFullSweep(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			ok, err := s.ClaimFullSweep(ctx, t0, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d of 8 concurrent claims won, want 1", won)
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(59 * time.Minute), false},
		{t0.Add(time.Hour), true},
		{t0.Add(time.Hour + time.Minute), false},
	} {
		if got, err := s.ClaimFullSweep(ctx, tc.at, time.Hour); err != nil || got != tc.want {
			t.Fatalf("claim at %s: %v, %v; want %v", tc.at.Format(time.TimeOnly), got, err, tc.want)
		}
	}
}
