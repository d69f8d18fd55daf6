package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The trace context goes into message headers under W3C's lower-case
// names, exactly as given (NATS header names are case-sensitive), and comes
// out as the remote parent of the consumer's span.
func TestInjectExtract(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	h := map[string][]string{"webhook-id": {"msg_1"}}
	Inject(trace.ContextWithSpanContext(context.Background(), sc), h)
	const want = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	if got := h["traceparent"]; len(got) != 1 || got[0] != want {
		t.Fatalf("traceparent %q, want %q (headers %v)", got, want, h)
	}
	if _, ok := h["Traceparent"]; ok {
		t.Fatalf("canonicalised header name in %v", h)
	}
	got := trace.SpanContextFromContext(Extract(context.Background(), h))
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Fatalf("extracted %+v, want the remote %+v", got, sc)
	}
	if keys := Header(h).Keys(); len(keys) != 2 || keys[0] != "traceparent" || keys[1] != "webhook-id" {
		t.Fatalf("keys %v", keys)
	}
}

// No span, no header; headers without one, no parent.
func TestNoTraceContext(t *testing.T) {
	h := map[string][]string{}
	Inject(context.Background(), h)
	if len(h) != 0 {
		t.Fatalf("headers %v from a context without a span, want none", h)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"} {
		if sc := trace.SpanContextFromContext(Extract(context.Background(), map[string][]string{"traceparent": {bad}})); sc.IsValid() {
			t.Fatalf("traceparent %q gave a parent %+v", bad, sc)
		}
	}
	if Provider(nil) == nil {
		t.Fatal("Provider(nil) is nil, want a no-op provider")
	}
}

// TestFollowFrom: a stored traceparent becomes the parent and the current
// span a link; an empty or malformed one changes nothing.
func TestFollowFrom(t *testing.T) {
	cur := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), cur)
	stored := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name, traceparent string
		wantTrace         string
		wantLinks         int
	}{
		{name: "stored", traceparent: stored, wantTrace: "0af7651916cd43dd8448eb211c80319c", wantLinks: 1},
		{name: "none", traceparent: "", wantTrace: cur.TraceID().String()},
		{name: "malformed", traceparent: "00-nothex-b7ad6b7169203331-01", wantTrace: cur.TraceID().String()},
		{name: "all-zero trace", traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01", wantTrace: cur.TraceID().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, links := FollowFrom(ctx, tt.traceparent)
			if id := trace.SpanContextFromContext(got).TraceID().String(); id != tt.wantTrace || len(links) != tt.wantLinks {
				t.Fatalf("trace %s, %d links; want %s, %d", id, len(links), tt.wantTrace, tt.wantLinks)
			}
			if tt.wantLinks == 1 && links[0].SpanContext.SpanID() != cur.SpanID() {
				t.Errorf("link to %s, want the current span %s", links[0].SpanContext.SpanID(), cur.SpanID())
			}
		})
	}
	if got := TraceParent(ctx); got != "00-01000000000000000000000000000000-0200000000000000-01" {
		t.Errorf("TraceParent = %q", got)
	}
	if got := TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent without a span = %q, want empty", got)
	}
}

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
		want bool
	}{
		{name: "nil", tp: nil, want: false},
		{name: "no-op provider", tp: noop.NewTracerProvider(), want: false},
		{name: "SDK provider", tp: sdktrace.NewTracerProvider(), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Enabled(tc.tp); got != tc.want {
				t.Errorf("Enabled = %v, want %v", got, tc.want)
			}
		})
	}
}
