package dodo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offerflow/offerflow/internal/fault"
)

// ErrAmbiguous is wrapped by the error of a money-moving POST (a one-click
// checkout, a plan change) whose outcome is unknown: the request may have
// reached Dodo, the answer was lost, and the follow-up lookup found no trace
// of it. Repeating the POST could charge twice, so the error is also marked
// fault.Permanent: the worker dead-letters it for a person (or a later
// reconciliation from webhooks) instead of redelivering it into a second
// charge.
var ErrAmbiguous = errors.New("dodo: outcome unknown")

// ErrTooManyPages is wrapped by ListAllPayments when it stops at its page
// bound before reaching an empty page; the payments read so far are returned
// with it.
var ErrTooManyPages = errors.New("dodo: too many pages")

// maxBodySnippet bounds the part of an error body kept in an APIError.
const maxBodySnippet = 512

// APIError is a non-2xx answer from Dodo. Dodo's error bodies are
// {"code": "...", "message": "..."} (the spec documents no error schema, the
// docs do); a body that is not that JSON still yields an APIError, with Code
// and Message empty and the start of the body in Body.
type APIError struct {
	// Endpoint is the operation, as method and path template, for example
	// "GET /payments/{payment_id}".
	Endpoint   string
	StatusCode int
	// Code is Dodo's machine-readable code, for example
	// "PENDING_PLAN_CHANGE_EXISTS"; empty if the body had none.
	Code    string
	Message string
	// RetryAfter is the wait Dodo asked for with Retry-After-Ms or
	// Retry-After (seconds or an HTTP date); zero if it asked for none.
	RetryAfter time.Duration
	// Body is the start of the response body (at most 512 bytes, valid
	// UTF-8), for a body that is not Dodo's JSON error.
	Body string
}

// Error reports the endpoint, status, code and message.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dodo %s: %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Code == "" && e.Message == "" && e.Body != "" {
		fmt.Fprintf(&b, ": body %q", e.Body)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Transient reports whether waiting can fix the error: 408, 429 and every
// 5xx (which includes the 502 the spec documents for an unavailable
// payment-method service).
func (e *APIError) Transient() bool {
	return e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode >= 500
}

// transportError is a failure to get a complete answer: a network error, a
// timeout, a response cut short. notSent is true only when the request
// surely never reached Dodo (see sureNotSent).
type transportError struct {
	endpoint string
	err      error
	timeout  bool
	notSent  bool
}

func (e *transportError) Error() string {
	switch {
	case e.timeout:
		return fmt.Sprintf("dodo %s: timed out: %v", e.endpoint, e.err)
	case e.notSent:
		return fmt.Sprintf("dodo %s: not sent: %v", e.endpoint, e.err)
	}
	return fmt.Sprintf("dodo %s: %v", e.endpoint, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// IsTransient reports whether err is worth retrying later: a network error,
// a timeout, a response cut short, or an APIError with status 408, 429 or
// 5xx. It is false for nil, for anything marked fault.Permanent (4xx
// answers, malformed bodies, invalid requests), for ErrAmbiguous, and for a
// cancelled context.
func IsTransient(err error) bool {
	if err == nil || fault.IsPermanent(err) || errors.Is(err, ErrAmbiguous) || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Transient()
	}
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// classify marks an APIError permanent unless waiting can fix it.
func classify(err *APIError) error {
	if err.Transient() {
		return err
	}
	return fault.Permanent(err)
}

// parseAPIError builds the APIError of a non-2xx response from its status,
// headers and (possibly truncated) body. It never fails: a body that is not
// Dodo's JSON error is kept as a snippet.
func parseAPIError(endpoint string, status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Endpoint: endpoint, StatusCode: status, RetryAfter: retryAfter(h, now)}
	if status == http.StatusTooManyRequests && e.RetryAfter == 0 {
		// Over the limit without Retry-After: the window's reset.
		e.RetryAfter = rateLimitReset(h, now)
	}
	var eb struct {
		Code    any `json:"code"`
		Message any `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Code = jsonText(eb.Code)
		e.Message = jsonText(eb.Message)
	}
	if e.Code == "" && e.Message == "" {
		e.Body = snippet(body)
	}
	return e
}

// jsonText renders a decoded JSON value as text: strings as they are,
// numbers and booleans as literals, anything else as nothing.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return truncate(v, maxBodySnippet)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// snippet returns the start of body as valid UTF-8, at most maxBodySnippet
// bytes, with surrounding space trimmed.
func snippet(body []byte) string {
	return strings.TrimSpace(truncate(string(body), maxBodySnippet))
}

// truncate returns s as valid UTF-8 (invalid bytes replaced), cut to at
// most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) > n+utf8.UTFMax {
		s = s[:n+utf8.UTFMax] // what is cut here would be cut below anyway
	}
	s = strings.ToValidUTF8(s, "\uFFFD") // may grow: one invalid byte becomes three
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// retryAfter reads the wait a response asks for: Retry-After-Ms
// (milliseconds, what Dodo's SDKs read first), else Retry-After in seconds
// or as an HTTP date relative to now. Unparsable or negative values count as
// no wait.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil {
			return boundedWait(ms / 1000)
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return boundedWait(secs)
	}
	if t, err := http.ParseTime(v); err == nil {
		return boundedWait(t.Sub(now).Seconds())
	}
	return 0
}

// rateLimitReset reads X-RateLimit-Reset, which Dodo sends with its rate
// limits but whose format it does not document: a number above a billion
// is read as the Unix time the window resets at, a smaller one as the
// seconds until then; anything else is no wait.
func rateLimitReset(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	secs, err := strconv.ParseFloat(v, 64)
	if v == "" || err != nil {
		return 0
	}
	if secs > 1e9 {
		return boundedWait(secs - float64(now.UnixNano())/1e9)
	}
	return boundedWait(secs)
}

// boundedWait turns seconds into a Duration between 0 and maxHeaderWait;
// NaN and negative values are 0.
func boundedWait(secs float64) time.Duration {
	switch {
	case !(secs > 0):
		return 0
	case secs >= maxHeaderWait.Seconds():
		return maxHeaderWait
	}
	return time.Duration(secs * float64(time.Second))
}

// maxHeaderWait caps what retryAfter reports, so that an absurd header does
// not overflow a Duration; the retry logic has its own, lower cap.
const maxHeaderWait = 24 * time.Hour
