package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/ingest"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/webhook"
)

const token = "test-token-0123456789"

type fixture struct {
	srv    *httptest.Server
	nats   *server.Server
	js     jetstream.JetStream
	secret webhook.Secret
	now    time.Time
}

func newFixture(t testing.TB, publishTimeout time.Duration) *fixture {
	t.Helper()
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	js, err := natsbus.NewPublishJetStream(nc, 64, publishTimeout)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	store, err := natsbus.NewAccessStore(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	secret := webhook.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Now()
	v, err := webhook.NewVerifier([]webhook.Secret{secret}, 5*time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := ingest.NewServer(ingest.Deps{
		Log:       zap.NewNop(),
		Verifier:  v,
		Publisher: natsbus.NewPublisher(js, publishTimeout),
		Ready: func(ctx context.Context) error {
			if !nc.IsConnected() {
				return fmt.Errorf("nats is not connected")
			}
			return natsbus.CheckStreams(ctx, js)
		},
		Access:     store,
		APIToken:   token,
		MaxBody:    4096,
		RetryAfter: 7 * time.Second,
		Metrics:    ingest.NewMetrics(reg),
		Gatherer:   reg,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, nats: s, js: js, secret: secret, now: now}
}

type req struct {
	id, ts, sig string
	body        []byte
	omit        string // header to leave out
	chunked     bool
}

func (f *fixture) signed(id string, body []byte) req {
	ts := strconv.FormatInt(f.now.Unix(), 10)
	return req{id: id, ts: ts, sig: webhook.Sign(f.secret, id, f.now, body), body: body}
}

func (f *fixture) post(t *testing.T, r req) *http.Response {
	t.Helper()
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // unknown length: sent chunked
	}
	hr, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/webhooks/dodo", body)
	for k, v := range map[string]string{"webhook-id": r.id, "webhook-timestamp": r.ts, "webhook-signature": r.sig} {
		if k != r.omit {
			hr.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (f *fixture) stored(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, f.js, natsbus.EventsStream, "")
}

const payment = `{"business_id":"bus_1","type":"payment.succeeded","timestamp":"2026-09-01T10:00:00Z","data":{"payload_type":"Payment","payment_id":"pay_1"}}`

func TestWebhookStatusCodes(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	good := f.signed("msg_ok", []byte(payment))
	old := f.signed("msg_old", []byte(payment))
	old.ts = strconv.FormatInt(f.now.Add(-6*time.Minute).Unix(), 10)
	old.sig = webhook.Sign(f.secret, "msg_old", f.now.Add(-6*time.Minute), []byte(payment))
	future := f.signed("msg_future", []byte(payment))
	future.ts = strconv.FormatInt(f.now.Add(6*time.Minute).Unix(), 10)
	future.sig = webhook.Sign(f.secret, "msg_future", f.now.Add(6*time.Minute), []byte(payment))
	tampered := f.signed("msg_tampered", []byte(payment))
	tampered.body = []byte(strings.Replace(payment, "pay_1", "pay_2", 1))
	wrongKey := f.signed("msg_wrongkey", []byte(payment))
	wrongKey.sig = webhook.Sign(webhook.NewSecret([]byte("another-secret-another-secret-00")), "msg_wrongkey", f.now, []byte(payment))
	badTS := f.signed("msg_badts", []byte(payment))
	badTS.ts = "yesterday"
	big := f.signed("msg_big", bytes.Repeat([]byte("x"), 5000))
	bigChunked := big
	bigChunked.chunked = true

	tests := []struct {
		name       string
		r          req
		wantStatus int
		wantError  string
	}{
		{name: "signed and stored", r: good, wantStatus: 200},
		{name: "missing id", r: req{ts: good.ts, sig: good.sig, body: good.body, omit: "webhook-id"}, wantStatus: 400, wantError: "missing_headers"},
		{name: "missing signature", r: req{id: "x", ts: good.ts, body: good.body, omit: "webhook-signature"}, wantStatus: 400, wantError: "missing_headers"},
		{name: "missing timestamp", r: req{id: "x", sig: good.sig, body: good.body, omit: "webhook-timestamp"}, wantStatus: 400, wantError: "missing_headers"},
		{name: "timestamp not a number", r: badTS, wantStatus: 400, wantError: "malformed_headers"},
		{name: "signature header garbage", r: req{id: "x", ts: good.ts, sig: "nonsense", body: good.body}, wantStatus: 400, wantError: "malformed_headers"},
		{name: "tampered body", r: tampered, wantStatus: 401, wantError: "bad_signature"},
		{name: "unknown secret", r: wrongKey, wantStatus: 401, wantError: "bad_signature"},
		{name: "too old", r: old, wantStatus: 401, wantError: "timestamp_out_of_tolerance"},
		{name: "too far in the future", r: future, wantStatus: 401, wantError: "timestamp_out_of_tolerance"},
		{name: "body over the limit", r: big, wantStatus: 413, wantError: "body_too_large"},
		{name: "chunked body over the limit", r: bigChunked, wantStatus: 413, wantError: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.post(t, tt.r)
			var e struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tt.wantStatus || e.Error != tt.wantError {
				t.Fatalf("status %d error %q, want %d %q", resp.StatusCode, e.Error, tt.wantStatus, tt.wantError)
			}
		})
	}
	// Only the good one was stored.
	if got := f.stored(t); len(got) != 1 || got[0].Header.Get("webhook-id") != "msg_ok" {
		t.Fatalf("stored %d messages, want only msg_ok", len(got))
	}
}

func TestDuplicateWebhookStoredOnce(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	r := f.signed("msg_dup", []byte(payment))
	for i := 0; i < 3; i++ {
		resp := f.post(t, r)
		var b struct{ Duplicate bool }
		_ = json.NewDecoder(resp.Body).Decode(&b)
		if resp.StatusCode != 200 || b.Duplicate != (i > 0) {
			t.Fatalf("delivery %d: status %d duplicate %v, want 200 %v", i+1, resp.StatusCode, b.Duplicate, i > 0)
		}
	}
	msgs := f.stored(t)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages for one webhook-id sent 3 times, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "dodo.events.payment.succeeded" || string(m.Data) != payment {
		t.Fatalf("stored %s %q, want the raw body on dodo.events.payment.succeeded", m.Subject, m.Data)
	}
	for k, want := range map[string]string{"Nats-Msg-Id": "msg_dup", "webhook-id": "msg_dup", "webhook-timestamp": r.ts, "webhook-signature": r.sig} {
		if got := m.Header.Get(k); got != want {
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
}

func TestSignedButUnusableBodiesAreKept(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	tests := []struct {
		name, id, body, subject string
	}{
		{name: "not JSON", id: "msg_nj", body: "this is not json", subject: "dodo.events._invalid.json"},
		{name: "no type", id: "msg_nt", body: `{"data":{}}`, subject: "dodo.events._invalid.type"},
		{name: "type with a wildcard", id: "msg_wc", body: `{"type":"payment.>"}`, subject: "dodo.events._invalid.type"},
		{name: "future event type", id: "msg_fu", body: `{"type":"wallet.topped_up","data":{}}`, subject: "dodo.events.wallet.topped_up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp := f.post(t, f.signed(tt.id, []byte(tt.body))); resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200: a signed body is never dropped", resp.StatusCode)
			}
		})
	}
	got := map[string]string{}
	for _, m := range f.stored(t) {
		got[m.Header.Get("webhook-id")] = m.Subject
	}
	for _, tt := range tests {
		if got[tt.id] != tt.subject {
			t.Errorf("%s stored on %q, want %q", tt.id, got[tt.id], tt.subject)
		}
	}
}

func TestUnavailableJetStreamAnswers503(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	f.nats.Shutdown()
	f.nats.WaitForShutdown()
	resp := f.post(t, f.signed("msg_down", []byte(payment)))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("status %d Retry-After %q, want 503 and 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	ready, err := http.Get(f.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 503 {
		t.Fatalf("/readyz = %d with NATS down, want 503", ready.StatusCode)
	}
	health, err := http.Get(f.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health.Body.Close()
	if health.StatusCode != 200 {
		t.Fatalf("/healthz = %d, want 200 (the process is up)", health.StatusCode)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	f.post(t, f.signed("msg_m1", []byte(payment)))
	f.post(t, req{id: "x", ts: "1", sig: "v1,AAAA", body: []byte("{}")})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s = %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/metrics" {
			for _, series := range []string{
				`offerflow_ingest_requests_total{code="200"} 1`,
				`offerflow_ingest_verify_failures_total{reason="malformed_headers"} 1`,
				`offerflow_ingest_publish_seconds_count 1`,
			} {
				if !strings.Contains(string(b), series) {
					t.Fatalf("/metrics lacks %q:\n%s", series, b)
				}
			}
		}
	}
}

func TestAccessAPI(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	store, _ := natsbus.NewAccessStore(context.Background(), f.js)
	doc := access.NewDoc("cus_1")
	doc.Sources["payment:pay_1"] = access.Source{Kind: access.KindPayment, ID: "pay_1", Products: []string{"pdt_course"}, State: access.Active}
	if _, err := store.Put(context.Background(), doc, 0); err != nil {
		t.Fatal(err)
	}
	get := func(id, auth string) (*http.Response, string) {
		r, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/customers/"+id+"/access", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	tests := []struct {
		name, id, auth string
		wantStatus     int
		wantBody       string
	}{
		{name: "no token", id: "cus_1", wantStatus: 401, wantBody: "unauthorized"},
		{name: "wrong token", id: "cus_1", auth: "Bearer nope", wantStatus: 401, wantBody: "unauthorized"},
		{name: "not bearer", id: "cus_1", auth: "Basic " + token, wantStatus: 401, wantBody: "unauthorized"},
		{name: "token prefix only", id: "cus_1", auth: "Bearer " + token[:5], wantStatus: 401, wantBody: "unauthorized"},
		{name: "granted product", id: "cus_1", auth: "Bearer " + token, wantStatus: 200, wantBody: `"product_id":"pdt_course","status":"active"`},
		{name: "scheme in any case", id: "cus_1", auth: "bEARER " + token, wantStatus: 200, wantBody: `"product_id":"pdt_course"`},
		{name: "token in another case", id: "cus_1", auth: "Bearer " + strings.ToUpper(token), wantStatus: 401, wantBody: "unauthorized"},
		{name: "unknown customer has no access", id: "cus_2", auth: "Bearer " + token, wantStatus: 200, wantBody: `"products":[]`},
		{name: "bad id", id: strings.Repeat("x", 200), auth: "Bearer " + token, wantStatus: 400, wantBody: "invalid_customer_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(tt.id, tt.auth)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d body %s, want %d containing %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestAPIRefusesEverythingWithoutConfiguredToken(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := ingest.NewServer(ingest.Deps{Log: zap.NewNop(), Metrics: ingest.NewMetrics(reg), Gatherer: reg, Ready: func(context.Context) error { return nil }})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		r := httptest.NewRequest(http.MethodGet, "/v1/customers/cus_1/access", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 401 {
			t.Fatalf("auth %q with no OFFERFLOW_API_TOKEN: status %d, want 401", auth, w.Code)
		}
	}
}
