package offers

import (
	"testing"
	"time"
)

func TestIndexNote(t *testing.T) {
	o := sample(t)
	ix, changed := Index{}.Note(o, t0)
	if !changed || len(ix.Entries) != 1 || ix.CustomerID != "cus_1" || ix.Entries[0].TriggerKey != "event:msg_1" {
		t.Fatalf("first note: %+v changed %v", ix, changed)
	}
	if again, changed := ix.Note(o, t0); changed || len(again.Entries) != 1 {
		t.Fatalf("noting the same offer again changed the index: %+v", again)
	}
	d := in(t, decline)
	next, changed := ix.Note(d, t0)
	if !changed || next.Entries[0].State != Declined || ix.Entries[0].State != Open {
		t.Fatalf("after the decline: %+v (old %+v)", next, ix)
	}
	if got := next.Open(t0); len(got) != 0 {
		t.Fatalf("open after decline: %+v", got)
	}
	if got := ix.Open(t0); len(got) != 1 {
		t.Fatalf("open: %+v", got)
	}
	if got := ix.Open(expires); len(got) != 0 {
		t.Fatalf("open at expiry: %+v", got)
	}
	if got := ix.ByTrigger("event:msg_1"); len(got) != 1 {
		t.Fatalf("by trigger: %+v", got)
	}
}

func TestIndexDue(t *testing.T) {
	open := sample(t)
	acc := in(t, accept)
	acc.ID = "off_2"
	ix, _ := Index{}.Note(open, t0)
	ix, _ = ix.Note(acc, t0)
	if due := ix.Due(t0.Add(time.Minute), time.Hour); len(due) != 0 {
		t.Fatalf("due too early: %+v", due)
	}
	due := ix.Due(expires, time.Minute)
	if len(due) != 2 {
		t.Fatalf("due at expiry: %+v, want the open and the stuck accepted offer", due)
	}
}

// The index stays bounded; declines (the suppression list) and open
// offers are the last to go.
func TestIndexPrune(t *testing.T) {
	var ix Index
	o := sample(t)
	now := t0
	for i := 0; i < MaxIndexEntries+50; i++ {
		x := o
		x.ID = "off_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		x.Trigger.WebhookID = x.ID
		x.State = Expired
		x.History = append(x.History[:1:1], Change{State: Expired, At: now.Add(time.Duration(i) * time.Second)})
		if i == 0 {
			x.State, x.History = Declined, append(x.History[:1:1], Change{State: Declined, At: now})
		}
		ix, _ = ix.Note(x, now)
	}
	if len(ix.Entries) != MaxIndexEntries {
		t.Fatalf("%d entries, want %d", len(ix.Entries), MaxIndexEntries)
	}
	if ix.Entries[0].State != Declined {
		t.Fatalf("the oldest decline was dropped: %+v", ix.Entries[0])
	}
	// Final entries older than the retention go.
	ix, _ = ix.Note(o, now.Add(IndexShownRetention+time.Hour))
	for _, e := range ix.Entries {
		if e.State == Expired {
			t.Fatalf("an expired entry past retention was kept: %+v", e)
		}
	}
}

func TestIndexForget(t *testing.T) {
	a := sample(t)
	b := in(t, accept)
	b.ID = "off_2"
	ix, _ := Index{}.Note(a, t0)
	ix, _ = ix.Note(b, t0)
	next, changed := ix.Forget(a.ID)
	if !changed || len(next.Entries) != 1 || next.Entries[0].OfferID != "off_2" || next.CustomerID != ix.CustomerID {
		t.Fatalf("forget %s: %+v changed %v", a.ID, next, changed)
	}
	if len(ix.Entries) != 2 {
		t.Fatalf("Forget changed the index it was called on: %+v", ix)
	}
	if again, changed := next.Forget(a.ID); changed || len(again.Entries) != 1 {
		t.Fatalf("forgetting an absent offer: %+v changed %v", again, changed)
	}
}
