package dodo

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// FuzzParseError feeds parseAPIError arbitrary statuses, Retry-After
// headers and bodies: it must never panic, keep Body and Message short and
// valid UTF-8, and never report a negative or unbounded wait.
func FuzzParseError(f *testing.F) {
	f.Add(400, "", "", `{"code":"INVALID_REQUEST_BODY","message":"bad"}`)
	f.Add(429, "1", "", `{"code":"TOO_MANY_REQUESTS","message":"slow down"}`)
	f.Add(429, "Wed, 21 Oct 2026 07:28:00 GMT", "", ``)
	f.Add(503, "-5", "NaN", `<html>oops</html>`)
	f.Add(502, "1e309", "250", "\xff\xfe not utf8")
	f.Add(500, "", "", `{"code":12,"message":{"nested":true}}`)
	f.Add(418, "", "", `{"code":"x","message":"`+string(make([]byte, 600))+`"}`)
	now := time.Date(2026, 10, 21, 7, 27, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, retryAfter, retryAfterMs, body string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("Retry-After-Ms", retryAfterMs)
		e := parseAPIError("GET /x", status, h, []byte(body), now)
		if e.RetryAfter < 0 || e.RetryAfter > maxHeaderWait {
			t.Fatalf("RetryAfter %s out of [0, %s]", e.RetryAfter, maxHeaderWait)
		}
		for name, s := range map[string]string{"Body": e.Body, "Message": e.Message, "Code": e.Code} {
			if len(s) > maxBodySnippet || !utf8.ValidString(s) {
				t.Fatalf("%s %q: want at most %d bytes of valid UTF-8", name, s, maxBodySnippet)
			}
		}
		_ = e.Error()
		_ = IsTransient(classify(e))
	})
}

// FuzzDecode feeds every response type arbitrary bodies: decoding may fail
// but must not panic, and what decodes must encode again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(customerJSON))
	f.Add([]byte(`{"items":[{"payment_method_id":"pm","payment_method":"card","card":{"last4_digits":"4242"}}]}`))
	f.Add([]byte(`{"price":{"type":"usage_based_price","fixed_price":100,"currency":"USD"},"metadata":{"a":1e400}}`))
	f.Add([]byte(`{"new_plan":{"scheduled_change":{"product_id":"p"}},"immediate_charge":{"line_items":[{"type":"meter"}]}}`))
	f.Add([]byte(`{"metadata":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := request{endpoint: "GET /x"}
		for _, out := range []any{
			&wire.Customer{}, &wire.Product{}, &wire.Payment{}, &wire.Subscription{}, &wire.ChangePlanPreview{}, &CheckoutSession{},
			&wire.List[wire.CustomerPaymentMethod]{},
		} {
			if decode(r, &response{status: 200, body: body}, out) == nil {
				if _, err := json.Marshal(out); err != nil {
					t.Fatalf("decoded %T does not encode: %v", out, err)
				}
			}
		}
	})
}
