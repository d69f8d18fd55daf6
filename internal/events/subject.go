package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// SubjectPrefix starts the NATS subject of every event: the ingest
// publishes an event of type t under SubjectPrefix + t.
const SubjectPrefix = "dodo.events."

// Subjects for correctly signed bodies that cannot be routed by type. The
// token after the prefix starts with an underscore, which ValidType rejects,
// so they cannot collide with the subject of an event type.
const (
	// SubjectInvalidJSON receives signed bodies that are not JSON.
	SubjectInvalidJSON = SubjectPrefix + "_invalid.json"
	// SubjectInvalidType receives signed JSON bodies without a usable
	// type: not an object, no "type" string, or a type ValidType rejects.
	SubjectInvalidType = SubjectPrefix + "_invalid.type"
)

// maxTypeLen is the longest type ValidType accepts.
const maxTypeLen = 128

// ErrNotJSON is returned by PeekType for a body that is not valid JSON.
var ErrNotJSON = errors.New("body is not JSON")

// ErrNoType is returned by PeekType for a JSON body whose top level is not
// an object or has no "type" string.
var ErrNoType = errors.New("body has no type")

// Subject returns the NATS subject for events of type eventType. The caller
// checks the type with ValidType first. Subjects of known types are
// precomputed, so Subject does not allocate for them.
func Subject(eventType string) string {
	if info, ok := knownTypes[eventType]; ok {
		return info.subject
	}
	return SubjectPrefix + eventType
}

// ValidType reports whether t can be used as the tokens of a NATS subject
// after SubjectPrefix: 1 to 128 bytes of dot-separated, non-empty tokens of
// [a-z0-9_], starting with a lowercase letter. This rules out wildcards
// ("*", ">"), whitespace, empty tokens and a leading underscore, which is
// reserved for SubjectInvalidJSON and SubjectInvalidType.
func ValidType(t string) bool {
	if len(t) == 0 || len(t) > maxTypeLen || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	prevDot := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_':
		default:
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// PeekType returns the "type" of a webhook body without decoding it: the
// ingest's hot path routes every body by its type and must not pay for a
// full decode. The body must be valid JSON (else ErrNotJSON) whose top
// level is an object with a string under the exact key "type" (else
// ErrNoType). Nested objects are skipped, so a "type" inside data does not
// count. If the key appears more than once, the last one wins, as with
// encoding/json.
//
// The normal path (keys without escapes, a known type) does not allocate.
// A top-level key written with escapes ("\u0074ype") sends the body to a
// slow path through encoding/json, which matches keys exactly too: unlike
// decoding into a struct, "TYPE" is not "type".
func PeekType(body []byte) (string, error) {
	top, valid, keysOK := scanEnvelope(body)
	if !valid {
		return "", ErrNotJSON
	}
	if !keysOK {
		return peekTypeSlow(body)
	}
	if !top.isObject {
		return "", ErrNoType
	}
	val := top.typ
	if len(val) == 0 || val[0] != '"' {
		return "", ErrNoType
	}
	return typeString(val)
}

// topLevel holds the raw values of the envelope's keys, found by one scan
// of a valid JSON body. A key that repeats keeps its last value, as with
// encoding/json.
type topLevel struct {
	isObject                         bool
	typ, businessID, timestamp, data []byte
}

// peekTypeSlow is PeekType for bodies with escaped top-level keys.
func peekTypeSlow(body []byte) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", ErrNoType
	}
	val, ok := top["type"]
	if !ok || len(val) == 0 || val[0] != '"' {
		return "", ErrNoType
	}
	return typeString(val)
}

// typeString returns the JSON string literal lit as a Go string. A known
// type is returned as its constant, without allocating.
func typeString(lit []byte) (string, error) {
	raw := lit[1 : len(lit)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		// The conversion in a map index does not allocate; the type is
		// the tail of the precomputed subject.
		if info, ok := knownTypes[string(raw)]; ok {
			return info.subject[len(SubjectPrefix):], nil
		}
		return string(raw), nil
	}
	// Escapes or invalid UTF-8 (which encoding/json replaces with U+FFFD):
	// let encoding/json decide what the string is.
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", ErrNoType
	}
	return s, nil
}
