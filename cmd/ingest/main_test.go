package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/webhook"
)

func TestRunRefusesBadConfig(t *testing.T) {
	good := webhook.NewSecret([]byte("0123456789abcdef0123456789abcdef")).Encode()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "nothing set", env: map[string]string{}, want: "NATS_URL is required"},
		{name: "no secret", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, want: "DODO_WEBHOOK_SECRET is required"},
		{name: "secret not base64", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": "whsec_%%%"}, want: "DODO_WEBHOOK_SECRET"},
		{name: "zero tolerance", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": good, "DODO_WEBHOOK_TOLERANCE": "0s"}, want: "DODO_WEBHOOK_TOLERANCE must be > 0"},
		{name: "publish timeout beyond Dodo's", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": good, "INGEST_PUBLISH_TIMEOUT": "20s"}, want: "INGEST_PUBLISH_TIMEOUT must be in (0, 15s)"},
		{name: "async persist on a cluster", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": good, "STREAM_REPLICAS": "3", "STREAM_ASYNC_PERSIST": "true"}, want: "only supported with 1 replica"},
		{name: "bad log level", env: map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": good, "LOG_LEVEL": "loud"}, want: "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"ingest"}, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), "0123456789abcdef") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestGracefulShutdown: requests in flight when SIGTERM arrives finish;
// each answer is 200 (stored) or 503 (not stored, Dodo retries), never
// another code, and every 200 is in the stream.
func TestGracefulShutdown(t *testing.T) {
	srv := natstest.Start(t)
	secret := webhook.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	addr := freeAddr(t)
	env := map[string]string{
		"NATS_URL":            srv.ClientURL(),
		"DODO_WEBHOOK_SECRET": "whsec_bm90LXRoaXMtb25l " + secret.Encode(), // rotation: two secrets
		"INGEST_ADDR":         addr,
		"LOG_LEVEL":           "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"ingest"}, func(k string) string { return env[k] }, io.Discard) }()

	base := "http://" + addr
	natstest.WaitFor(t, 2*time.Minute, "the ingest to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	var mu sync.Mutex
	stored := map[string]bool{}
	codes := map[int]int{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				id := fmt.Sprintf("msg_%d_%d", g, i)
				body := []byte(`{"business_id":"b","type":"payment.succeeded","timestamp":"2026-09-01T10:00:00Z","data":{}}`)
				now := time.Now()
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/dodo", bytes.NewReader(body))
				testenv.SignWebhook(req.Header, secret, id, now, body)
				resp, err := client.Do(req)
				if err != nil {
					return // the server has closed: what was not sent is Dodo's to retry
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == 200 {
					stored[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cancel() // what SIGTERM does in main
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v after shutdown, want nil", err)
	}
	for code, n := range codes {
		if code != 200 && code != 503 {
			t.Fatalf("%d answers with status %d during shutdown; want only 200 or 503", n, code)
		}
	}
	if len(stored) == 0 {
		t.Fatal("no request was answered before shutdown; the test proves nothing")
	}
	nc := natstest.Connect(t, srv)
	js, _ := jetstream.New(nc)
	inStream := map[string]bool{}
	for _, m := range natstest.Messages(t, js, natsbus.EventsStream, "") {
		inStream[m.Header.Get("webhook-id")] = true
	}
	for id := range stored {
		if !inStream[id] {
			t.Fatalf("%s was answered 200 but is not in the stream", id)
		}
	}
	t.Logf("answers during the run: %v; %d stored", codes, len(inStream))
}
