package offerengine

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeSignal parses and validates a signal from outside (a NATS message
// or an HTTP body). Unknown fields are refused, so a typo in a field name
// is an error rather than a signal with a zero value.
func DecodeSignal(data []byte) (Signal, error) {
	var s Signal
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("signal: %w", err)
	}
	if dec.More() {
		return s, fmt.Errorf("signal: trailing data after the JSON object")
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("signal: %w", err)
	}
	return s, nil
}

// DecodeRequest parses and validates an on-demand offer request body
// (POST /v1/customers/{id}/offers), refusing unknown fields.
func DecodeRequest(data []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("offer request: %w", err)
	}
	if dec.More() {
		return r, fmt.Errorf("offer request: trailing data after the JSON object")
	}
	if _, err := r.Validate(); err != nil {
		return r, fmt.Errorf("offer request: %w", err)
	}
	return r, nil
}

// DecodeAnswer parses the optional body of an accept or decline:
// {"token": "..."}. An empty body is no token.
func DecodeAnswer(data []byte) (string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	var a struct {
		Token string `json:"token"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return "", fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return "", fmt.Errorf("body: trailing data after the JSON object")
	}
	return a.Token, nil
}
