package offerengine_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
)

// sweepDuePerRun is how many offers fall due before each measured sweep.
const sweepDuePerRun = 50

// BenchmarkSweep measures one offer sweep over a store holding n customers
// with an open offer each, none of them due, and sweepDuePerRun offers that
// fell due since the last sweep: "due" is the regular sweep (the due index),
// "full" the full sweep that reads every customer's index (what every sweep
// did before the due index; now once a day). It reports the messages the
// sweeper's connection sent (every KV read and write, publish and API
// request is one) per sweep. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench BenchmarkSweep -benchtime 10x ./internal/offerengine/
//
// The full sweep of 100,000 customers runs only with SWEEP_BENCH_FULL=1
// (with -benchtime 1x it takes a few minutes).
func BenchmarkSweep(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			e := testenv.Start(b, testenv.WithClock(fakeclock.At(date(2026, 4, 1).Add(9*time.Hour))),
				testenv.WithOffers(), withoutSweeper())
			ctx := context.Background()
			started := time.Now()
			loadCustomers(b, e, n)
			b.Logf("stored %d customers' offers in %s", n, time.Since(started).Round(time.Millisecond))
			s := newSweeper(b, e)
			// A full sweep ran just now: the measured sweeps are not one.
			if _, err := e.OfferStore.ClaimFullSweep(ctx, e.Clock.Now(), 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			run := 0
			measure := func(b *testing.B, sweep func(context.Context) (int, error)) {
				var sent uint64
				for range b.N {
					b.StopTimer()
					now := e.Clock.Now()
					run++
					for k := range sweepDuePerRun {
						seedOffer(b, e.OfferStore, fmt.Sprintf("cus_due_%d_%d", run, k), "", now, time.Minute, true)
					}
					e.Clock.Set(now.Add(2 * time.Minute))
					before := s.conn.Sent()
					b.StartTimer()
					expired, err := sweep(ctx)
					b.StopTimer()
					sent += s.conn.Sent() - before
					if err != nil {
						b.Fatal(err)
					}
					if expired != sweepDuePerRun {
						b.Fatalf("the sweep expired %d offers, want %d", expired, sweepDuePerRun)
					}
				}
				b.ReportMetric(float64(sent)/float64(b.N), "msgs/sweep")
			}
			b.Run("due", func(b *testing.B) {
				measure(b, func(ctx context.Context) (int, error) {
					rep, err := s.Sweep(ctx)
					return rep.Expired, err
				})
			})
			b.Run("full", func(b *testing.B) {
				if n > 10_000 && os.Getenv("SWEEP_BENCH_FULL") == "" {
					b.Skip("a full sweep of this many customers takes minutes; SWEEP_BENCH_FULL=1 runs it")
				}
				// The full sweep gives the due offers their entries (they
				// have them already) and the due pass expires them.
				measure(b, func(ctx context.Context) (int, error) {
					if _, err := s.SweepAll(ctx); err != nil {
						return 0, err
					}
					rep, err := s.Sweep(ctx)
					return rep.Expired, err
				})
			})
		})
	}
}

// loadCustomers stores n customers with an open offer each, valid for a
// month, through the store as the engine writes them (offer and due entry,
// index entry, published mark), many at once.
func loadCustomers(b *testing.B, e *testenv.Env, n int) {
	b.Helper()
	now := e.Clock.Now()
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			_, err := storeOffer(ctx, e.OfferStore, fmt.Sprintf("cus_%06d", i), "", now, 30*24*time.Hour, true)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}
