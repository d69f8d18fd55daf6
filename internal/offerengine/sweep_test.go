package offerengine_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/offertoken"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// withoutSweeper keeps the worker's own sweeper from running during a
// test, which then sweeps when and with what it chooses.
func withoutSweeper() testenv.Option {
	return testenv.WithWorker(func(wc *service.WorkerConfig) { wc.Offers.SweepInterval = 1000 * time.Hour })
}

// sweeper is an offer engine of its own, on a connection of its own, as
// another worker replica's would be.
type sweeper struct {
	*offerengine.Engine
	conn *natsbus.Conn
}

func newSweeper(t testing.TB, e *testenv.Env) sweeper {
	t.Helper()
	conn, err := natsbus.Connect(natsbus.Dial{URL: e.NATSURL, Name: "sweeper"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	ctx := context.Background()
	store, err := conn.OfferStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	accessStore, err := conn.AccessStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := offertoken.ParseKeys("k1:" + base64.RawURLEncoding.EncodeToString(secret))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := offertoken.NewSigner(keys, e.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := offerengine.New(offerengine.Deps{
		Dodo: e.Client, Store: store, Access: accessStore, Pub: conn.Publisher(10 * time.Second),
		Signer: signer, Now: e.Clock.Now,
	}, offerengine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return sweeper{Engine: eng, conn: conn}
}

// sweep runs one sweep and fails the test on an error.
func (s sweeper) sweep(t testing.TB) offerengine.SweepReport {
	t.Helper()
	rep, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	return rep
}

// seedOffer stores an open workbook offer for customer, made at created and
// valid for validFor, as the engine's make stores one: the offer (with its
// due entry), then, if noted, its index entry and its published creation.
// pm is the saved card of a one-click offer; "" makes a checkout-link
// offer.
func seedOffer(t testing.TB, store *natsbus.OfferStore, customer, pm string, created time.Time, validFor time.Duration, noted bool) offers.Offer {
	t.Helper()
	o, err := storeOffer(context.Background(), store, customer, pm, created, validFor, noted)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func storeOffer(ctx context.Context, store *natsbus.OfferStore, customer, pm string, created time.Time, validFor time.Duration, noted bool) (offers.Offer, error) {
	o, err := offers.New(offers.Offer{
		ID: "ofr_sweep_" + natsbus.Token(customer), CustomerID: customer, RuleID: "workbook-after-course",
		Kind: offers.CrossSell, ProductID: "pdt_workbook", ProductName: "Workbook", Quantity: 1,
		Amounts:  offers.Amounts{Currency: "USD", Price: 1900, DueNow: 1900},
		OneClick: pm != "", PaymentMethodID: pm, BillingCountry: "US", BillingZipcode: "94102",
		ExpiresAt: created.Add(validFor),
		Trigger:   offers.Trigger{Event: "payment.succeeded", WebhookID: "msg_" + customer},
	}, created)
	if err != nil {
		return o, err
	}
	if err := store.Create(ctx, o); err != nil {
		return o, err
	}
	if !noted {
		return o, nil
	}
	return o, noteOffer(ctx, store, o)
}

// note does what the engine does after storing a new offer: the index
// entry, then the published creation.
func note(t testing.TB, store *natsbus.OfferStore, o offers.Offer) {
	t.Helper()
	if err := noteOffer(context.Background(), store, o); err != nil {
		t.Fatal(err)
	}
}

func noteOffer(ctx context.Context, store *natsbus.OfferStore, o offers.Offer) error {
	if err := store.NoteOffer(ctx, o, o.CreatedAt); err != nil {
		return err
	}
	return store.MarkPublished(ctx, o.ID, offers.Open)
}

// dropDueEntries removes offer id's due entries, as if it was stored
// before the due index existed, or its writer lost them.
func dropDueEntries(t testing.TB, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	kv, err := e.Conn.JetStream().KeyValue(ctx, natsbus.OffersBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeysFiltered(ctx, "due.>")
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for k := range keys.Keys() {
		if strings.HasSuffix(k, "."+natsbus.Token(id)) {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		t.Fatalf("offer %s has no due entry to drop", id)
	}
	for _, k := range mine {
		if err := kv.Purge(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) state(id string) offers.State {
	e.t.Helper()
	o, _, err := e.OfferStore.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o.State
}

// Three sweepers racing over the same due offers, round after round: each
// expired offer is published exactly once, the accepted one is never
// expired (it fails with the fallback, uncharged, once), and the due index
// is empty afterwards.
func TestSweepersRacingExpireOnce(t *testing.T) {
	e := newEnv(t, withoutSweeper())
	ctx := context.Background()
	sweepers := []sweeper{newSweeper(t, e.Env), newSweeper(t, e.Env), newSweeper(t, e.Env)}
	now := e.Clock.Now()
	var open []offers.Offer
	for i := range 12 {
		open = append(open, seedOffer(t, e.OfferStore, fmt.Sprintf("cus_race%02d", i), "", now, time.Hour, true))
	}
	pm := e.customer("cus_race_acc", card(goodCard))
	acc := seedOffer(t, e.OfferStore, "cus_race_acc", pm, now, time.Hour, true)
	// Accepted, and the accepting process died before charging.
	if _, err := e.OfferStore.Transition(ctx, acc.ID, func(o offers.Offer) (offers.Offer, error) {
		return offers.Accept(o, now.Add(time.Minute))
	}); err != nil {
		t.Fatal(err)
	}

	e.later(2 * time.Hour)
	var wg sync.WaitGroup
	for _, s := range sweepers {
		wg.Go(func() {
			for range 3 {
				if _, err := s.Sweep(ctx); err != nil {
					t.Errorf("sweep: %v", err)
				}
			}
		})
	}
	wg.Wait()

	for _, o := range open {
		if got := e.state(o.ID); got != offers.Expired {
			t.Errorf("offer of %s: %s, want expired", o.CustomerID, got)
		}
		if n := len(e.messages("expired", o.CustomerID)); n != 1 {
			t.Errorf("offers.expired for %s: %d, want 1", o.CustomerID, n)
		}
		if n := len(e.messages("created", o.CustomerID)); n != 0 {
			t.Errorf("offers.created for %s: %d, want none (published by its maker)", o.CustomerID, n)
		}
	}
	if got := e.state(acc.ID); got != offers.Failed {
		t.Errorf("accepted offer: %s, want failed (no payment at Dodo: not charged late)", got)
	}
	if n := len(e.messages("expired", "cus_race_acc")); n != 0 {
		t.Errorf("offers.expired for the accepted offer: %d, want none", n)
	}
	if failed := e.messages("failed", "cus_race_acc"); len(failed) != 1 || failed[0].Fallback.CheckoutURL == "" {
		t.Errorf("offers.failed for the accepted offer: %+v, want one, with a checkout link", failed)
	}
	if got := e.Dodo.Charges("cus_race_acc"); got != 0 {
		t.Errorf("charges %d, want 0: the sweep never charges", got)
	}
	if rep := sweepers[0].sweep(t); rep.Due != 0 || rep.Errors != 0 {
		t.Errorf("a sweep after: %+v, want nothing due and no errors", rep)
	}
}

// Every crash point between an offer's writes ends right: an entry whose
// offer was never stored is dropped; an offer never noted (never
// published) is not announced as expired until a redelivery notes it; an
// offer without an entry (stored before the due index, or its entry lost)
// is found by the full sweep; a stray entry (a lost accept swap) changes
// nothing.
func TestSweepCrashPoints(t *testing.T) {
	e := newEnv(t, withoutSweeper())
	ctx := context.Background()
	s := newSweeper(t, e.Env)
	s.sweep(t) // the first sweep runs the full sweep: the next is a day away
	t0 := e.Clock.Now()
	store := e.OfferStore

	// Entry written, then the maker died before storing the offer.
	if err := store.Schedule(ctx, "ofr_ghost", "cus_ghost", t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	// Offer stored, then the maker died before noting it.
	unnoted := seedOffer(t, store, "cus_unnoted", "", t0, time.Hour, false)
	// Offer without its entry.
	legacy := seedOffer(t, store, "cus_legacy", "", t0, time.Hour, true)
	dropDueEntries(t, e, legacy.ID)
	// Offer without its entry that is not due at the next full sweep.
	later := seedOffer(t, store, "cus_later", "", t0, 30*time.Hour, true)
	dropDueEntries(t, e, later.ID)
	// An accept whose swap lost left an entry at the accept.
	stray := seedOffer(t, store, "cus_stray", "", t0, time.Hour, true)
	if err := store.Schedule(ctx, stray.ID, stray.CustomerID, t0, t0); err != nil {
		t.Fatal(err)
	}

	e.later(5 * time.Minute)
	if rep := s.sweep(t); rep.Expired != 0 || rep.Errors != 0 {
		t.Fatalf("sweep before any expiry: %+v, want nothing expired and no errors", rep)
	}
	if got := e.state(stray.ID); got != offers.Open {
		t.Fatalf("offer with a stray entry: %s, want open", got)
	}

	e.later(2 * time.Hour)
	if rep := s.sweep(t); rep.Errors != 0 {
		t.Fatalf("sweep: %+v, want no errors", rep)
	}
	for _, c := range []struct {
		customer string
		id       string
		want     offers.State
		expired  int
	}{
		{"cus_stray", stray.ID, offers.Expired, 1},
		{"cus_unnoted", unnoted.ID, offers.Open, 0},
		{"cus_legacy", legacy.ID, offers.Open, 0},
		{"cus_later", later.ID, offers.Open, 0},
	} {
		if got, n := e.state(c.id), len(e.messages("expired", c.customer)); got != c.want || n != c.expired {
			t.Errorf("after the due sweep, %s: %s with %d offers.expired, want %s with %d", c.customer, got, n, c.want, c.expired)
		}
	}
	for _, c := range []string{"cus_ghost", "cus_unnoted"} {
		for _, ev := range []string{"created", "accepted", "converted", "failed", "declined", "expired"} {
			if n := len(e.messages(ev, c)); n != 0 {
				t.Errorf("offers.%s for %s: %d, want none for an offer nobody saw", ev, c, n)
			}
		}
	}

	// The trigger of the unnoted offer is redelivered: it is noted and
	// published now, past its expiry.
	note(t, store, unnoted)
	e.later(24 * time.Hour)
	if rep := s.sweep(t); rep.Customers == 0 || rep.Errors != 0 {
		t.Fatalf("sweep a day later: %+v, want a full sweep without errors", rep)
	}
	for _, c := range []struct {
		customer string
		id       string
		want     offers.State
		expired  int
	}{
		{"cus_unnoted", unnoted.ID, offers.Expired, 1},
		{"cus_legacy", legacy.ID, offers.Expired, 1},
		{"cus_later", later.ID, offers.Open, 0},
		{"cus_stray", stray.ID, offers.Expired, 1},
	} {
		if got, n := e.state(c.id), len(e.messages("expired", c.customer)); got != c.want || n != c.expired {
			t.Errorf("after the full sweep, %s: %s with %d offers.expired, want %s with %d", c.customer, got, n, c.want, c.expired)
		}
	}

	// The full sweep gave the later offer its entry: the due sweep at
	// its expiry expires it, with no full sweep.
	e.later(4 * time.Hour)
	if rep := s.sweep(t); rep.Customers != 0 || rep.Expired != 1 || rep.Errors != 0 {
		t.Fatalf("sweep at the later offer's expiry: %+v, want it expired by the due index alone", rep)
	}
	if got, n := e.state(later.ID), len(e.messages("expired", "cus_later")); got != offers.Expired || n != 1 {
		t.Fatalf("later offer: %s with %d offers.expired, want expired with 1", got, n)
	}
	if rep := s.sweep(t); rep.Due != 0 {
		t.Fatalf("a sweep after: %+v, want nothing due", rep)
	}
}
