// Package events models Dodo Payments webhook events: the envelope Dodo
// signs and sends, a typed payload for each of the 47 event types in Dodo's
// OpenAPI spec (v1.113.0) and for subscription.past_due, which Dodo added
// after it (DriftTypes), and the NATS subjects the ingest publishes them
// under. The payload types are Dodo's wire types (internal/dodo/wire),
// named here (payloads.go), so that a payment from a webhook and one from
// Dodo's API are the same Go type.
//
// The package is the contract between the ingest, which must not decode
// bodies on its hot path (see PeekType), and the workers, which decode them
// with Decode. Decoding is lenient the way the spec is: unknown fields are
// ignored, a field the spec marks nullable is a pointer (a slice or map for
// nullable arrays and objects of values), and event types the spec does not
// know yet decode to *Unknown instead of failing.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrMalformed is wrapped by every error Decode returns: the body is not an
// event (not JSON, no usable type, timestamp or data) or its data does not
// fit the payload of its type. Redelivering such a body cannot help.
var ErrMalformed = errors.New("malformed event")

// Envelope is the JSON object Dodo posts for every event. Data is the
// payload, still encoded. Decode does not use Envelope (it matches the keys
// exactly, see Decode); it is for writing events, e.g. in a fake Dodo.
type Envelope struct {
	BusinessID string          `json:"business_id"`
	Type       string          `json:"type"`
	Timestamp  time.Time       `json:"timestamp"`
	Data       json.RawMessage `json:"data"`
}

// Event is a decoded webhook. Payload is one of *Payment, *Subscription,
// *Refund, *Dispute, *LicenseKey, *Payout, *CreditLedgerEntry,
// *CreditBalanceLow, *AbandonedCheckout, *DunningAttempt or
// *EntitlementGrant, chosen by Type (see KnownTypes), or *Unknown for a type
// this package does not know.
type Event struct {
	BusinessID string
	Type       string
	Timestamp  time.Time
	Payload    any
}

// Unknown is the payload of an event type that is not in the spec this
// package was written against. Raw is the event's data object.
type Unknown struct {
	Raw json.RawMessage
}

// Decode decodes a webhook body. Keys of the envelope are matched exactly
// (unlike encoding/json's case-insensitive struct matching) so that Decode
// reads the same type as PeekType; when a key repeats, the last one wins,
// again as in PeekType. The fields inside data are matched as encoding/json
// does. Every error wraps ErrMalformed and names the offending field.
func Decode(body []byte) (Event, error) {
	// One scan validates the body and finds the envelope's keys (the
	// common case, and the worker's hot path); a body whose top-level keys
	// use escapes goes through encoding/json instead. Both match keys
	// exactly.
	t, valid, keysOK := scanEnvelope(body)
	if !valid {
		return Event{}, malformed("body is not JSON")
	}
	if !keysOK {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return Event{}, malformed("body is not a JSON object")
		}
		t = topLevel{isObject: true, typ: m["type"], businessID: m["business_id"], timestamp: m["timestamp"], data: m["data"]}
	}
	if !t.isObject {
		return Event{}, malformed("body is not a JSON object")
	}
	var ev Event
	typ := json.RawMessage(t.typ)
	if typ == nil || isNull(typ) {
		return Event{}, malformed("type is missing")
	}
	if !isString(typ) {
		return Event{}, malformed("type is not a string")
	}
	if err := json.Unmarshal(typ, &ev.Type); err != nil {
		return Event{}, malformed("type: %w", err)
	}
	if ev.Type == "" {
		return Event{}, malformed("type is empty")
	}

	if id := json.RawMessage(t.businessID); id != nil && !isNull(id) {
		if !isString(id) {
			return Event{}, malformed("%s: business_id is not a string", ev.Type)
		}
		if err := json.Unmarshal(id, &ev.BusinessID); err != nil {
			return Event{}, malformed("%s: business_id: %w", ev.Type, err)
		}
	}

	ts := json.RawMessage(t.timestamp)
	if ts == nil || isNull(ts) {
		return Event{}, malformed("%s: timestamp is missing", ev.Type)
	}
	if !isString(ts) {
		return Event{}, malformed("%s: timestamp is not a string", ev.Type)
	}
	// time.Time decodes JSON strings as strict RFC 3339.
	if err := json.Unmarshal(ts, &ev.Timestamp); err != nil {
		return Event{}, malformed("%s: timestamp is not RFC 3339: %w", ev.Type, err)
	}

	data := json.RawMessage(t.data)
	if data == nil || isNull(data) {
		return Event{}, malformed("%s: data is missing", ev.Type)
	}
	if !isObject(data) {
		return Event{}, malformed("%s: data is not an object", ev.Type)
	}

	info, known := knownTypes[ev.Type]
	if !known {
		ev.Payload = &Unknown{Raw: bytes.Clone(data)} // data aliases body
		return ev, nil
	}
	p := info.payload()
	if err := json.Unmarshal(data, p); err != nil {
		return Event{}, malformed("decode %s data: %w", ev.Type, err)
	}
	ev.Payload = p
	return ev, nil
}

// CustomerID returns the id of the customer the event is about, or "" when
// its payload has none (payouts, unknown types).
func (e Event) CustomerID() string {
	switch p := e.Payload.(type) {
	case *Payment:
		return p.CustomerID()
	case *Subscription:
		return p.CustomerID()
	case *Refund:
		return p.CustomerID()
	case *Dispute:
		return p.CustomerID()
	case *LicenseKey:
		if p != nil {
			return p.CustomerID
		}
	case *CreditLedgerEntry:
		if p != nil {
			return p.CustomerID
		}
	case *CreditBalanceLow:
		if p != nil {
			return p.CustomerID
		}
	case *AbandonedCheckout:
		if p != nil {
			return p.CustomerID
		}
	case *DunningAttempt:
		if p != nil {
			return p.CustomerID
		}
	case *EntitlementGrant:
		if p != nil {
			return p.CustomerID
		}
	}
	return ""
}

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// isNull reports whether the JSON value v is null.
func isNull(v json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// isString reports whether the JSON value v is a string.
func isString(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '"'
}

// isObject reports whether the JSON value v is an object.
func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}
