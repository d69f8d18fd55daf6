package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/webhook"
)

// BenchmarkIngestOnCluster measures what `sync_interval: always` costs the
// ingest on the cluster deploy/nats/nats-server.conf describes: signed
// webhooks, each a new one, posted by 32 senders to an ingest process whose
// streams are R3 on three nats-server processes, once with the file as
// shipped and once with its sync_interval line taken out (JetStream's
// default: fsync every 2 minutes). Besides wall time it reports the CPU
// time of the nats-server processes and of the ingest per webhook, which
// moves less than wall time on a shared machine. All three nodes share one
// machine and one disk, so the figures compare the two settings; they are
// not a cluster's capacity. Run it with a count, as one cluster serves one
// run: -benchtime 3000x.
func BenchmarkIngestOnCluster(b *testing.B) {
	bins := buildBinaries(b)
	shipped, err := os.ReadFile(configFile)
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(shipped), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "sync_interval:") {
			lines = append(lines, l)
		}
	}
	defaultSync := filepath.Join(b.TempDir(), "nats-server-default-sync.conf")
	if err := os.WriteFile(defaultSync, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct{ name, conf string }{{"sync=always", configFile}, {"sync=default", defaultSync}} {
		b.Run(v.name, func(b *testing.B) { benchIngest(b, bins, v.conf) })
	}
}

func benchIngest(b *testing.B, bins binaries, conf string) {
	logDir := b.TempDir()
	cl := startCluster(b, bins.natsServer, conf, logDir)
	nc, err := nats.Connect(cl.urls(), nats.MaxReconnects(-1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if !waitUntil(2*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	}) {
		b.Fatal("no JetStream on the cluster within 2 minutes")
	}
	secret := webhook.NewSecret(randomBytes(b, 32))
	ingest, err := startProc(b, "ingest", logDir, bins.ingest, []string{"NATS_URL=" + cl.urls(), "STREAM_REPLICAS=3",
		"LOG_LEVEL=info", "DODO_WEBHOOK_SECRET=" + secret.Encode(), "INGEST_ADDR=127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + waitProcAddr(b, ingest, 2*time.Minute)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	run := randomHex(b, 4)
	body := func(i int) (string, []byte) {
		cus := fmt.Sprintf("cus_%s_%d", run, i)
		return fmt.Sprintf("msg_%s_%d", run, i), payload.PaymentSucceeded(time.Now(), cus, "pay_"+cus, "pdt_course", 4900)
	}
	// Warm up: streams created, connections open, the leaders settled.
	if !waitUntil(2*time.Minute, func() bool {
		id, data := body(-1)
		_, err := post(client, url, secret, id, data)
		return err == nil
	}) {
		b.Fatal("the ingest stored nothing within 2 minutes")
	}
	for i := range 200 {
		id, data := body(-2 - i)
		if _, err := post(client, url, secret, id, data); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	pids := []int{ingest.cmd.Process.Pid}
	for _, n := range cl.nodes {
		pids = append(pids, n.proc.cmd.Process.Pid)
	}
	cpu := func() (ingestCPU, natsCPU time.Duration) {
		for i, pid := range pids {
			d, err := cpuTime(pid)
			if err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				ingestCPU += d
			} else {
				natsCPU += d
			}
		}
		return ingestCPU, natsCPU
	}
	const senders = 32
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	ingest0, nats0 := cpu()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				id, data := body(i)
				d, err := post(client, url, secret, id, data)
				if err != nil {
					failed.Add(1)
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	ingest1, nats1 := cpu()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d webhooks not stored", n, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "webhooks/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[b.N*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64((nats1-nats0).Microseconds())/float64(b.N), "nats-cpu-us/webhook")
	b.ReportMetric(float64((ingest1-ingest0).Microseconds())/float64(b.N), "ingest-cpu-us/webhook")
}

// post sends one new signed webhook and returns how long the answer took,
// or an error for anything but a 2xx.
func post(client *http.Client, url string, secret webhook.Secret, id string, body []byte) (time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/dodo", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	testenv.SignWebhook(req.Header, secret, id, start, body)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// cpuTime returns the user and system CPU time pid has used, from
// /proc/<pid>/stat (Linux), in clock ticks of 10 ms.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields
	// after it are space-separated: utime and stime are the 12th and
	// 13th after the closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
