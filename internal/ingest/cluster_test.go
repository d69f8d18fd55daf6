package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/ingest"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/webhook"
)

// TestClusterFailover runs the ingest against a 3-node cluster with R3
// streams and shuts the stream leader down while webhooks arrive. Every
// answer must be 200 or 503 (never a 4xx for our fault), and every 200 must
// be in the stream afterwards, read from the surviving nodes.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	servers, urls := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsbus.NewPublishJetStream(nc, 256, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute) // a bound for a cluster that never settles
	for {
		err = natsbus.EnsureStreams(ctx, js, natsbus.StreamSettings{Replicas: 3})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("EnsureStreams on the cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	secret := webhook.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	v, _ := webhook.NewVerifier([]webhook.Secret{secret}, 5*time.Minute, time.Now)
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(ingest.NewServer(ingest.Deps{
		Log: zap.NewNop(), Verifier: v, Publisher: natsbus.NewPublisher(js, 2*time.Second),
		Ready: func(context.Context) error { return nil }, MaxBody: 1 << 20, RetryAfter: time.Second,
		Metrics: ingest.NewMetrics(reg), Gatherer: reg,
	}))
	defer srv.Close()

	st, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	leader := st.CachedInfo().Cluster.Leader

	var mu sync.Mutex
	ok := map[string]bool{}
	codes := map[int]int{}
	var wg sync.WaitGroup
	stopAt := time.Now().Add(4 * time.Second)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stopAt); i++ {
				id := fmt.Sprintf("msg_%d_%d", g, i)
				body := []byte(`{"type":"payment.succeeded","data":{}}`)
				now := time.Now()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/dodo", bytes.NewReader(body))
				testenv.SignWebhook(req.Header, secret, id, now, body)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == 200 {
					ok[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	for _, s := range servers {
		if s.Name() == leader {
			s.Shutdown()
			t.Logf("shut down stream leader %s", leader)
		}
	}
	wg.Wait()

	for code, n := range codes {
		if code != 200 && code != 503 {
			t.Fatalf("%d answers with status %d during failover; want 200 or 503", n, code)
		}
	}
	// Read back from the survivors, once a new leader answers.
	var stored map[string]bool
	deadline = time.Now().Add(2 * time.Minute)
	for {
		stored, err = webhookIDs(ctx, js)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read the stream after failover: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id := range ok {
		if !stored[id] {
			t.Fatalf("%s was answered 200 but is not in the stream after the leader failed", id)
		}
	}
	t.Logf("answers: %v; %d stored", codes, len(stored))
}

func webhookIDs(ctx context.Context, js jetstream.JetStream) (map[string]bool, error) {
	st, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		ids[m.Header.Get("webhook-id")] = true
	}
	return ids, nil
}
