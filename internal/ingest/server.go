// Package ingest is offerflow's HTTP front: it receives Dodo's webhooks,
// verifies them and stores them in JetStream, answering 2xx only once
// JetStream has acknowledged the message, and it serves the small /v1 API
// and the health and metrics endpoints.
package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

// Publisher stores a message (a verified webhook, events.WebhookMessage)
// and returns once JetStream has acknowledged it (*natsbus.Publisher).
type Publisher interface {
	Send(ctx context.Context, m events.Message) (natsbus.PubAck, error)
}

// AccessReader reads a customer's stored access.
type AccessReader interface {
	Get(ctx context.Context, customerID string) (access.Doc, uint64, error)
}

// Deps are what the server needs. Log, Verifier, Publisher and Ready are
// required; Access may be nil (the access API then answers 503).
type Deps struct {
	Log       *zap.Logger
	Verifier  *webhook.Verifier
	Publisher Publisher
	// Ready reports whether NATS is connected and the streams exist.
	Ready   func(ctx context.Context) error
	Access  AccessReader
	Catalog access.Catalog
	// APIToken is the bearer token for server-to-server calls; empty means
	// the API refuses every call.
	APIToken string
	// MaxBody is the largest webhook body accepted (413 above it).
	MaxBody int64
	// RetryAfter is what a 503 tells Dodo to wait.
	RetryAfter time.Duration
	Metrics    *Metrics
	// Gatherer is served on /metrics; nil: no /metrics here (it is served
	// on a separate address).
	Gatherer prometheus.Gatherer
	// Offers is the offer engine; nil: the offer routes answer 503.
	Offers OffersAPI
	// Signals stores signals from the merchant's app on SignalSubject's
	// subject; nil: the signal route answers 503.
	Signals       SignalPublisher
	SignalSubject func(customerID string) string
	// CORSOrigins may call accept and decline from a browser ("*": any);
	// none: no CORS headers, browsers on other origins are refused.
	CORSOrigins []string
	// Tracer makes a server span of each webhook, whose trace context
	// goes into the stored message's headers; nil: no spans.
	Tracer trace.TracerProvider
}

// NewServer returns the ingest's HTTP handler.
func NewServer(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return mux
}

func addRoutes(mux *http.ServeMux, d Deps) {
	mux.Handle("POST /webhooks/dodo", handleWebhook(d))
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(d.Ready))
	if d.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /v1/customers/{customer_id}/access", requireToken(d.APIToken, handleAccess(d)))
	addOfferRoutes(mux, d)
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func handleReadyz(ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// bearer returns the credentials of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 9110, section 11.1: "bearer"
// and "BEARER" are the same); spaces around the token are not part of it.
func bearer(h string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// requireToken admits a request only with "Authorization: Bearer <token>".
// The comparison is of SHA-256 digests in constant time, so neither the
// token's bytes nor its length leak through timing.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if token == "" || !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="offerflow"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "a valid server token is required (Authorization: Bearer <OFFERFLOW_API_TOKEN>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func handleAccess(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("customer_id")
		if !validID(id) {
			writeError(w, http.StatusBadRequest, "invalid_customer_id", "customer_id must be 1..128 printable ASCII characters")
			return
		}
		if d.Access == nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "access store is not configured")
			return
		}
		doc, _, err := d.Access.Get(r.Context(), id)
		if err != nil {
			d.Log.Warn("read access", zap.String("customer_id", id), zap.Error(err))
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "unavailable", "access store did not answer; retry")
			return
		}
		writeJSON(w, http.StatusOK, doc.View(d.Catalog))
	})
}

// validID applies the one rule for outside ids (events.CheckID).
func validID(s string) bool { return events.CheckID("id", s) == nil }

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client has gone if this fails; nothing to do
}
