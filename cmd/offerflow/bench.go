package main

// The parts `offerflow bench ingest` and `offerflow bench worker` share: an
// embedded nats-server in a temporary directory, HTTP servers on loopback
// ports, a bounded load generator, a heap sampler and the report's
// formatting.
//
// Everything runs in this one process: the load generator, the servers under
// test and nats-server share its CPUs. The figures are comparisons within
// one run on one machine, not absolute capacities; the reports say so.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offerflow/offerflow/internal/natsserver"
)

// benchNATS is an embedded nats-server with its store in a temporary
// directory, listening on a random loopback port so that every client
// connects over TCP as it would in production.
type benchNATS struct {
	url  string
	stop func()
}

func startBenchNATS(ctx context.Context, name string, syncAlways bool) (*benchNATS, error) {
	dir, err := os.MkdirTemp("", "offerflow-bench-*")
	if err != nil {
		return nil, err
	}
	var b *benchNATS
	// Labelled so that a CPU profile tells nats-server's time apart from
	// the code under test: goroutines inherit the labels of their creator.
	labelled(ctx, "nats-server", func() {
		s, serr := natsserver.Start(natsserver.Config{Name: name, Host: "127.0.0.1", Port: -1, StoreDir: dir, SyncAlways: syncAlways})
		if serr != nil {
			err = serr
			return
		}
		b = &benchNATS{url: s.ClientURL(), stop: func() {
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

// benchHTTP is one HTTP server under test on a loopback port, configured
// like the ingest's own server (service.serveHTTP) so that the variants
// differ only in their handlers.
type benchHTTP struct {
	url  string
	srv  *http.Server
	done chan error
}

func startBenchHTTP(ctx context.Context, part string, h http.Handler) (*benchHTTP, error) {
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
	b := &benchHTTP{url: "http://" + ln.Addr().String() + "/webhooks/dodo", srv: srv, done: make(chan error, 1)}
	// Every connection's goroutine is started by Serve, so it inherits
	// this label: -cpuprofile can then be read per variant.
	labelled(ctx, part, func() {
		go func() { b.done <- srv.Serve(ln) }()
	})
	return b, nil
}

// close shuts the server down and waits for Serve to return.
func (b *benchHTTP) close() error {
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

// heapSampler records the largest live heap seen while it runs.
type heapSampler struct {
	start, peak uint64
	stop, done  chan struct{}
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := readHeap()
	s := &heapSampler{start: h, peak: h, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.peak = max(s.peak, readHeap())
			}
		}
	}()
	return s
}

// finish stops the sampler and returns the heap at its start and the peak.
func (s *heapSampler) finish() (start, peak uint64) {
	close(s.stop)
	<-s.done
	return s.start, max(s.peak, readHeap())
}

// readHeap returns the bytes of heap objects, live or not yet swept: what
// the process holds on the heap right now.
func readHeap() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// vmHWM returns the process's peak resident set size from /proc, or "n/a"
// where there is none.
func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return strings.TrimSpace(rest)
			}
			return mib(kb << 10)
		}
	}
	return "n/a"
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

// flagSettings lists every flag with its effective value, so a report can
// be reproduced exactly.
func flagSettings(fs *flag.FlagSet) string {
	var parts []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Value.String() != "" {
			parts = append(parts, "-"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(parts, " ")
}

// commandLine is the command as it was given.
func commandLine(sub string, args []string) string {
	return strings.TrimSpace("offerflow bench " + sub + " " + strings.Join(args, " "))
}

func machineLine() string {
	return fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}

// otherCPULoad says how busy the CPUs were over half a second before the
// bench started, when this process was idle: a busy machine makes every
// figure unreliable, and the report should say so.
func otherCPULoad() string {
	a, err := readCPUTimes()
	if err != nil {
		return "CPU use of other processes unknown"
	}
	time.Sleep(500 * time.Millisecond)
	b, err := readCPUTimes()
	if err != nil || b.total <= a.total {
		return "CPU use of other processes unknown"
	}
	busy := 100 * float64((b.total-b.idle)-(a.total-a.idle)) / float64(b.total-a.total)
	s := fmt.Sprintf("CPUs %.0f%% busy just before the start", busy)
	if busy > 20 {
		s += " (OTHER PROCESSES ARE RUNNING: the figures below are unreliable)"
	}
	return s
}

type cpuTimes struct{ total, idle uint64 }

// cpuWatch measures how much CPU time other processes took while a phase
// ran: the machine's busy time less this process's. Other work on a shared
// machine slows every variant unevenly, so the report shows it per phase.
type cpuWatch struct {
	machine cpuTimes
	self    uint64
	err     error
}

func startCPUWatch() cpuWatch {
	m, err := readCPUTimes()
	if err != nil {
		return cpuWatch{err: err}
	}
	self, err := readSelfCPU()
	return cpuWatch{machine: m, self: self, err: err}
}

// others returns the share of all CPUs' time that other processes used
// since the watch started, from 0 to 1, or -1 when unknown.
func (w cpuWatch) others() float64 {
	if w.err != nil {
		return -1
	}
	m, err := readCPUTimes()
	if err != nil || m.total <= w.machine.total {
		return -1
	}
	self, err := readSelfCPU()
	if err != nil {
		return -1
	}
	busy := (m.total - m.idle) - (w.machine.total - w.machine.idle)
	mine := self - w.self
	if mine >= busy {
		return 0
	}
	return float64(busy-mine) / float64(m.total-w.machine.total)
}

// readSelfCPU returns this process's user and system time in clock ticks,
// the unit of /proc/stat.
func readSelfCPU() (uint64, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: count fields after it.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, errors.New("unexpected /proc/self/stat")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// othersPct formats cpuWatch.others.
func othersPct(f float64) string {
	if f < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

// busyThreshold is the share of CPU taken by other processes above which a
// phase's figures are flagged as unreliable.
const busyThreshold = 0.10

// readCPUTimes reads the machine's CPU time counters from /proc/stat.
func readCPUTimes() (cpuTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}, errors.New("unexpected /proc/stat")
	}
	var t cpuTimes
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuTimes{}, err
		}
		// Guest time is already counted in user time.
		if i >= 8 {
			break
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
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

// report writes the benchmark's output.
type report struct{ w io.Writer }

func (r report) line(format string, args ...any) { fmt.Fprintf(r.w, format+"\n", args...) }
