package standin

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is an error answer: Dodo's {"code", "message"} body with its
// HTTP status.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, "NOT_FOUND", format, args...)
}

// invalidf is the answer to a request Dodo parses but refuses: 422, the
// status the spec documents as "Invalid Request Object or Parameters".
func invalidf(format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, "INVALID_REQUEST_BODY", format, args...)
}

// noContent is what a handler returns for an answer without a body.
type noContent struct{ status int }

// api adapts a handler that returns a value to write as JSON (200), a
// noContent, or an error (an *apiError; anything else is a 500).
func (s *Server) api(h func(*http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.add(r.Pattern)
		if ae := s.takeFault(r.Pattern); ae != nil {
			writeJSON(w, ae.Status, ae)
			return
		}
		v, err := h(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = errorf(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "%v", err)
			}
			writeJSON(w, ae.Status, ae)
			return
		}
		if nc, ok := v.(noContent); ok {
			w.WriteHeader(nc.status)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"INTERNAL_SERVER_ERROR","message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func notFound(r *http.Request) (any, error) {
	return nil, notFoundf("no route %s %s", r.Method, r.URL.Path)
}

// requireAPIKey answers 401 UNAUTHORIZED unless the request carries
// "Authorization: Bearer <APIKey>".
func (s *Server) requireAPIKey(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, errorf(http.StatusUnauthorized, "UNAUTHORIZED", "missing or invalid API key"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxBody bounds a request body.
const maxBody = 1 << 20

// decodeBody decodes a JSON request body into v, refusing fields v does not
// have. As Dodo's Rust server (axum) answers: 400 for a body that is not
// JSON, 422 for JSON of the wrong shape.
//
// Judgement: unknown fields are refused. The request types list every
// field of the spec's request schema, so only a field the spec does not
// have is refused (the docs' samples send some, such as a top-level
// customer_id); Dodo may ignore such fields instead.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, "INVALID_REQUEST_BODY", "read body: %v", err)
	}
	if !json.Valid(body) {
		return errorf(http.StatusBadRequest, "INVALID_REQUEST_BODY", "request body is not JSON")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return invalidf("request body: %v", err)
	}
	return nil
}

// maxMetadataKeys is Dodo's limit on metadata keys (MAXIMUM_KEYS_REACHED).
const maxMetadataKeys = 50

// parseMetadata checks a metadata object (the spec's Metadata: values are
// strings, integers, numbers or booleans) and returns it compacted; null or
// absent is {}.
//
// Integers are accepted, as Dodo's SDKs send them, but the spec's schema
// for a value, oneOf string | integer | number | boolean, refuses every
// integer under JSON Schema (it matches both integer and number), so a
// body carrying one fails validation against the spec: send strings.
func parseMetadata(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalidf("metadata: want an object: %v", err)
	}
	if len(m) > maxMetadataKeys {
		return nil, errorf(http.StatusUnprocessableEntity, "MAXIMUM_KEYS_REACHED", "metadata has %d keys, at most %d allowed", len(m), maxMetadataKeys)
	}
	for k, v := range m {
		switch c := strings.TrimSpace(string(v)); {
		case c == "null", strings.HasPrefix(c, "{"), strings.HasPrefix(c, "["):
			return nil, invalidf("metadata %q: want a string, number or boolean", k)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalidf("metadata: %v", err)
	}
	return buf.Bytes(), nil
}
