package standin

import (
	"maps"
	"testing"
)

// TestCalls: GET /_standin/calls counts the requests of each of Dodo's
// routes by pattern, a fault answer included, and neither the stand-in's
// own routes nor unknown paths.
func TestCalls(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.mustDo(200, "GET", "/products/"+pdtGuide, nil)
	e.mustDo(200, "GET", "/products/"+pdtPro, nil)
	e.mustDo(200, "GET", "/customers/"+custAna+"/payment-methods", nil)
	e.mustDo(200, "POST", "/_standin/faults", map[string]any{"route": "GET /payments", "n": 1, "status": 503, "code": "SERVICE_UNAVAILABLE"})
	e.wantError(503, "SERVICE_UNAVAILABLE", "GET", "/payments", nil)
	e.wantError(404, "NOT_FOUND", "GET", "/no-such-route", nil)
	e.mustDo(200, "GET", "/_standin/ledger", nil)

	got := decode[Calls](t, e.mustDo(200, "GET", "/_standin/calls", nil))
	want := map[string]int64{
		"GET /products/{id}":                           2,
		"GET /customers/{customer_id}/payment-methods": 1,
		"GET /payments":                                1,
	}
	if !maps.Equal(got.ByRoute, want) || got.Total != 4 {
		t.Errorf("calls = %+v, want total 4 and %v", got, want)
	}
	if c := e.s.Calls(); c.Total != got.Total || !maps.Equal(c.ByRoute, got.ByRoute) {
		t.Errorf("Calls() = %+v, want what the route answered, %+v", c, got)
	}
}

func TestCallsSince(t *testing.T) {
	before := Calls{Total: 3, ByRoute: map[string]int64{"GET /products": 2, "POST /checkouts": 1}}
	after := Calls{Total: 7, ByRoute: map[string]int64{"GET /products": 2, "POST /checkouts": 3, "GET /payments/{payment_id}": 2}}
	got := after.Since(before)
	want := Calls{Total: 4, ByRoute: map[string]int64{"POST /checkouts": 2, "GET /payments/{payment_id}": 2}}
	if got.Total != want.Total || !maps.Equal(got.ByRoute, want.ByRoute) {
		t.Fatalf("Since = %+v, want %+v (a route not called in between is left out)", got, want)
	}
}
