package service

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing is off unless an OTLP endpoint or exporter is asked for, and a
// setting offerflow cannot honour stops the service at start.
func TestTracingOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		off     bool
		wantErr bool
	}{
		{name: "nothing set", env: nil, off: true},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, off: false},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, off: false},
		{name: "exporter otlp, default endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, off: false},
		{name: "exporter none wins over an endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, off: true},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, off: true},
		{name: "http/protobuf", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, off: false},
		{name: "grpc is not built in", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, wantErr: true},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, err := TracingOff(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err == nil && off != tc.off {
				t.Fatalf("off %v, want %v", off, tc.off)
			}
		})
	}
}

// Off, the provider is the no-op one: no exporter, no goroutine (TestMain's
// goleak), and Shutdown has nothing to do. On, it is the SDK's, and
// Shutdown stops its batch goroutine without a collector to reach.
func TestNewTracerProvider(t *testing.T) {
	ctx := context.Background()
	tp, shutdown, err := NewTracerProvider(ctx, func(string) string { return "" }, "offerflow-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Fatalf("provider %T with tracing off, want noop.TracerProvider", tp)
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	on := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
	tp, shutdown, err = NewTracerProvider(ctx, func(k string) string { return on[k] }, "offerflow-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		t.Fatal("no-op provider with an endpoint set, want the SDK's")
	}
	// Nothing was recorded, so nothing is sent to the unreachable address.
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to the collector over
// OTLP/HTTP, and Shutdown flushes what the batch still holds.
func TestTracesReachTheCollector(t *testing.T) {
	var mu sync.Mutex
	var got []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		if len(body) == 0 {
			t.Errorf("empty export")
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	// The exporter reads the process environment itself.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	ctx := context.Background()
	tp, shutdown, err := NewTracerProvider(ctx, os.Getenv, "offerflow-test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(ctx, "one")
	span.End()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("collector got %q, want one POST /v1/traces of protobuf", got)
	}
}
