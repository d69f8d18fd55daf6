package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPeekType(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr error
	}{
		{name: "normal", body: paymentSucceeded, want: TypePaymentSucceeded},
		{name: "type first", body: `{"type":"refund.failed","data":{}}`, want: TypeRefundFailed},
		{name: "type last", body: `{"data":{"a":1},"business_id":"b","type":"refund.failed"}`, want: TypeRefundFailed},
		{name: "after a nested object with its own type",
			body: `{"data":{"type":"nested.wrong","x":{"type":"deeper"}},"items":[{"type":"in.array"}],"type":"dispute.won"}`, want: TypeDisputeWon},
		{name: "nested type only", body: `{"data":{"type":"payment.succeeded"}}`, wantErr: ErrNoType},
		{name: "strings with braces, quotes and escapes before it",
			body: `{"a":"}{][\"type\":\"x\"","b":"\\","c":["\"]"],"type":"payment.failed"}`, want: TypePaymentFailed},
		{name: "escaped value", body: `{"type":"payment.succ\u0065eded"}`, want: TypePaymentSucceeded},
		{name: "escaped value of an unknown type", body: `{"type":"a\/b\tc"}`, want: "a/b\tc"},
		{name: "escaped key", body: `{"\u0074ype":"refund.succeeded"}`, want: TypeRefundSucceeded},
		{name: "escaped key elsewhere", body: `{"d\u0061ta":{},"type":"refund.succeeded"}`, want: TypeRefundSucceeded},
		{name: "unknown type", body: `{"type":"foo.bar"}`, want: "foo.bar"},
		{name: "empty type", body: `{"type":""}`, want: ""},
		{name: "unicode type", body: `{"type":"paiement.réussi"}`, want: "paiement.réussi"},
		{name: "invalid UTF-8 as encoding/json reads it", body: "{\"type\":\"a\xffb\"}", want: "a\uFFFDb"},
		{name: "duplicate keys: the last wins", body: `{"type":"payment.failed","type":"payment.succeeded"}`, want: TypePaymentSucceeded},
		{name: "key in another case", body: `{"TYPE":"payment.succeeded","Type":"x"}`, wantErr: ErrNoType},
		{name: "key in another case, escaped", body: `{"\u0054ype":"payment.succeeded"}`, wantErr: ErrNoType},
		{name: "type missing", body: `{"business_id":"b","data":{}}`, wantErr: ErrNoType},
		{name: "empty object", body: `{}`, wantErr: ErrNoType},
		{name: "type a number", body: `{"type":12}`, wantErr: ErrNoType},
		{name: "type null", body: `{"type":null}`, wantErr: ErrNoType},
		{name: "type an object", body: `{"type":{"type":"payment.succeeded"}}`, wantErr: ErrNoType},
		{name: "type a string then a number", body: `{"type":"payment.succeeded","type":1}`, wantErr: ErrNoType},
		{name: "top level array", body: `[{"type":"payment.succeeded"}]`, wantErr: ErrNoType},
		{name: "top level string", body: `"payment.succeeded"`, wantErr: ErrNoType},
		{name: "top level number", body: `42`, wantErr: ErrNoType},
		{name: "top level null", body: `null`, wantErr: ErrNoType},
		{name: "not JSON", body: `{"type":"payment.succeeded"`, wantErr: ErrNotJSON},
		{name: "trailing garbage", body: `{"type":"payment.succeeded"} x`, wantErr: ErrNotJSON},
		{name: "two values", body: `{"type":"a"}{"type":"b"}`, wantErr: ErrNotJSON},
		{name: "empty body", body: ``, wantErr: ErrNotJSON},
		{name: "whitespace only", body: " \n\t", wantErr: ErrNotJSON},
		{name: "whitespace around", body: " \r\n\t{ \"data\" : { } ,\n \"type\"\t:\r\"payment.succeeded\" \n} \n", want: TypePaymentSucceeded},
		{name: "literals and numbers skipped", body: `{"a":true,"b":false,"c":null,"d":-1.5e+3,"e":[1,[2,{"f":3}]],"type":"x.y"}`, want: "x.y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeekType([]byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("PeekType: got %q, %v, want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PeekType: got %q, %v, want %q, nil", got, err, tt.want)
			}
			if want, ok := oracleType([]byte(tt.body)); !ok || want != got {
				t.Errorf("oracle: got %q, %v, want %q, true", want, ok, got)
			}
		})
	}
}

func TestPeekTypeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool (used by json.Valid) allocate")
	}
	body := []byte(paymentSucceeded)
	if n := testing.AllocsPerRun(100, func() { _, _ = PeekType(body) }); n != 0 {
		t.Errorf("PeekType of a known type: got %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Subject(TypePaymentSucceeded) }); n != 0 {
		t.Errorf("Subject of a known type: got %v allocations, want 0", n)
	}
}

func TestValidType(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		want bool
	}{
		{name: "known type", typ: "payment.succeeded", want: true},
		{name: "underscores", typ: "subscription.update_payment_method", want: true},
		{name: "one token", typ: "ping", want: true},
		{name: "digits", typ: "v2.payment3.x_1", want: true},
		{name: "token starting with a digit", typ: "a.1b", want: true},
		{name: "token starting with an underscore", typ: "a._b", want: true},
		{name: "128 bytes", typ: "a" + strings.Repeat(".b", 63) + "c", want: true},
		{name: "129 bytes", typ: "a" + strings.Repeat(".b", 64), want: false},
		{name: "empty", typ: "", want: false},
		{name: "empty token", typ: "a..b", want: false},
		{name: "leading dot", typ: ".a", want: false},
		{name: "trailing dot", typ: "a.", want: false},
		{name: "single dot", typ: ".", want: false},
		{name: "upper case", typ: "A.b", want: false},
		{name: "upper case later", typ: "a.B", want: false},
		{name: "wildcard", typ: "a.*", want: false},
		{name: "full wildcard", typ: "a.>", want: false},
		{name: "space", typ: "a b", want: false},
		{name: "tab", typ: "a\tb", want: false},
		{name: "leading underscore", typ: "_x", want: false},
		{name: "invalid subject token", typ: "_invalid.json", want: false},
		{name: "leading digit", typ: "1a", want: false},
		{name: "hyphen", typ: "a-b", want: false},
		{name: "non-ASCII", typ: "paiement.réussi", want: false},
		{name: "NUL", typ: "a\x00", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidType(tt.typ); got != tt.want {
				t.Errorf("ValidType(%q): got %v, want %v", tt.typ, got, tt.want)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		want string
	}{
		{name: "known", typ: TypePaymentSucceeded, want: "dodo.events.payment.succeeded"},
		{name: "unknown", typ: "foo.bar", want: "dodo.events.foo.bar"},
		{name: "invalid json", typ: "_invalid.json", want: SubjectInvalidJSON},
		{name: "invalid type", typ: "_invalid.type", want: SubjectInvalidType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subject(tt.typ); got != tt.want {
				t.Errorf("Subject(%q): got %q, want %q", tt.typ, got, tt.want)
			}
		})
	}
	for _, typ := range KnownTypes() {
		if got, want := Subject(typ), SubjectPrefix+typ; got != want {
			t.Errorf("Subject(%q): got %q, want %q", typ, got, want)
		}
	}
}

// oracleType is what encoding/json says PeekType must return: the string
// under the exact top-level key "type" of a JSON object. With duplicate
// keys, encoding/json's map keeps the last, as PeekType does.
func oracleType(body []byte) (string, bool) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", false
	}
	raw, ok := top["type"]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func BenchmarkPeekType(b *testing.B) {
	body := []byte(paymentSucceeded)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PeekType(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalType(b *testing.B) {
	body := []byte(paymentSucceeded)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
		if _, ok := m["type"].(string); !ok {
			b.Fatal("no type")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	body := []byte(paymentSucceeded)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestScanAgreesWithJSONValid(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	tests := []struct {
		name string
		body []byte
	}{
		{name: "empty", body: nil},
		{name: "max depth", body: deep(10000)},
		{name: "over max depth", body: deep(10001)},
		{name: "object at max depth", body: []byte(`{"a":` + string(deep(9999)) + `}`)},
		{name: "object over max depth", body: []byte(`{"a":` + string(deep(10000)) + `}`)},
		{name: "leading zero", body: []byte(`{"n":01}`)},
		{name: "exponent without digits", body: []byte(`{"n":1e}`)},
		{name: "bad escape", body: []byte(`{"s":"\q"}`)},
		{name: "short unicode escape", body: []byte(`{"s":"\u12"}`)},
		{name: "control character", body: []byte("{\"s\":\"a\tb\"}")},
		{name: "invalid UTF-8 is valid JSON", body: []byte("{\"s\":\"\xff\"}")},
		{name: "trailing garbage", body: []byte(`{} x`)},
		{name: "two values", body: []byte(`{} {}`)},
		{name: "payment", body: []byte(`{"business_id":"b","type":"payment.succeeded","timestamp":"2026-09-01T10:00:00Z","data":{"a":[1,-2.5e3,true,false,null,"x"]}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, _ := scanEnvelope(tt.body)
			if want := json.Valid(tt.body); got != want {
				t.Fatalf("scanEnvelope valid = %v, json.Valid = %v", got, want)
			}
		})
	}
}
