package offers

import (
	"slices"
	"time"
)

// Index is one customer's offers in brief: what the rules need to apply
// their caps (what was shown, what was declined, what is open) and what the
// API lists, without reading every offer. The store keeps it beside the
// offers and updates it with compare-and-swap after every offer change.
//
// An offer's own record is the truth; the index follows it. A crash between
// the two writes leaves the index one step behind until the offer is
// touched again (a redelivery, a retried API call, the sweep), and Note
// brings it level.
type Index struct {
	CustomerID string       `json:"customer_id"`
	Entries    []IndexEntry `json:"entries"`
}

// IndexEntry is one offer in an Index.
type IndexEntry struct {
	OfferID   string    `json:"offer_id"`
	RuleID    string    `json:"rule_id,omitempty"`
	ProductID string    `json:"product_id"`
	State     State     `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// ChangedAt is when the offer entered State.
	ChangedAt time.Time `json:"changed_at"`
	// TriggerKey is the offer's Trigger.Key.
	TriggerKey string `json:"trigger_key"`
}

// Retention of index entries. Declined entries are the suppression list
// and outlive their offers; other final entries only feed the shown-offer
// caps. An index never holds more than MaxIndexEntries: the oldest final
// entries that are not declines go first, then the oldest declines.
const (
	MaxIndexEntries = 256
	// IndexShownRetention bounds how long a final, not declined, entry
	// is kept. Caps with longer windows see only this much history; the
	// rules file's loader does not refuse them; docs/offers.md says so.
	IndexShownRetention = 400 * 24 * time.Hour
)

// Entry returns o in brief.
func (o Offer) Entry() IndexEntry {
	changed := o.CreatedAt
	if n := len(o.History); n > 0 {
		changed = o.History[n-1].At
	}
	return IndexEntry{
		OfferID: o.ID, RuleID: o.RuleID, ProductID: o.ProductID, State: o.State,
		CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt, ChangedAt: changed, TriggerKey: o.Trigger.Key(),
	}
}

// Note returns the index with o's entry added or brought up to date, pruned
// at now, and whether anything changed. The index is copied, never shared.
func (ix Index) Note(o Offer, now time.Time) (Index, bool) {
	e := o.Entry()
	out := Index{CustomerID: ix.CustomerID, Entries: slices.Clone(ix.Entries)}
	if out.CustomerID == "" {
		out.CustomerID = o.CustomerID
	}
	i := slices.IndexFunc(out.Entries, func(x IndexEntry) bool { return x.OfferID == e.OfferID })
	switch {
	case i < 0:
		out.Entries = append(out.Entries, e)
	case out.Entries[i] == e:
	default:
		out.Entries[i] = e
	}
	out = out.prune(now)
	return out, !slices.Equal(out.Entries, ix.Entries)
}

// Forget returns ix without the entry of offer id, and whether it had one:
// for an entry whose offer is no longer stored (its retention ran out).
func (ix Index) Forget(id string) (Index, bool) {
	out := Index{CustomerID: ix.CustomerID, Entries: slices.DeleteFunc(slices.Clone(ix.Entries), func(e IndexEntry) bool { return e.OfferID == id })}
	return out, len(out.Entries) != len(ix.Entries)
}

// ByTrigger returns the entries of offers made for the trigger key.
func (ix Index) ByTrigger(key string) []IndexEntry {
	var out []IndexEntry
	for _, e := range ix.Entries {
		if e.TriggerKey == key {
			out = append(out, e)
		}
	}
	return out
}

// Open returns the entries of offers still open at now.
func (ix Index) Open(now time.Time) []IndexEntry {
	var out []IndexEntry
	for _, e := range ix.Entries {
		if e.State == Open && now.Before(e.ExpiresAt) {
			out = append(out, e)
		}
	}
	return out
}

// Due returns the entries the sweep should look at by now: open offers past
// their expiry, and accepted ones older than stuck (their charge's outcome
// was not recorded: the process that accepted them may have died).
func (ix Index) Due(now time.Time, stuck time.Duration) []IndexEntry {
	var out []IndexEntry
	for _, e := range ix.Entries {
		switch {
		case e.State == Open && !now.Before(e.ExpiresAt):
			out = append(out, e)
		case e.State == Accepted && now.Sub(e.ChangedAt) >= stuck:
			out = append(out, e)
		}
	}
	return out
}

func (ix Index) prune(now time.Time) Index {
	keep := ix.Entries[:0:0]
	for _, e := range ix.Entries {
		final := e.State == Charged || e.State == Expired || e.State == Failed
		if final && now.Sub(e.ChangedAt) > IndexShownRetention {
			continue
		}
		keep = append(keep, e)
	}
	for len(keep) > MaxIndexEntries {
		// Drop the oldest entry that is neither open, accepted nor a
		// decline; failing that, the oldest decline.
		drop := -1
		for i, e := range keep {
			if e.State != Open && e.State != Accepted && e.State != Declined && (drop < 0 || e.ChangedAt.Before(keep[drop].ChangedAt)) {
				drop = i
			}
		}
		if drop < 0 {
			for i, e := range keep {
				if e.State == Declined && (drop < 0 || e.ChangedAt.Before(keep[drop].ChangedAt)) {
					drop = i
				}
			}
		}
		if drop < 0 {
			break // only open and accepted offers: all of them matter
		}
		keep = slices.Delete(keep, drop, drop+1)
	}
	ix.Entries = keep
	return ix
}
