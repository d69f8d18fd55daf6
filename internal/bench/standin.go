package bench

// `offerflow bench serve standin`: Dodo's stand-in in a process of its own,
// for `offerflow bench offers`, seeded with a catalog and customers whose
// saved cards can be charged with one click.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/standin"
)

// partStandin is Dodo's stand-in.
const partStandin = "standin"

// Environment of the stand-in's process.
const (
	// envStandinKey is the API key the stand-in requires.
	envStandinKey = "OFFERFLOW_BENCH_STANDIN_KEY"
	// envStandinCustomers is how many customers to seed, benchCustomer(0)
	// up, each with a card that succeeds.
	envStandinCustomers = "OFFERFLOW_BENCH_STANDIN_CUSTOMERS"
)

// The bench's catalog at the stand-in: what the payments buy, and the
// add-on the bench's rule offers after each.
const (
	benchCourse = "pdt_course"
	benchAddon  = "pdt_bench_addon"
)

// benchCustomer is the id of the bench's i-th customer at the stand-in.
func benchCustomer(i int) string { return fmt.Sprintf("cus_ob_%07d", i) }

// serveStandin runs the stand-in on a loopback port until ctx ends. It
// sends no webhooks: the bench posts its own to the ingest, and the
// stand-in is only the API the worker and ingest call.
func serveStandin(ctx context.Context, getenv func(string) string, ready func(string)) error {
	key := getenv(envStandinKey)
	if key == "" {
		return errors.New("bench serve standin: " + envStandinKey + " is not set")
	}
	n, err := strconv.Atoi(getenv(envStandinCustomers))
	if err != nil || n < 0 {
		return fmt.Errorf("bench serve standin: %s=%q: want a number of customers", envStandinCustomers, getenv(envStandinCustomers))
	}
	s := standin.New(standin.Config{APIKey: key})
	defer s.Close()
	if err := seedStandin(s, n, time.Now().Year()+3); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ready("http://" + ln.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-done
	return err
}

// seedStandin adds the catalog and n customers with a card each.
func seedStandin(s *standin.Server, n, expYear int) error {
	for _, p := range []standin.Product{
		{ID: benchCourse, Name: "Course", Price: 2900, Currency: "USD"},
		{ID: benchAddon, Name: "Workbook", Price: 900, Currency: "USD"},
	} {
		if _, err := s.AddProduct(p); err != nil {
			return err
		}
	}
	for i := range n {
		id := benchCustomer(i)
		if _, err := s.AddCustomer(standin.Customer{ID: id, Name: "Bench", Email: "bench@example.com", Country: "US", Zipcode: "94102"}); err != nil {
			return err
		}
		if _, err := s.AddPaymentMethod(id, standin.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: expYear}); err != nil {
			return err
		}
	}
	return nil
}
