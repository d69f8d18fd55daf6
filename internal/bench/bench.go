// Package bench is `offerflow bench`: the throughput of the ingest (Ingest)
// and of the worker (Worker), each beside references measured in the same
// run, on the same machine, with the same input, and checked for
// correctness as well as timed.
//
// bench ingest runs by default in the deployed shape (deployed.go):
// nats-server and each variant in a process of its own, the load from this
// one, over loopback TCP. With -inprocess, and for bench worker, everything
// runs in this one process: the load generator, the servers under test and
// nats-server share its CPUs. Either way the figures are comparisons within
// one run on one machine, not absolute capacities; the reports say so.
//
// This file holds the parts both share: an embedded nats-server in a
// temporary directory, HTTP servers on loopback ports, a bounded load
// generator, a heap sampler and the report's formatting.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offerflow/offerflow/internal/natsserver"
)

// natsServer is an embedded nats-server with its store in a temporary
// directory, listening on a random loopback port so that every client
// connects over TCP as it would in production.
type natsServer struct {
	url  string
	stop func()
}

func startNATS(ctx context.Context, name string, syncAlways bool) (*natsServer, error) {
	dir, err := os.MkdirTemp("", "offerflow-bench-*")
	if err != nil {
		return nil, err
	}
	var b *natsServer
	// Labelled so that a CPU profile tells nats-server's time apart from
	// the code under test: goroutines inherit the labels of their creator.
	labelled(ctx, "nats-server", func() {
		s, serr := natsserver.Start(natsserver.Config{Name: name, Host: "127.0.0.1", Port: -1, StoreDir: dir, SyncAlways: syncAlways})
		if serr != nil {
			err = serr
			return
		}
		b = &natsServer{url: s.ClientURL(), stop: func() {
			natsserver.Stop(s)
			_ = os.RemoveAll(dir) // a leftover temp dir is harmless; nothing to report it to
		}}
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

// httpServer is one HTTP server under test on a loopback port, configured
// like the ingest's own server (service.serveHTTP) so that the variants
// differ only in their handlers.
type httpServer struct {
	url  string
	srv  *http.Server
	done chan error
}

func startHTTP(ctx context.Context, part string, h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	b := &httpServer{url: "http://" + ln.Addr().String() + "/webhooks/dodo", srv: srv, done: make(chan error, 1)}
	// Every connection's goroutine is started by Serve, so it inherits
	// this label: -cpuprofile can then be read per variant.
	labelled(ctx, part, func() {
		go func() { b.done <- srv.Serve(ln) }()
	})
	return b, nil
}

// close shuts the server down and waits for Serve to return.
func (b *httpServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.srv.Shutdown(ctx)
	if serr := <-b.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// labelled runs f with the CPU profile label part=<part>; goroutines that f
// starts carry the label too, so -cpuprofile can be read per part with
// `go tool pprof -tagfocus part=<part>`.
func labelled(ctx context.Context, part string, f func()) {
	pprof.Do(ctx, pprof.Labels("part", part), func(context.Context) { f() })
}

// loadResult is what one phase of the load generator measured.
type loadResult struct {
	n       int // operations asked for
	sent    int // operations done (fewer than n when the time bound hit)
	failed  int
	errs    []string // the first few distinct failures
	elapsed time.Duration
	lat     []time.Duration // of every operation done, sorted
	// heapStart is the live heap when the phase started (after a GC),
	// heapPeak the largest heap sampled during it; both are the whole
	// process's.
	heapStart, heapPeak uint64
	// others is the share of CPU time other processes took meanwhile
	// (-1: unknown).
	others float64
}

func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.sent) / r.elapsed.Seconds()
}

// pct returns the p-th percentile latency by nearest rank.
func (r loadResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.999999) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r loadResult) timedOut() bool { return r.sent < r.n }

// maxErrSamples bounds how many distinct failures a phase remembers.
const maxErrSamples = 3

// runLoad runs op for indexes 0..n-1 from c goroutines, each taking the next
// index from a shared counter, and stops taking new ones after maxTime or
// when ctx ends. It returns once every goroutine has ended. It samples the
// heap every 5 ms meanwhile.
func runLoad(ctx context.Context, part string, n, c int, maxTime time.Duration, op func(ctx context.Context, i int) error) loadResult {
	// The same starting heap for every phase, outside the timing.
	runtime.GC()
	lat := make([]time.Duration, n)
	var (
		next   atomic.Int64
		failed atomic.Int64
		mu     sync.Mutex
		errs   []string
		wg     sync.WaitGroup
	)
	sampler := startHeapSampler(5 * time.Millisecond)
	watch := startCPUWatch()
	start := time.Now()
	stopAt := start.Add(maxTime)
	pprof.Do(ctx, pprof.Labels("part", part), func(ctx context.Context) {
		for range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(stopAt) {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					t0 := time.Now()
					err := op(ctx, i)
					lat[i] = time.Since(t0)
					if err != nil {
						failed.Add(1)
						mu.Lock()
						if len(errs) < maxErrSamples && !slices.Contains(errs, err.Error()) {
							errs = append(errs, err.Error())
						}
						mu.Unlock()
					}
				}
			}()
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	others := watch.others()
	heapStart, heapPeak := sampler.finish()
	sent := min(int(next.Load()), n)
	done := lat[:sent]
	slices.Sort(done)
	return loadResult{n: n, sent: sent, failed: int(failed.Load()), errs: errs, elapsed: elapsed, lat: done,
		heapStart: heapStart, heapPeak: heapPeak, others: others}
}

// startCPUProfile starts a CPU profile into path; the returned stop writes
// it out. An empty path profiles nothing.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// Formatting of the report's numbers.

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// thousands formats n with thin separators: 12,345.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	var b bytes.Buffer
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// report writes the benchmark's output.
type report struct{ w io.Writer }

func (r report) line(format string, args ...any) { fmt.Fprintf(r.w, format+"\n", args...) }
