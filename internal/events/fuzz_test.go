package events

import (
	"encoding/json"
	"errors"
	"testing"
)

// fuzzSeeds are hand-written bodies both fuzz targets start from, besides
// the spec's examples.
var fuzzSeeds = []string{
	paymentSucceeded,
	event(TypePaymentSucceeded, minimalPayment),
	event("foo.bar", `{"x":[1,{"type":"y"}]}`),
	event(TypeSubscriptionActive, `{"subscription_id":"sub_1","metadata":{"a":1,"b":1.5,"c":true,"d":null,"e":"s"}}`),
	event(TypeSubscriptionPastDue, `{"subscription_id":"sub_1","status":"past_due","has_payment_method":false,"past_due_ends_at":"2026-10-08T00:00:00Z"}`),
	event(TypePaymentSucceeded, `{"payment_id":"pay_1","subscription_id":null,"is_multi_subscription":true,"subscription_ids":["sub_1","sub_2"]}`),
	event(TypeSubscriptionPastDue, `{"subscription_id":"sub_1","has_payment_method":"yes","past_due_ends_at":12}`),
	`{"\u0074ype":"refund.succeeded","timestamp":"2026-08-20T10:15:32Z","data":{}}`,
	`{"type":"a","type":"b","data":{"type":"c"}}`,
	`{"a":"}{][\"type\":\"x\"","type":"payment.failed"}`,
	`{"type":"payment.succ\u0065eded","timestamp":"2026-08-20T10:15:32Z","data":{"total_amount":"1"}}`,
	`[{"type":"payment.succeeded"}]`,
	`{"type":12}`,
	`{"type":null}`,
	`{"TYPE":"x"}`,
	"{\"type\":\"a\xffb\"}",
	` {"type" : "x" } `,
	`{`,
	``,
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, ex := range specExamples(f) {
		f.Add([]byte(ex))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: got error %v, want one wrapping ErrMalformed", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("Decode succeeded on invalid JSON %q", body)
		}
		if ev.Type == "" {
			t.Fatalf("Decode succeeded with an empty type on %q", body)
		}
		if ev.Payload == nil {
			t.Fatalf("Decode succeeded without a payload on %q", body)
		}
		// Decode and PeekType read the same type, or the ingest would
		// publish an event under another type's subject.
		if got, err := PeekType(body); err != nil || got != ev.Type {
			t.Fatalf("PeekType: got %q, %v, want %q, nil (Decode's type) on %q", got, err, ev.Type, body)
		}
		_ = ev.CustomerID()
	})
}

// FuzzPeekType checks PeekType against encoding/json (see oracleType):
// PeekType returns (t, nil) exactly when the body is valid JSON whose top
// level is an object with a string t under the exact key "type". Both
// take the last of duplicated keys, so duplicates need no special case.
func FuzzPeekType(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, ex := range specExamples(f) {
		f.Add([]byte(ex))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := PeekType(body)
		want, ok := oracleType(body)
		switch {
		case !json.Valid(body):
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("PeekType(%q): got %q, %v, want ErrNotJSON", body, got, err)
			}
		case !ok:
			if !errors.Is(err, ErrNoType) {
				t.Fatalf("PeekType(%q): got %q, %v, want ErrNoType", body, got, err)
			}
		default:
			if err != nil || got != want {
				t.Fatalf("PeekType(%q): got %q, %v, want %q, nil", body, got, err, want)
			}
		}
	})
}

// FuzzScan: the one-pass scanner agrees with json.Valid on every input.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-0.5e+10`, `01`, `1.`, `{"a":1,}`, `[1 2]`, "\"\x01\"", `"\x"`, `tru`, ` {"type" : "x"} `, `{"\u0074ype":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, valid, _ := scanEnvelope(body)
		if want := json.Valid(body); valid != want {
			t.Fatalf("scanEnvelope(%q) valid = %v, json.Valid = %v", body, valid, want)
		}
	})
}
