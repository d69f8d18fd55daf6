package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/tracing"
	"github.com/offerflow/offerflow/internal/webhook"
)

// handleWebhook answers Dodo:
//
//   - 400 for missing or malformed webhook-* headers or an unreadable body,
//   - 401 for a signature that matches no secret, or a timestamp outside the
//     tolerance,
//   - 413 for a body over MaxBody,
//   - 503 with Retry-After when JetStream does not acknowledge in time (our
//     fault, so never a 4xx: Dodo retries, with the same webhook-id),
//   - 200 once JetStream has acknowledged the message (also for a duplicate
//     webhook-id, which JetStream stored earlier).
//
// A correctly signed body that is not JSON, or has no usable type, is still
// stored, under a subject that says so: nothing Dodo signed is dropped.
//
// Each webhook is a server span, from the first check to JetStream's
// acknowledgement; its trace context travels in the stored message's
// headers (traceparent, tracestate) to the worker. The span is a root:
// the sender is outside, and a traceparent it sends is not trusted.
func handleWebhook(d Deps) http.Handler {
	retryAfter := strconv.Itoa(max(1, int(d.RetryAfter/time.Second)))
	tracer := tracing.Provider(d.Tracer).Tracer(tracerName)
	// Built once: the route only serves POST. What is the same for every
	// webhook is not rebuilt per request, nor is the counter of 200s looked
	// up by its label each time.
	spanOpts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithNewRoot(),
		trace.WithAttributes(
			attribute.String("http.request.method", http.MethodPost),
			attribute.String("http.route", "/webhooks/dodo"),
		),
	}
	stored := d.Metrics.requests.WithLabelValues(strconv.Itoa(http.StatusOK))
	count := func(code int) {
		if code == http.StatusOK {
			stored.Inc()
			return
		}
		d.Metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	if !tracing.Enabled(d.Tracer) {
		// Tracing off: no span, so no context and request copy per
		// webhook for a span nobody records.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			count(serveWebhook(d, retryAfter, w, r))
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "POST /webhooks/dodo", spanOpts...)
		defer span.End()
		code := serveWebhook(d, retryAfter, w, r.WithContext(ctx))
		if span.IsRecording() {
			span.SetAttributes(attribute.Int("http.response.status_code", code))
		}
		if code >= 500 {
			// Server spans are errors on 5xx only: a 4xx is the sender's.
			span.SetStatus(codes.Error, http.StatusText(code))
		}
		count(code)
	})
}

// tracerName is the instrumentation scope of the ingest's spans.
const tracerName = "github.com/offerflow/offerflow/internal/ingest"

func serveWebhook(d Deps, retryAfter string, w http.ResponseWriter, r *http.Request) int {
	// Cheap checks first: a request without the headers is refused before
	// its body is read.
	id := r.Header.Get(natsbus.HeaderWebhookID)
	ts := r.Header.Get(natsbus.HeaderWebhookTimestamp)
	sig := r.Header.Get(natsbus.HeaderWebhookSignature)
	if id == "" || ts == "" || sig == "" {
		d.Metrics.verifyFailures.WithLabelValues("missing_headers").Inc()
		writeError(w, http.StatusBadRequest, "missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required")
		return http.StatusBadRequest
	}
	if r.ContentLength > d.MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "body exceeds "+strconv.FormatInt(d.MaxBody, 10)+" bytes")
		return http.StatusRequestEntityTooLarge
	}
	body, err := readBody(w, r, d.MaxBody)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "body exceeds "+strconv.FormatInt(d.MaxBody, 10)+" bytes")
			return http.StatusRequestEntityTooLarge
		}
		writeError(w, http.StatusBadRequest, "unreadable_body", "could not read the request body")
		return http.StatusBadRequest
	}

	if _, err := d.Verifier.Verify(id, ts, sig, body); err != nil {
		status, reason := verifyStatus(err)
		d.Metrics.verifyFailures.WithLabelValues(reason).Inc()
		d.Log.Info("webhook refused", zap.String("webhook_id", safeLogID(id)), zap.String("reason", reason), zap.Error(err))
		writeError(w, status, reason, err.Error())
		return status
	}

	subject := subjectFor(body)
	span := trace.SpanFromContext(r.Context())
	recording := span.IsRecording()
	if recording {
		span.SetAttributes(attribute.String("webhook.id", id), attribute.String("messaging.destination.name", subject))
	}
	msg := events.WebhookMessage(subject, id, ts, sig, body)
	tracing.Inject(r.Context(), msg.Header)
	start := time.Now()
	ack, err := d.Publisher.Send(r.Context(), msg)
	d.Metrics.publishSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		span.RecordError(err)
		d.Log.Warn("webhook not stored", zap.String("webhook_id", id), zap.String("subject", subject), zap.Error(err))
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, "not_stored", "the event could not be stored; retry later")
		return http.StatusServiceUnavailable
	}
	if ack.Duplicate {
		d.Metrics.duplicates.Inc()
	}
	if recording {
		span.SetAttributes(attribute.Bool("webhook.duplicate", ack.Duplicate), attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, storedBody(ack.Duplicate))
	return http.StatusOK
}

func storedBody(dup bool) string {
	if dup {
		return `{"status":"stored","duplicate":true}` + "\n"
	}
	return `{"status":"stored","duplicate":false}` + "\n"
}

// initialBodyBuf bounds what readBody allocates before the body arrives: a
// Content-Length is only the sender's claim, and the body is not yet known
// to be signed. Typical webhooks (1 to 2 KB) still cost one allocation.
const initialBodyBuf = 64 << 10

// readBody reads at most limit bytes, allocating as the bytes arrive: the
// buffer starts at the Content-Length (at most initialBodyBuf), so a
// client that announces a megabyte and sends nothing holds no megabyte.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 {
		// ReadFrom keeps bytes.MinRead free before each read.
		buf.Grow(int(min(n, initialBodyBuf)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	if n := r.ContentLength; n >= 0 && int64(buf.Len()) != n {
		return nil, fmt.Errorf("body of %d bytes, Content-Length %d: %w", buf.Len(), n, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}

// subjectFor finds the event type without decoding the whole body.
func subjectFor(body []byte) string {
	t, err := events.PeekType(body)
	switch {
	case errors.Is(err, events.ErrNotJSON):
		return events.SubjectInvalidJSON
	case err != nil || !events.ValidType(t):
		return events.SubjectInvalidType
	}
	return events.Subject(t)
}

func verifyStatus(err error) (int, string) {
	switch {
	case errors.Is(err, webhook.ErrMissingHeaders):
		return http.StatusBadRequest, "missing_headers"
	case errors.Is(err, webhook.ErrMalformedHeaders):
		return http.StatusBadRequest, "malformed_headers"
	case errors.Is(err, webhook.ErrTimestampOutOfTolerance):
		return http.StatusUnauthorized, "timestamp_out_of_tolerance"
	default:
		return http.StatusUnauthorized, "bad_signature"
	}
}

// safeLogID keeps an unauthenticated id from flooding the logs.
func safeLogID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}
