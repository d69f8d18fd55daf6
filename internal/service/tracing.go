package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Shutdown flushes the spans still buffered to the exporter and stops it.
// It returns when the flush is done or ctx ends.
type Shutdown func(ctx context.Context) error

// TracingOff reports, from the OTEL_* variables getenv gives, whether tracing is
// off, and an error for a setting offerflow cannot honour. Tracing is on
// when OTEL_TRACES_EXPORTER is "otlp", or is unset while an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set; OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off.
// Only OTLP over HTTP (http/protobuf) is built in.
func TracingOff(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return true, nil
	}
	var endpoint bool
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		endpoint = endpoint || strings.TrimSpace(getenv(k)) != ""
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" && p != "http/protobuf" {
			return true, fmt.Errorf("%s=%s: offerflow exports OTLP over HTTP only (http/protobuf)", k, p)
		}
	}
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "":
		return !endpoint, nil
	case "none":
		return true, nil
	case "otlp":
		return false, nil
	default:
		return true, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: want otlp or none", exp)
	}
}

// NewTracerProvider returns the tracer provider of service (its
// service.name unless OTEL_SERVICE_NAME says otherwise; service.version
// from the build) and its Shutdown, which the caller runs once the service
// has stopped. When tracing
// is off (see TracingOff) it is a no-op provider that starts no goroutine and
// records nothing.
//
// When on, spans go through a batch processor to an OTLP/HTTP exporter.
// The exporter, the batch processor, the sampler (OTEL_TRACES_SAMPLER,
// default parentbased_always_on) and the resource (OTEL_RESOURCE_ATTRIBUTES)
// read their OTEL_* variables from the process environment themselves;
// getenv only decides whether tracing is on.
func NewTracerProvider(ctx context.Context, getenv func(string) string, service string) (trace.TracerProvider, Shutdown, error) {
	off, err := TracingOff(getenv)
	if err != nil {
		return nil, nil, err
	}
	if off {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	// Creating the exporter dials nothing: connections are made on the
	// first export, so an unreachable collector never stops a service.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	version, _, _ := buildInfo()
	// Ours first, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// (WithFromEnv) win over them.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx) // nothing was exported yet
		return nil, nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}
