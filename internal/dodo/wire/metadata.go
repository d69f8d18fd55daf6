package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Metadata is the merchant's key-value data on a checkout, payment,
// subscription, customer and so on (spec Metadata). The spec allows
// string, integer, number and boolean values, so Metadata is not a map of
// strings: read a value as text with MetadataValue.String, or as a string
// only with Text. Integers decode exactly (no float64 rounding).
type Metadata map[string]MetadataValue

// Text returns the value under key and whether it is a string. Unlike
// m[key].String(), it does not read a number or a bool as text: what
// offerflow wrote as a string id is only ever found as one.
func (m Metadata) Text(key string) (string, bool) {
	v, ok := m[key]
	if !ok || v.kind != MetadataString {
		return "", false
	}
	return v.s, true
}

// MetadataKind is the JSON kind of a MetadataValue.
type MetadataKind uint8

// The kinds of MetadataValue.
const (
	// MetadataNone is the kind of the zero MetadataValue.
	MetadataNone MetadataKind = iota
	// MetadataString is a JSON string.
	MetadataString
	// MetadataInt is a JSON number written as an integer (no fraction, no
	// exponent) that fits an int64.
	MetadataInt
	// MetadataFloat is any other JSON number.
	MetadataFloat
	// MetadataBool is true or false.
	MetadataBool
	// MetadataRaw is what the spec does not allow in metadata (null, an
	// object, an array), kept as JSON rather than failing the whole event.
	MetadataRaw
)

// MetadataValue is one metadata value: a string, an int64, a float64, a
// bool, or (for kinds the spec does not allow) raw JSON. The zero value is
// MetadataNone and reads as "".
type MetadataValue struct {
	kind MetadataKind
	s    string          // MetadataString
	n    int64           // MetadataInt
	f    float64         // MetadataFloat
	b    bool            // MetadataBool
	raw  json.RawMessage // MetadataRaw; the literal of a decoded MetadataFloat
}

// StringValue returns a MetadataValue holding the string s.
func StringValue(s string) MetadataValue { return MetadataValue{kind: MetadataString, s: s} }

// IntValue returns a MetadataValue holding the integer n.
func IntValue(n int64) MetadataValue { return MetadataValue{kind: MetadataInt, n: n} }

// FloatValue returns a MetadataValue holding the number f.
func FloatValue(f float64) MetadataValue { return MetadataValue{kind: MetadataFloat, f: f} }

// BoolValue returns a MetadataValue holding b.
func BoolValue(b bool) MetadataValue { return MetadataValue{kind: MetadataBool, b: b} }

// Kind returns the JSON kind of v.
func (v MetadataValue) Kind() MetadataKind { return v.kind }

// Int returns v as an int64 and true if v is a MetadataInt.
func (v MetadataValue) Int() (int64, bool) { return v.n, v.kind == MetadataInt }

// Float returns v as a float64 and true if v is a number (a MetadataInt or
// a MetadataFloat).
func (v MetadataValue) Float() (float64, bool) {
	switch v.kind {
	case MetadataInt:
		return float64(v.n), true
	case MetadataFloat:
		return v.f, true
	}
	return 0, false
}

// Bool returns v as a bool and true if v is a MetadataBool.
func (v MetadataValue) Bool() (bool, bool) { return v.b, v.kind == MetadataBool }

// String returns v as text: a string as is, a number in decimal (as JSON
// would write it), a bool as "true" or "false", a raw value as its JSON, and
// the zero value as "".
func (v MetadataValue) String() string {
	switch v.kind {
	case MetadataString:
		return v.s
	case MetadataInt:
		return strconv.FormatInt(v.n, 10)
	case MetadataFloat:
		return formatFloat(v.f)
	case MetadataBool:
		return strconv.FormatBool(v.b)
	case MetadataRaw:
		return string(v.raw)
	}
	return ""
}

// MarshalJSON writes v back as the kind it was decoded from (or built as).
// The zero value is written as null.
func (v MetadataValue) MarshalJSON() ([]byte, error) {
	switch v.kind {
	case MetadataString:
		return json.Marshal(v.s)
	case MetadataInt:
		return strconv.AppendInt(nil, v.n, 10), nil
	case MetadataFloat:
		if v.raw != nil {
			return bytes.Clone(v.raw), nil
		}
		if math.IsInf(v.f, 0) || math.IsNaN(v.f) {
			return nil, fmt.Errorf("metadata value %v: not representable in JSON", v.f)
		}
		s := formatFloat(v.f)
		// Keep a float a float when it is read back: 2 would decode as
		// MetadataInt, 2.0 does not.
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return []byte(s), nil
	case MetadataBool:
		return strconv.AppendBool(nil, v.b), nil
	case MetadataRaw:
		return bytes.Clone(v.raw), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON decodes any JSON value. Strings, numbers and booleans get
// their kind; anything else is kept as MetadataRaw.
func (v *MetadataValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("metadata value: empty")
	}
	switch c := b[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("metadata value: %w", err)
		}
		*v = StringValue(s)
	case c == 't' || c == 'f':
		var x bool
		if err := json.Unmarshal(b, &x); err != nil {
			return fmt.Errorf("metadata value: %w", err)
		}
		*v = BoolValue(x)
	case c == '-' || '0' <= c && c <= '9':
		if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			*v = IntValue(n)
			return nil
		}
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("metadata value: %w", err)
		}
		// Out of range numbers (1e999) become ±Inf; the literal is kept
		// so that MarshalJSON still writes valid JSON.
		*v = MetadataValue{kind: MetadataFloat, f: f, raw: bytes.Clone(b)}
	default:
		*v = MetadataValue{kind: MetadataRaw, raw: bytes.Clone(b)}
	}
	return nil
}

// formatFloat formats f the way encoding/json does.
func formatFloat(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.FormatFloat(f, format, -1, 64)
}
