package bench

// What the benchmarks read of the machine while they run: the heap, the
// peak resident set, and how much CPU other processes took, from /proc.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

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

// machineLine describes the machine and the Go runtime the figures are
// of.
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
