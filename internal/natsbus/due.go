package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The due index: which offers the sweep must look at, by time, so that a
// sweep reads the offers that are due and not every customer's index.
//
// An entry is the key due.<day>.<hour>.<minute>.<offer> (unix day, hour
// and minute, all absolute, so one key prefix names a whole day, hour or
// minute) whose value names the offer and its customer; the sweep looks at
// the offer from the start of that minute on. Whoever writes an offer
// writes its entry first (Create: the expiry; Transition to accepted: the
// settlement), so a crash can leave an entry without its offer change,
// never the change without its entry. An entry is only a hint: the sweep
// reads the offer and acts on its state by compare-and-swap, so a stale,
// duplicate or orphaned entry costs a read and is dropped.
//
// sweep.cursor holds the first minute whose entries are not all handled:
// a sweep lists the minutes from the cursor to now through subject
// filters (a whole day or hour as one filter where it can), so its cost is
// the entries due plus a handful of filters, however many customers have
// offers. sweep.full holds when the last full sweep (every customer's
// index) started.
const (
	dueKeyPrefix   = "due."
	sweepCursorKey = "sweep.cursor"
	fullSweepKey   = "sweep.full"
	// dueLag is how many minutes the cursor stays behind the sweeper's
	// clock: an entry written by a process whose clock is up to that much
	// behind lands in a minute the sweep still lists.
	dueLag = 2
	// dueMarkerTTL is how long the purge mark of a handled entry stays;
	// the mark only matters to a sweep listing that minute meanwhile.
	dueMarkerTTL = time.Minute
	// maxDueFilters bounds one listing's subject filters. Any gap of up
	// to about three months fits (at most 59 minutes and 23 hours on
	// either side of its whole days); a longer one (the sweepers were
	// down for longer) is covered over a few sweeps.
	maxDueFilters = 256
)

// Due is one entry of the due index: an offer the sweep should look at
// from At on.
type Due struct {
	OfferID    string `json:"offer_id"`
	CustomerID string `json:"customer_id"`
	// At is the start of the entry's minute.
	At time.Time `json:"-"`

	key string
}

// DueScan is one pass over the due index: the entries due, and what the
// cursor may advance to once they are handled (AdvanceDue).
type DueScan struct {
	Entries []Due

	found   bool   // the cursor exists: some writer has scheduled an entry
	cursor  int64  // the cursor's minute when read
	rev     uint64 // and its revision
	covered int64  // the last minute listed
	now     int64  // the sweeper's minute
}

// dueMinute is the first minute that starts at or after t: an entry in it
// is due exactly when its offer is.
func dueMinute(t time.Time) int64 {
	m := t.Unix() / 60
	if time.Unix(m*60, 0).Before(t) {
		m++
	}
	return m
}

// floorMinute is the minute t falls in.
func floorMinute(t time.Time) int64 { return t.Unix() / 60 }

func dueKey(minute int64, offerID string) string {
	return fmt.Sprintf("%s%d.%d.%d.%s", dueKeyPrefix, minute/1440, minute/60, minute, Token(offerID))
}

// dueMinuteOfKey returns the minute of a due key.
func dueMinuteOfKey(key string) (int64, bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 5 || parts[0]+"." != dueKeyPrefix {
		return 0, false
	}
	m, err := strconv.ParseInt(parts[3], 10, 64)
	return m, err == nil
}

// dueFilters returns the key filters that list the minutes from..to, at
// most limit of them, a whole day or hour as one filter where it fits, and
// the last minute they cover (from-1 for none).
func dueFilters(from, to int64, limit int) ([]string, int64) {
	var out []string
	m := from
	for m <= to && len(out) < limit {
		switch {
		case m%1440 == 0 && m+1439 <= to:
			out = append(out, fmt.Sprintf("%s%d.>", dueKeyPrefix, m/1440))
			m += 1440
		case m%60 == 0 && m+59 <= to:
			out = append(out, fmt.Sprintf("%s%d.%d.>", dueKeyPrefix, m/1440, m/60))
			m += 60
		default:
			out = append(out, fmt.Sprintf("%s%d.%d.%d.*", dueKeyPrefix, m/1440, m/60, m))
			m++
		}
	}
	return out, m - 1
}

// Schedule adds a due entry: the sweep looks at offer id from at on. now is
// the writer's time; the first entry a store writes starts the cursor a
// little before it if no one has. The entry lives as long as an offer does
// (the offer retention), so an entry nobody handles still leaves.
func (s *OfferStore) Schedule(ctx context.Context, offerID, customerID string, at, now time.Time) error {
	val, err := json.Marshal(Due{OfferID: offerID, CustomerID: customerID})
	if err != nil {
		return fmt.Errorf("encode due entry of %s: %w", offerID, err)
	}
	if err := s.ensureCursor(ctx, now); err != nil {
		return err
	}
	if _, err := s.write(ctx, dueKey(dueMinute(at), offerID), val, 0, false, nil, s.retention); err != nil {
		return fmt.Errorf("schedule offer %s: %w", offerID, err)
	}
	return nil
}

// Backfill is Schedule for an offer that may have its entry already (the
// full sweep's repair of offers stored without one): it writes nothing if
// the key holds one.
func (s *OfferStore) Backfill(ctx context.Context, offerID, customerID string, at, now time.Time) error {
	val, err := json.Marshal(Due{OfferID: offerID, CustomerID: customerID})
	if err != nil {
		return fmt.Errorf("encode due entry of %s: %w", offerID, err)
	}
	if err := s.ensureCursor(ctx, now); err != nil {
		return err
	}
	_, err = s.offers.Create(ctx, dueKey(dueMinute(at), offerID), val, jetstream.KeyTTL(s.retention))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("schedule offer %s: %w", offerID, err)
	}
	return nil
}

// ensureCursor starts the cursor two minutes before now unless it exists.
// Once per store: the cursor is never deleted.
func (s *OfferStore) ensureCursor(ctx context.Context, now time.Time) error {
	if s.cursorSeen.Load() {
		return nil
	}
	_, err := s.offers.Create(ctx, sweepCursorKey, []byte(strconv.FormatInt(floorMinute(now)-dueLag, 10)))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("start the due cursor: %w", err)
	}
	s.cursorSeen.Store(true)
	return nil
}

// Unschedule removes a handled entry (a purge, whose mark expires after
// dueMarkerTTL). Removing one twice is harmless.
func (s *OfferStore) Unschedule(ctx context.Context, d Due) error {
	h := nats.Header{"KV-Operation": []string{"PURGE"}, jetstream.MsgRollup: []string{jetstream.MsgRollupSubject}}
	if _, err := s.write(ctx, d.key, nil, 0, false, h, dueMarkerTTL); err != nil {
		return fmt.Errorf("unschedule offer %s: %w", d.OfferID, err)
	}
	return nil
}

// ScanDue lists the entries due at now: those of the minutes from the
// cursor to now's (at most maxDueFilters filters of them; the next scan
// lists the rest), in minute order. No cursor yet means no entry was ever
// written: the scan is empty.
func (s *OfferStore) ScanDue(ctx context.Context, now time.Time) (DueScan, error) {
	c, err := s.offers.Get(ctx, sweepCursorKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return DueScan{}, nil
	}
	if err != nil {
		return DueScan{}, fmt.Errorf("read the due cursor: %w", err)
	}
	from, err := strconv.ParseInt(string(c.Value()), 10, 64)
	if err != nil {
		return DueScan{}, fmt.Errorf("the due cursor %q: %w", c.Value(), err)
	}
	scan := DueScan{found: true, cursor: from, rev: c.Revision(), now: floorMinute(now), covered: from - 1}
	if from > scan.now {
		return scan, nil
	}
	filters, covered := dueFilters(from, scan.now, maxDueFilters)
	w, err := s.offers.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return DueScan{}, fmt.Errorf("list due offers: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return DueScan{}, ctx.Err()
		case en, ok := <-w.Updates():
			if !ok {
				return DueScan{}, errors.New("list due offers: the listing ended early")
			}
			if en == nil {
				scan.covered = covered
				slices.SortFunc(scan.Entries, func(a, b Due) int {
					if c := a.At.Compare(b.At); c != 0 {
						return c
					}
					return strings.Compare(a.key, b.key)
				})
				return scan, nil
			}
			m, ok := dueMinuteOfKey(en.Key())
			if !ok {
				continue // not an entry this code writes
			}
			var d Due
			// An undecodable value leaves OfferID empty: the sweep
			// drops the entry.
			_ = json.Unmarshal(en.Value(), &d)
			d.At, d.key = time.Unix(m*60, 0).UTC(), en.Key()
			scan.Entries = append(scan.Entries, d)
		}
	}
}

// AdvanceDue moves the cursor past what scan listed, except the minutes of
// kept (entries not handled, to list again) and the last dueLag minutes,
// where a writer with a slower clock may still add entries. The cursor
// only moves forward, by compare-and-swap: when another sweeper moved it
// meanwhile, its own pass listed these minutes too, and this one leaves it.
func (s *OfferStore) AdvanceDue(ctx context.Context, scan DueScan, kept []Due) error {
	if !scan.found {
		return nil
	}
	target := min(scan.covered+1, scan.now-dueLag+1)
	for _, d := range kept {
		target = min(target, floorMinute(d.At))
	}
	if target <= scan.cursor {
		return nil
	}
	_, err := s.offers.Update(ctx, sweepCursorKey, []byte(strconv.FormatInt(target, 10)), scan.rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("advance the due cursor: %w", err)
	}
	return nil
}

// ClaimFullSweep reports whether this caller should run a full sweep now:
// none ever ran, or the last started at least every ago. Of concurrent
// callers, one wins (compare-and-swap on sweep.full).
func (s *OfferStore) ClaimFullSweep(ctx context.Context, now time.Time, every time.Duration) (bool, error) {
	val := []byte(now.UTC().Format(time.RFC3339Nano))
	e, err := s.offers.Get(ctx, fullSweepKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		_, err = s.offers.Create(ctx, fullSweepKey, val)
	case err != nil:
		return false, fmt.Errorf("read %s: %w", fullSweepKey, err)
	default:
		last, perr := time.Parse(time.RFC3339Nano, string(e.Value()))
		if perr == nil && now.Sub(last) < every {
			return false, nil
		}
		_, err = s.offers.Update(ctx, fullSweepKey, val, e.Revision())
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil // another sweeper claimed it
	}
	if err != nil {
		return false, fmt.Errorf("claim the full sweep: %w", err)
	}
	return true, nil
}
