package natsbus

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/offers"
)

var offerT0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newOffer(t *testing.T, id string) offers.Offer {
	t.Helper()
	o, err := offers.New(offers.Offer{
		ID:         id,
		CustomerID: "cus_1",
		RuleID:     "addon",
		Kind:       offers.CrossSell,
		ProductID:  "pdt_addon",
		Quantity:   1,
		Amounts:    offers.Amounts{Currency: "USD", Price: 900, DueNow: 900},
		Card:       offers.Card{Brand: "visa", Last4: "4242"},
		ExpiresAt:  offerT0.Add(72 * time.Hour),
		Trigger:    offers.Trigger{Event: "payment.succeeded", WebhookID: "msg_1"},
	}, offerT0)
	if err != nil {
		t.Fatalf("offers.New: %v", err)
	}
	return o
}

func offerStore(t *testing.T) *OfferStore {
	t.Helper()
	js, _ := setup(t)
	s, err := NewOfferStore(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOfferStoreCreateGetUpdate(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	// An id that is not a valid KV key goes through Token.
	o := newOffer(t, "off 1/ä")

	if _, _, err := s.Get(ctx, o.ID); !errors.Is(err, ErrOfferNotFound) {
		t.Fatalf("Get before Create: got %v, want ErrOfferNotFound", err)
	}
	if err := s.Create(ctx, o); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx, o); !errors.Is(err, ErrOfferExists) {
		t.Fatalf("second Create: got %v, want ErrOfferExists", err)
	}
	got, rev, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != o.ID || got.State != offers.Open || rev == 0 {
		t.Fatalf("Get = %+v rev %d, want the open offer", got, rev)
	}

	acc, err := offers.Accept(got, offerT0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rev2, err := s.Update(ctx, acc, rev)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if rev2 <= rev {
		t.Fatalf("new revision %d, want > %d", rev2, rev)
	}
	// A second writer that read the old revision loses.
	dec, err := offers.Decline(got, offerT0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, dec, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale Update: got %v, want ErrConflict", err)
	}
	got, rev3, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != offers.Accepted || rev3 != rev2 {
		t.Fatalf("after the conflict: state %s rev %d, want accepted rev %d", got.State, rev3, rev2)
	}

	bad := got
	bad.State = "bogus"
	if _, err := s.Update(ctx, bad, rev3); !errors.Is(err, offers.ErrInvalid) {
		t.Fatalf("Update of an invalid offer: got %v, want offers.ErrInvalid", err)
	}
}

func TestOfferStoreTransition(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	o := newOffer(t, "off_t")
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	at := offerT0.Add(time.Minute)
	steps := []struct {
		name string
		fn   func(offers.Offer) (offers.Offer, error)
		want offers.State
		err  error
	}{
		{name: "accept", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, at) }, want: offers.Accepted},
		{name: "accept again", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, at) }, want: offers.Accepted, err: offers.ErrAlreadyAccepted},
		{name: "convert", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Convert(o, "pay_1", at) }, want: offers.Charged},
		{name: "convert again: no-op", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Convert(o, "pay_1", at) }, want: offers.Charged},
	}
	for _, st := range steps {
		_, revBefore, err := s.Get(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Transition(ctx, o.ID, st.fn)
		if st.err == nil && err != nil || st.err != nil && !errors.Is(err, st.err) {
			t.Fatalf("%s: got error %v, want %v", st.name, err, st.err)
		}
		if got.State != st.want {
			t.Fatalf("%s: state %s, want %s", st.name, got.State, st.want)
		}
		stored, rev, err := s.Get(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.State != st.want {
			t.Fatalf("%s: stored state %s, want %s", st.name, stored.State, st.want)
		}
		if wrote := rev != revBefore; wrote != (st.err == nil && st.name != "convert again: no-op") {
			t.Fatalf("%s: revision %d -> %d: wrote = %v", st.name, revBefore, rev, wrote)
		}
	}
	if _, err := s.Transition(ctx, "off_missing", func(o offers.Offer) (offers.Offer, error) { return o, nil }); !errors.Is(err, ErrOfferNotFound) {
		t.Fatalf("Transition of a missing offer: got %v, want ErrOfferNotFound", err)
	}
}

// TestOfferStoreConcurrentAccept is the double-charge guard: of 50 accepts
// racing on one offer, exactly one moves it to accepted; every other is
// told it is not open any more.
func TestOfferStoreConcurrentAccept(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	o := newOffer(t, "off_race")
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.Transition(ctx, o.ID, func(o offers.Offer) (offers.Offer, error) {
				return offers.Accept(o, offerT0.Add(time.Minute))
			})
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, offers.ErrNotOpen) && errors.Is(err, offers.ErrAlreadyAccepted):
		default:
			t.Errorf("accept %d: got %v, want nil or offers.ErrNotOpen", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d accepts succeeded, want exactly 1", won)
	}
	got, _, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != offers.Accepted || len(got.History) != 2 {
		t.Fatalf("stored state %s history %+v, want accepted once", got.State, got.History)
	}
}

func TestOfferStoreUseToken(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.UseToken(ctx, "AAAAAAAAAAAAAAAAAAAAAA")
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrTokenUsed):
		default:
			t.Errorf("UseToken %d: got %v, want nil or ErrTokenUsed", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d UseToken calls succeeded, want exactly 1", ok)
	}
	for i, nonce := range []string{"BBBBBBBBBBBBBBBBBBBBBB", "b64_x", "with.dot"} {
		if err := s.UseToken(ctx, nonce); err != nil {
			t.Fatalf("UseToken(%q) first use: %v", nonce, err)
		}
		if err := s.UseToken(ctx, nonce); !errors.Is(err, ErrTokenUsed) {
			t.Fatalf("case %d: UseToken(%q) again: got %v, want ErrTokenUsed", i, nonce, err)
		}
	}
	if err := s.UseToken(ctx, ""); err == nil {
		t.Fatal("UseToken(\"\") succeeded")
	}
}

func TestOfferBucketsConfig(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	for _, tt := range []struct {
		bucket  string
		history int64
		ttl     time.Duration
	}{
		{OffersBucket, 5, 0},
		{TokensBucket, 1, DefaultStreamSettings().TokenTTL},
	} {
		kv, err := js.KeyValue(ctx, tt.bucket)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.History() != tt.history || st.TTL() != tt.ttl {
			t.Errorf("%s: history %d ttl %s, want %d %s", tt.bucket, st.History(), st.TTL(), tt.history, tt.ttl)
		}
	}
	if err := CheckStreams(ctx, js); err != nil {
		t.Fatalf("CheckStreams: %v", err)
	}
	if err := (StreamSettings{TokenTTL: -time.Hour}).Validate(); err == nil {
		t.Fatal("a negative token ttl validated")
	}
}

// An offer leaves the bucket its retention after its last change (the TTL
// every write of it carries), with its published-state mark; the customer's
// index and the stats stay. The services' retention is read from the
// bucket.
func TestOfferStoreRetention(t *testing.T) {
	js, _ := setup(t)
	ctx := context.Background()
	s, err := NewOfferStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if s.retention != offers.IndexShownRetention {
		t.Fatalf("retention %s, want the default %s", s.retention, offers.IndexShownRetention)
	}
	// Below what settings allow, to see it happen; the server raises a
	// message's TTL to the bucket's marker TTL, so that goes down too.
	s.retention = 2 * time.Second
	st, err := js.Stream(ctx, "KV_"+OffersBucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.SubjectDeleteMarkerTTL = time.Second
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	o := newOffer(t, "off_short")
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	declined, err := s.Transition(ctx, o.ID, func(cur offers.Offer) (offers.Offer, error) { return offers.Decline(cur, offerT0.Add(time.Minute)) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, o.ID, declined.State); err != nil {
		t.Fatal(err)
	}
	if err := s.NoteOffer(ctx, declined, offerT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Count(ctx, declined, offers.Declined); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Get(ctx, o.ID); err != nil || got.State != offers.Declined {
		t.Fatalf("right after the writes: %v %v", got.State, err)
	}
	waitFor(t, time.Minute, "the offer to leave the bucket", func() bool {
		_, _, err := s.Get(ctx, o.ID)
		return errors.Is(err, ErrOfferNotFound)
	})
	waitFor(t, time.Minute, "the published mark to leave the bucket", func() bool {
		st, err := s.Published(ctx, o.ID)
		return err == nil && st == ""
	})
	ix, _, err := s.Index(ctx, "cus_1")
	if err != nil || len(ix.Entries) != 1 || ix.Entries[0].State != offers.Declined {
		t.Fatalf("index after the offer left: %+v %v, want its declined entry kept", ix, err)
	}
	if stats, err := s.Stats(ctx); err != nil || len(stats) != 1 {
		t.Fatalf("stats after the offer left: %+v %v, want them kept", stats, err)
	}
	// A superseded offer's purge expires too, leaving nothing.
	o2 := newOffer(t, "off_superseded")
	if err := s.Create(ctx, o2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, o2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, o2.ID); !errors.Is(err, ErrOfferNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrOfferNotFound", err)
	}
	waitFor(t, time.Minute, "the purge marker to expire", func() bool {
		_, err := s.offers.Get(ctx, Token(o2.ID))
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
}

// An offers bucket made by an offerflow without retention (no message TTLs)
// is updated by the next start.
func TestOfferBucketGainsRetention(t *testing.T) {
	s := natstest.Start(t)
	js, err := NewPublishJetStream(natstest.Connect(t, s), 256, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: OffersBucket, History: 5, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: TokensBucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewOfferStore(ctx, js); err == nil {
		t.Fatal("NewOfferStore on a bucket without TTLs: no error")
	}
	if err := EnsureStreams(ctx, js, StreamSettings{OfferRetention: 45 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	st, err := NewOfferStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if st.retention != 45*24*time.Hour {
		t.Fatalf("retention %s, want 1080h", st.retention)
	}
}

// cutStore is an OfferStore whose connection goes through a natstest.Cutter,
// with a JetStream timeout of a second, so that a lost answer costs the
// test a second.
func cutStore(t *testing.T) (*OfferStore, *natstest.Cutter) {
	t.Helper()
	srv := natstest.Start(t)
	cut := natstest.StartCutter(t, srv)
	nc, err := nats.Connect(cut.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	s, err := NewOfferStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return s, cut
}

// An accept whose write lands but whose answer is lost (the connection
// drops between the store and the acknowledgement) is this caller's accept:
// Transition returns it accepted, so the caller charges it, instead of an
// error after which no one would charge it and a retry would be refused as
// already accepted. A decline's lost answer the same.
func TestOfferStoreTransitionAnswerLost(t *testing.T) {
	s, cut := cutStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		id   string
		fn   func(offers.Offer) (offers.Offer, error)
		want offers.State
	}{
		{id: "off_lost_accept", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, time.Now()) }, want: offers.Accepted},
		{id: "off_lost_decline", fn: func(o offers.Offer) (offers.Offer, error) { return offers.Decline(o, time.Now()) }, want: offers.Declined},
	} {
		t.Run(tc.id, func(t *testing.T) {
			o := newOffer(t, tc.id)
			o.ExpiresAt = time.Now().Add(time.Hour)
			if err := s.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
			before := cut.Cuts()
			cut.CutAfterPublishTo("$KV." + OffersBucket + "." + Token(o.ID))
			got, err := s.Transition(ctx, o.ID, tc.fn)
			if err != nil {
				t.Fatalf("Transition with its answer lost: %v, want the %s offer", err, tc.want)
			}
			if cut.Cuts() != before+1 {
				t.Fatalf("the cutter cut %d connections, want 1: the answer was not lost", cut.Cuts()-before)
			}
			if got.State != tc.want {
				t.Fatalf("state %s, want %s", got.State, tc.want)
			}
			stored, _, err := s.Get(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normal(t, stored), normal(t, got)) {
				t.Fatalf("stored offer differs from the one returned:\nstored %+v\ngot    %+v", stored, got)
			}
			// Another caller's transition finds it done.
			if _, err := s.Transition(ctx, o.ID, tc.fn); tc.want == offers.Accepted && !errors.Is(err, offers.ErrAlreadyAccepted) {
				t.Fatalf("a second accept: got %v, want ErrAlreadyAccepted", err)
			}
		})
	}
}

// normal is o as stored and read back: times lose their monotonic clock
// and location.
func normal(t *testing.T, o offers.Offer) offers.Offer {
	t.Helper()
	b, err := encodeOffer(o)
	if err != nil {
		t.Fatal(err)
	}
	n, err := offers.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A token use whose create lands but whose answer is lost is this call's
// use; a second use of the nonce is still refused.
func TestOfferStoreUseTokenAnswerLost(t *testing.T) {
	s, cut := cutStore(t)
	ctx := context.Background()
	const nonce = "CCCCCCCCCCCCCCCCCCCCCC"
	cut.CutAfterPublishTo("$KV." + TokensBucket + "." + Token(nonce))
	if err := s.UseToken(ctx, nonce); err != nil {
		t.Fatalf("UseToken with its answer lost: %v, want nil (the use is stored)", err)
	}
	if cut.Cuts() != 1 {
		t.Fatalf("the cutter cut %d connections, want 1", cut.Cuts())
	}
	if err := s.UseToken(ctx, nonce); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("second use: got %v, want ErrTokenUsed", err)
	}
}

// A write whose answer is lost and that is not stored yet when the leader
// is asked, but lands before this call's next try (a proposal the cluster
// commits late), is still this call's: the next try finds the offer moved
// on to exactly what it wrote, and Transition returns it instead of
// refusing it as already accepted.
func TestOfferStoreTransitionLandsLate(t *testing.T) {
	s, cut := cutStore(t)
	ctx := context.Background()
	o := newOffer(t, "off_late_accept")
	o.ExpiresAt = time.Now().Add(time.Hour)
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	cut.HoldPublishTo("$KV." + OffersBucket + "." + Token(o.ID))
	got, err := s.Transition(ctx, o.ID, func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, time.Now()) })
	if err != nil {
		t.Fatalf("Transition whose write landed late: %v, want the accepted offer", err)
	}
	if cut.Cuts() != 1 {
		t.Fatalf("the cutter cut %d connections, want 1", cut.Cuts())
	}
	stored, _, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != offers.Accepted || !reflect.DeepEqual(normal(t, stored), normal(t, got)) {
		t.Fatalf("got %s, stored %s: want the accepted offer this call wrote", got.State, stored.State)
	}
	if n := len(stored.History); n != 2 {
		t.Fatalf("stored history has %d entries, want 2 (open, accepted once)", n)
	}
}

// A token use whose create lands only after the call found it missing and
// tried again is still this call's use.
func TestOfferStoreUseTokenLandsLate(t *testing.T) {
	s, cut := cutStore(t)
	ctx := context.Background()
	const nonce = "DDDDDDDDDDDDDDDDDDDDDD"
	cut.HoldPublishTo("$KV." + TokensBucket + "." + Token(nonce))
	if err := s.UseToken(ctx, nonce); err != nil {
		t.Fatalf("UseToken whose create landed late: %v, want nil", err)
	}
	if cut.Cuts() != 1 {
		t.Fatalf("the cutter cut %d connections, want 1", cut.Cuts())
	}
	if err := s.UseToken(ctx, nonce); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("second use: got %v, want ErrTokenUsed", err)
	}
}

// A released token can be used again, once.
func TestOfferStoreReleaseToken(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	const nonce = "EEEEEEEEEEEEEEEEEEEEEE"
	if err := s.UseToken(ctx, nonce); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseToken(ctx, nonce); err != nil {
		t.Fatalf("ReleaseToken: %v", err)
	}
	if err := s.UseToken(ctx, nonce); err != nil {
		t.Fatalf("UseToken after ReleaseToken: %v, want nil", err)
	}
	if err := s.UseToken(ctx, nonce); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("UseToken again: got %v, want ErrTokenUsed", err)
	}
}

func TestOfferStoreGetFromLeader(t *testing.T) {
	s := offerStore(t)
	ctx := context.Background()
	o := newOffer(t, "off_leader")
	if err := s.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	acc, err := s.Transition(ctx, o.ID, func(o offers.Offer) (offers.Offer, error) { return offers.Accept(o, offerT0.Add(time.Minute)) })
	if err != nil {
		t.Fatal(err)
	}
	got, rev, err := s.GetFromLeader(ctx, o.ID)
	if err != nil {
		t.Fatalf("GetFromLeader: %v", err)
	}
	_, wantRev, err := s.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normal(t, got), normal(t, acc)) || rev != wantRev {
		t.Fatalf("GetFromLeader: %s at revision %d, want %s at %d", got.State, rev, acc.State, wantRev)
	}
	if _, _, err := s.GetFromLeader(ctx, "off_missing"); !errors.Is(err, ErrOfferNotFound) {
		t.Fatalf("GetFromLeader of a missing offer: got %v, want ErrOfferNotFound", err)
	}
}
