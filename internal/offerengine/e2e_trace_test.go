package offerengine_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// One trace follows a webhook from its POST at the ingest, through the
// trace context stored in its NATS headers, to the worker's span of the
// message, its effects and the offer engine's calls to Dodo that make the
// one-click offer. Each span's parent is checked, not only the trace id.
//
// The one-click charge is made when the customer accepts, a request of its
// own, but it continues the same trace: the offer keeps the traceparent of
// the span that made it, the accept's span is that span's child (linked to
// the accept request's span), and POST /checkouts is under it. So one
// trace runs from the webhook's POST to the charge. And a signal's trace runs from its POST at the ingest, through NATS, to
// the checkout link the engine asks Dodo for when the customer has no
// card.
func TestTraceFromWebhookToDodo(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	// Syncer: each span is exported when it ends, so nothing waits in a
	// batch when the test reads them.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := newEnv(t, testenv.WithTracerProvider(tp))

	pm := e.customer("cus_tr", card(goodCard))
	exp.Reset()
	e.buy("cus_tr", pm, "pdt_course")
	waitChain(t, exp, "dodo list_payment_methods")
	spans := exp.GetSpans().Snapshots()
	chain := ancestry(t, spans, func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "dodo list_payment_methods" })
	root := wantChain(t, chain, []step{
		{"dodo list_payment_methods", trace.SpanKindClient},
		{"offers", trace.SpanKindInternal},
		{"process " + service.OffersConsumer, trace.SpanKindConsumer},
		{"POST /webhooks/dodo", trace.SpanKindServer},
	})
	// Every span of that trace hangs from the root by recorded parents:
	// the ledger, access, the confirmations and each Dodo call.
	inTrace := map[string]bool{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() {
			inTrace[s.Name()] = true
			id := s.SpanContext().SpanID()
			top := ancestry(t, spans, func(o sdktrace.ReadOnlySpan) bool { return o.SpanContext().SpanID() == id })
			if top[len(top)-1].SpanContext().SpanID() != root.SpanContext().SpanID() {
				t.Errorf("span %s: chain %s does not end at the webhook's span", s.Name(), names(top))
			}
		}
	}
	for _, n := range []string{"ledger claim", "access", "offers", "confirmations", "ledger commit", "dodo get_product"} {
		if !inTrace[n] {
			t.Errorf("no span %q in the webhook's trace; it has %v", n, inTrace)
		}
	}

	// The charge continues the webhook's trace: the offer keeps the
	// traceparent of the span that made it, and the accept's span is its
	// child, linked to the accept request's own span.
	o := e.created("cus_tr", "pdt_workbook")
	if o.TraceParent == "" || !strings.Contains(o.TraceParent, root.SpanContext().TraceID().String()) {
		t.Fatalf("offer traceparent %q, want one of the webhook's trace %s", o.TraceParent, root.SpanContext().TraceID())
	}
	before := exp.GetSpans().Snapshots()
	exp.Reset()
	if status, body := e.accept(o.ID, o.AcceptToken); status != http.StatusOK || str(body, "outcome") != "charged" {
		t.Fatalf("accept: %d %v, want 200 charged", status, body)
	}
	waitChain(t, exp, "POST /v1/offers/{offer_id}/accept")
	after := exp.GetSpans().Snapshots()
	charge := ancestry(t, append(slices.Clone(before), after...), func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "dodo create_checkout" })
	wantChain(t, charge, []step{
		{"dodo create_checkout", trace.SpanKindClient},
		{"offer accept", trace.SpanKindInternal},
		{"offers", trace.SpanKindInternal},
		{"process " + service.OffersConsumer, trace.SpanKindConsumer},
		{"POST /webhooks/dodo", trace.SpanKindServer},
	})
	if charge[0].SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Errorf("the charge is in trace %s, want the webhook's %s", charge[0].SpanContext().TraceID(), root.SpanContext().TraceID())
	}
	var acceptHTTP sdktrace.ReadOnlySpan
	for _, s := range after {
		if s.Name() == "POST /v1/offers/{offer_id}/accept" {
			acceptHTTP = s
		}
	}
	if acceptHTTP == nil {
		t.Fatal("no span of the accept request")
	}
	if links := charge[1].Links(); len(links) != 1 || links[0].SpanContext.SpanID() != acceptHTTP.SpanContext().SpanID() {
		t.Errorf("offer accept links %v, want the accept request's span %s", links, acceptHTTP.SpanContext().SpanID())
	}
	e.settle()

	// A signal for a customer without a card: the checkout link.
	e.customer("cus_nocard")
	exp.Reset()
	e.signal("cus_nocard", "onb-tr", "onboarding_completed", 1)
	waitChain(t, exp, "dodo create_checkout")
	wantChain(t, ancestry(t, exp.GetSpans().Snapshots(), func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "dodo create_checkout" }), []step{
		{"dodo create_checkout", trace.SpanKindClient},
		{"process offerflow-signals", trace.SpanKindConsumer},
		{"POST /v1/customers/{customer_id}/signals", trace.SpanKindServer},
	})
}

// waitChain waits until a span named name and all its ancestors have
// ended: a server span ends just after its answer is written, so the
// client, and the worker after it, may be done first.
func waitChain(t *testing.T, exp *tracetest.InMemoryExporter, name string) {
	t.Helper()
	natstest.WaitFor(t, time.Minute, "the spans of "+name, func() bool {
		spans := exp.GetSpans().Snapshots()
		ended := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			ended[s.SpanContext().SpanID()] = s
		}
		for _, s := range spans {
			if s.Name() != name {
				continue
			}
			cur, ok := s, true
			for ok && cur.Parent().IsValid() {
				cur, ok = ended[cur.Parent().SpanID()]
			}
			if ok {
				return true
			}
		}
		return false
	})
}

type step struct {
	name string
	kind trace.SpanKind
}

// wantChain checks a chain from ancestry against want and returns its
// root.
func wantChain(t *testing.T, chain []sdktrace.ReadOnlySpan, want []step) sdktrace.ReadOnlySpan {
	t.Helper()
	if len(chain) != len(want) {
		t.Fatalf("span chain %s, want %v", names(chain), want)
	}
	for i, w := range want {
		if chain[i].Name() != w.name || chain[i].SpanKind() != w.kind {
			t.Fatalf("span %d of %s: %s (%s), want %s (%s)", i, names(chain), chain[i].Name(), chain[i].SpanKind(), w.name, w.kind)
		}
	}
	return chain[len(chain)-1]
}

// ancestry returns the first span that match picks, then its parent, and
// so on to the root, failing t when a parent is not among spans.
func ancestry(t *testing.T, spans []sdktrace.ReadOnlySpan, match func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var start sdktrace.ReadOnlySpan
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
		if start == nil && match(s) {
			start = s
		}
	}
	if start == nil {
		all := make([]string, 0, len(spans))
		for _, s := range spans {
			all = append(all, s.Name())
		}
		t.Fatalf("no such span among %v", all)
	}
	chain := []sdktrace.ReadOnlySpan{start}
	for cur := start; cur.Parent().IsValid(); {
		parent, ok := byID[cur.Parent().SpanID()]
		switch {
		case !ok:
			t.Fatalf("span %s: its parent %s was not recorded", cur.Name(), cur.Parent().SpanID())
		case parent.SpanContext().TraceID() != cur.SpanContext().TraceID():
			t.Fatalf("span %s: its parent %s is in another trace", cur.Name(), parent.Name())
		}
		chain = append(chain, parent)
		cur = parent
	}
	return chain
}

func names(spans []sdktrace.ReadOnlySpan) string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return strings.Join(out, " <- ")
}
