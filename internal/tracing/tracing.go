// Package tracing carries the W3C trace context (traceparent, tracestate)
// in message headers, so that a webhook's trace goes on in the worker that
// handles it, whatever broker holds the message in between.
//
// It uses the OpenTelemetry API only. The SDK and the OTLP exporter are
// wired in internal/service alone; the packages that make spans (ingest,
// worker, confirm, the Dodo client's transport) take a
// trace.TracerProvider as a constructor argument, and nothing sets the
// global provider or propagator.
package tracing

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Header is a propagation.TextMapCarrier over message headers
// (events.Message.Header, a NATS message's headers). It keeps names
// exactly as given: W3C names its headers in lower case, and NATS header
// names are case-sensitive, so http.Header's canonical "Traceparent" would
// not be found by a reader that asks for "traceparent".
type Header map[string][]string

// Get returns the first value of key, "" if none.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Keys returns the header names, sorted.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Enabled reports whether tp makes spans: false for nil and for the
// no-op provider (tracing off), so that a hot path can skip building a
// span context nobody records.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, off := tp.(noop.TracerProvider)
	return !off
}

// Inject writes the trace context of ctx's span into h (nothing when ctx
// has no recording or remote span). h must not be nil.
func Inject(ctx context.Context, h map[string][]string) {
	propagation.TraceContext{}.Inject(ctx, Header(h))
}

// Extract returns ctx with the remote span context h carries, if any: the
// parent of the span a consumer starts for the message.
func Extract(ctx context.Context, h map[string][]string) context.Context {
	return propagation.TraceContext{}.Extract(ctx, Header(h))
}

// TraceParent returns the W3C traceparent of ctx's span, "" when ctx has
// none (tracing off): the context to store with a record whose later use
// should continue this trace.
func TraceParent(ctx context.Context) string {
	h := Header{}
	propagation.TraceContext{}.Inject(ctx, h)
	return h.Get("traceparent")
}

// FollowFrom returns ctx whose parent span is the one traceparent names
// (when it is valid), for work that continues a stored trace; the span
// ctx had is returned as a link, so the two traces stay connected.
func FollowFrom(ctx context.Context, traceparent string) (context.Context, []trace.Link) {
	if traceparent == "" {
		return ctx, nil
	}
	stored := propagation.TraceContext{}.Extract(context.Background(), Header{"traceparent": {traceparent}})
	sc := trace.SpanContextFromContext(stored)
	if !sc.IsValid() {
		return ctx, nil
	}
	var links []trace.Link
	if cur := trace.SpanContextFromContext(ctx); cur.IsValid() {
		links = append(links, trace.Link{SpanContext: cur})
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc), links
}

// Provider returns tp, or a no-op provider when tp is nil: the default of
// every constructor that takes one.
func Provider(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}
