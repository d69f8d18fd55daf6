package standin

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FailNext makes a route answer an error for its next n requests only, with
// Dodo's error body; other routes are untouched.
func TestFailNext(t *testing.T) {
	e := newEnv(t, date(2026, 4, 1))
	e.s.FailNext("GET /products/{id}", 2, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "try later")
	for i := range 2 {
		status, body := e.do(http.MethodGet, "/products/"+pdtGuide, nil)
		var ae struct{ Code, Message string }
		if err := json.Unmarshal(body, &ae); err != nil || status != http.StatusServiceUnavailable || ae.Code != "SERVICE_UNAVAILABLE" || ae.Message != "try later" {
			t.Fatalf("request %d: %d %s, want the injected 503", i+1, status, body)
		}
	}
	if status, body := e.do(http.MethodGet, "/products/"+pdtGuide, nil); status != http.StatusOK {
		t.Fatalf("third request: %d %s, want 200", status, body)
	}
	e.s.FailNext("GET /customers/{customer_id}", 1, http.StatusUnprocessableEntity, "INVALID_REQUEST_BODY", "no")
	if status, _ := e.do(http.MethodGet, "/products/"+pdtGuide, nil); status != http.StatusOK {
		t.Fatalf("another route: %d, want 200", status)
	}
	e.s.FailNext("GET /customers/{customer_id}", 0, 0, "", "")
	if status, body := e.do(http.MethodGet, "/customers/"+custAna, nil); status != http.StatusOK {
		t.Fatalf("after clearing: %d %s, want 200", status, body)
	}
}

// TestFaultsRoute: POST /_standin/faults is FailNext over HTTP, for Dodo's
// routes only.
func TestFaultsRoute(t *testing.T) {
	e := newEnv(t, date(2026, 4, 1))
	e.mustDo(200, "POST", "/_standin/faults", map[string]any{"route": "POST /checkouts", "n": 1, "status": 503, "code": "SERVICE_UNAVAILABLE"})
	e.wantError(503, "SERVICE_UNAVAILABLE", "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	if n := e.s.Charges(custAna); n != 1 {
		t.Errorf("charges = %d, want 1: the failed request charged nothing", n)
	}
	e.mustDo(200, "POST", "/_standin/faults", map[string]any{"route": "GET /products/{id}", "n": 5, "status": 500, "code": "INTERNAL_SERVER_ERROR"})
	e.mustDo(200, "POST", "/_standin/faults", map[string]any{"route": "GET /products/{id}", "n": 0})
	e.mustDo(200, "GET", "/products/"+pdtGuide, nil)
	for _, body := range []any{
		map[string]any{"route": "POST /_standin/faults", "n": 1, "status": 500, "code": "X"},
		map[string]any{"route": "GET /nowhere", "n": 1, "status": 500, "code": "X"},
		map[string]any{"route": "POST /checkouts", "n": 1, "status": 200, "code": "X"},
		map[string]any{"route": "POST /checkouts", "n": 1, "status": 500, "code": "lower"},
		map[string]any{"route": "POST /checkouts", "n": -1},
	} {
		e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/_standin/faults", body)
	}
}
