package confirm

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/natsbus"
)

// The email is a client span, a child of the caller's span, named by the
// confirmation and not by the address; the second Send, which sends no
// email, makes no span.
func TestEmailSpan(t *testing.T) {
	e := newEnv(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	svc := NewService(e.ledger, natsbus.NewPublisher(e.js, 5*time.Second), e.smtp.mailer(t), newRenderer(t, ""), zap.NewNop(), e.clock.Now, tp)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "confirmations")
	c := valid(OfferPurchased)
	for range 2 {
		if err := svc.Send(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	parent.End()
	var emails []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "confirm email" {
			emails = append(emails, s)
		}
	}
	if len(emails) != 1 {
		t.Fatalf("%d email spans, want 1", len(emails))
	}
	s := emails[0]
	if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("email span kind %s parent %s, want a client span under %s", s.SpanKind(), s.Parent().SpanID(), parent.SpanContext().SpanID())
	}
	for _, a := range s.Attributes() {
		if a.Value.AsString() == c.Email {
			t.Fatalf("the address is in the span: %s", a.Key)
		}
	}
}
