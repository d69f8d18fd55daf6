package ingest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/ingest"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

// recorder stands in for JetStream in the fuzz targets only: fuzzing needs
// millions of requests per minute, and what is fuzzed here is the request
// parsing in front of the publish, not the publish (which the tests above
// run against a real server).
type recorder struct{ published int }

func (r *recorder) Send(_ context.Context, _ events.Message) (natsbus.PubAck, error) {
	r.published++
	return natsbus.PubAck{Sequence: uint64(r.published)}, nil
}

type emptyStore struct{}

func (emptyStore) Get(_ context.Context, id string) (access.Doc, uint64, error) {
	return access.NewDoc(id), 0, nil
}

func fuzzServer(t testing.TB, rec *recorder, now time.Time) (http.Handler, webhook.Secret) {
	secret := webhook.NewSecret([]byte("fuzz-secret-fuzz-secret-fuzz-sec"))
	v, err := webhook.NewVerifier([]webhook.Secret{secret}, 5*time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	return ingest.NewServer(ingest.Deps{
		Log: zap.NewNop(), Verifier: v, Publisher: rec, Ready: func(context.Context) error { return nil },
		Access: emptyStore{}, APIToken: token, MaxBody: 2048, RetryAfter: time.Second,
		Metrics: ingest.NewMetrics(reg), Gatherer: reg,
	}), secret
}

// FuzzWebhookRequest: whatever the headers and body, the answer is one of
// the documented codes, a message is published exactly when the answer is
// 200, and 200 needs a valid signature.
func FuzzWebhookRequest(f *testing.F) {
	now := time.Unix(1788256800, 0)
	f.Add("msg_1", "1788256800", "", []byte(payment), true)
	f.Add("msg_1", "1788256800", "v1,AAAA", []byte(payment), false)
	f.Add("", "", "", []byte{}, false)
	f.Add("msg_2", "99999999999999999999", "v1,x v2,y", []byte("{"), true)
	f.Add("msg_3", "1788256800", "", bytes.Repeat([]byte("a"), 3000), true)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, signIt bool) {
		rec := &recorder{}
		h, secret := fuzzServer(t, rec, now)
		if signIt {
			if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
				sig = webhook.Sign(secret, id, time.Unix(n, 0), body)
			}
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/dodo", bytes.NewReader(body))
		for k, v := range map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig} {
			if v != "" {
				req.Header[http.CanonicalHeaderKey(k)] = []string{v}
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			if rec.published != 1 {
				t.Fatalf("200 with %d publishes", rec.published)
			}
			if !signIt {
				t.Fatalf("200 for a request we did not sign: id %q ts %q sig %q", id, ts, sig)
			}
		case 400, 401, 413:
			if rec.published != 0 {
				t.Fatalf("%d with %d publishes", w.Code, rec.published)
			}
		default:
			t.Fatalf("status %d is not one the ingest documents", w.Code)
		}
	})
}

// FuzzAccessRequest: the access API never answers 200 without the token and
// never fails with a 5xx on bad input.
func FuzzAccessRequest(f *testing.F) {
	f.Add("cus_1", "Bearer "+token)
	f.Add("cus_1", "Bearer")
	f.Add("cus_1", "bearer "+token)
	f.Add("cus_1", "bearer "+strings.ToUpper(token))
	f.Add("%00", "Bearer "+token)
	f.Add("a/b", "")
	f.Fuzz(func(t *testing.T, id, auth string) {
		h, _ := fuzzServer(t, &recorder{}, time.Now())
		req, err := http.NewRequest(http.MethodGet, "/v1/customers/"+id+"/access", nil)
		if err != nil {
			return // not a URL a client could send
		}
		req.Header["Authorization"] = []string{auth}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for id %q", w.Code, id)
		}
		// The scheme is case-insensitive (RFC 9110); the token is not.
		f := strings.Fields(auth)
		if w.Code == 200 && !(len(f) == 2 && strings.EqualFold(f[0], "Bearer") && f[1] == token) {
			t.Fatalf("200 with Authorization %q", auth)
		}
	})
}
