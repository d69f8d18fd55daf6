package wire

import (
	"encoding/json"
	"math"
	"testing"
)

func TestMetadataValueDecode(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		kind     MetadataKind
		text     string
		marshal  string // what MarshalJSON writes back
		wantInt  int64
		wantNum  float64
		isNumber bool
	}{
		{name: "string", json: `"upsell_pro"`, kind: MetadataString, text: "upsell_pro", marshal: `"upsell_pro"`},
		{name: "string with escapes", json: `"a\"b\u00e9"`, kind: MetadataString, text: `a"bé`, marshal: `"a\"bé"`},
		{name: "empty string", json: `""`, kind: MetadataString, text: "", marshal: `""`},
		{name: "integer", json: `42`, kind: MetadataInt, text: "42", marshal: `42`, wantInt: 42, wantNum: 42, isNumber: true},
		{name: "negative integer", json: `-9223372036854775808`, kind: MetadataInt, text: "-9223372036854775808", marshal: `-9223372036854775808`, wantInt: math.MinInt64, wantNum: -9223372036854775808, isNumber: true},
		{name: "float", json: `19.99`, kind: MetadataFloat, text: "19.99", marshal: `19.99`, wantNum: 19.99, isNumber: true},
		{name: "float with zero fraction", json: `2.0`, kind: MetadataFloat, text: "2", marshal: `2.0`, wantNum: 2, isNumber: true},
		{name: "exponent", json: `1e3`, kind: MetadataFloat, text: "1000", marshal: `1e3`, wantNum: 1000, isNumber: true},
		{name: "beyond int64", json: `9223372036854775808`, kind: MetadataFloat, text: "9223372036854776000", marshal: `9223372036854775808`, wantNum: 9223372036854775808, isNumber: true},
		{name: "beyond float64", json: `1e999`, kind: MetadataFloat, text: "+Inf", marshal: `1e999`, wantNum: math.Inf(1), isNumber: true},
		{name: "true", json: `true`, kind: MetadataBool, text: "true", marshal: `true`},
		{name: "false", json: `false`, kind: MetadataBool, text: "false", marshal: `false`},
		{name: "null", json: `null`, kind: MetadataRaw, text: "null", marshal: `null`},
		{name: "object", json: `{"a": [1, 2]}`, kind: MetadataRaw, text: `{"a": [1, 2]}`, marshal: `{"a":[1,2]}`},
		{name: "array", json: `["x"]`, kind: MetadataRaw, text: `["x"]`, marshal: `["x"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Metadata
			if err := json.Unmarshal([]byte(`{"k":`+tt.json+`}`), &m); err != nil {
				t.Fatalf("Unmarshal: got error %v, want nil", err)
			}
			v, ok := m["k"]
			if !ok {
				t.Fatalf("key k: missing, want present")
			}
			if v.Kind() != tt.kind {
				t.Errorf("Kind(): got %d, want %d", v.Kind(), tt.kind)
			}
			if v.String() != tt.text {
				t.Errorf("String(): got %q, want %q", v.String(), tt.text)
			}
			out, err := json.Marshal(v)
			if err != nil || string(out) != tt.marshal {
				t.Errorf("Marshal: got %s, %v, want %s, nil", out, err, tt.marshal)
			}
			if n, ok := v.Int(); ok != (tt.kind == MetadataInt) || n != tt.wantInt {
				t.Errorf("Int(): got %d, %v, want %d, %v", n, ok, tt.wantInt, tt.kind == MetadataInt)
			}
			if f, ok := v.Float(); ok != tt.isNumber || f != tt.wantNum {
				t.Errorf("Float(): got %v, %v, want %v, %v", f, ok, tt.wantNum, tt.isNumber)
			}
			// Written back and read again, the value keeps its kind.
			var again MetadataValue
			if err := json.Unmarshal(out, &again); err != nil || again.Kind() != tt.kind {
				t.Errorf("round trip: got kind %d, %v, want kind %d, nil", again.Kind(), err, tt.kind)
			}
		})
	}
}

func TestMetadataValueBuilt(t *testing.T) {
	tests := []struct {
		name    string
		v       MetadataValue
		kind    MetadataKind
		text    string
		marshal string
	}{
		{name: "zero", v: MetadataValue{}, kind: MetadataNone, text: "", marshal: `null`},
		{name: "string", v: StringValue("x"), kind: MetadataString, text: "x", marshal: `"x"`},
		{name: "int", v: IntValue(-3), kind: MetadataInt, text: "-3", marshal: `-3`},
		{name: "whole float stays a float", v: FloatValue(3), kind: MetadataFloat, text: "3", marshal: `3.0`},
		{name: "float", v: FloatValue(0.25), kind: MetadataFloat, text: "0.25", marshal: `0.25`},
		{name: "small float", v: FloatValue(1e-7), kind: MetadataFloat, text: "1e-07", marshal: `1e-07`},
		{name: "large float", v: FloatValue(1e21), kind: MetadataFloat, text: "1e+21", marshal: `1e+21`},
		{name: "bool", v: BoolValue(true), kind: MetadataBool, text: "true", marshal: `true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.Kind() != tt.kind || tt.v.String() != tt.text {
				t.Errorf("got kind %d %q, want kind %d %q", tt.v.Kind(), tt.v.String(), tt.kind, tt.text)
			}
			out, err := json.Marshal(tt.v)
			if err != nil || string(out) != tt.marshal {
				t.Errorf("Marshal: got %s, %v, want %s, nil", out, err, tt.marshal)
			}
		})
	}
	if _, err := json.Marshal(FloatValue(math.NaN())); err == nil {
		t.Error("Marshal(NaN): got nil error, want one")
	}
}

func TestMetadataMarshal(t *testing.T) {
	in := `{"b":true,"f":1.50,"i":7,"n":null,"s":"x"}`
	var m Metadata
	if err := json.Unmarshal([]byte(in), &m); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	out, err := json.Marshal(m)
	if err != nil || string(out) != in {
		t.Errorf("Marshal: got %s, %v, want %s, nil", out, err, in)
	}
}
