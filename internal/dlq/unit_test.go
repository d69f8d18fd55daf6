package dlq

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

func TestDLQCustomerID(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"payment", `{"type":"payment.succeeded","data":{"customer":{"customer_id":"cus_1","email":"a@b"}}}`, "cus_1"},
		{"id only", `{"data":{"customer_id":"cus_2"}}`, "cus_2"},
		{"nested wins", `{"data":{"customer_id":"cus_flat","customer":{"customer_id":"cus_nested"}}}`, "cus_nested"},
		{"nested empty, flat used", `{"data":{"customer_id":"cus_flat","customer":{"customer_id":""}}}`, "cus_flat"},
		{"nested not a string", `{"data":{"customer_id":"cus_flat","customer":{"customer_id":42}}}`, "cus_flat"},
		{"customer null", `{"data":{"customer":null}}`, ""},
		{"customer a string", `{"data":{"customer":"cus_3"}}`, ""},
		{"data a string", `{"data":"oops"}`, ""},
		{"data null", `{"data":null}`, ""},
		{"no data", `{"type":"x"}`, ""},
		{"customer_id at the top is not ours", `{"customer_id":"cus_top","data":{}}`, ""},
		{"escapes", `{"data":{"customer":{"customer_id":"cus_\u00e9\n"}}}`, "cus_é\n"},
		{"last key wins", `{"data":{"customer_id":"a","customer_id":"b"}}`, "b"},
		{"not JSON", `not json at all`, ""},
		{"truncated", `{"data":{"customer":{"customer_id":"cus_1"`, ""},
		{"array", `[{"data":{"customer_id":"cus_1"}}]`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CustomerID([]byte(tt.body)); got != tt.want {
				t.Fatalf("CustomerID(%s) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

// FuzzDLQCustomerID: any body, however broken, gives an id or "" without
// panicking, and an id only from valid JSON that has it.
func FuzzDLQCustomerID(f *testing.F) {
	for _, s := range []string{
		`{"data":{"customer":{"customer_id":"cus_1"}}}`, `{"data":{"customer_id":"cus_2"}}`, `{"data":"x"}`,
		`not json`, `{"data":{"customer":{"customer_id":"\ud800"}}}`, `{"data":{"customer":[1,2]}}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id := CustomerID(body)
		if id == "" {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("id %q from invalid JSON %q", id, body)
		}
		if !utf8.ValidString(id) {
			t.Fatalf("id %q is not valid UTF-8", id)
		}
		if CustomerID(body) != id {
			t.Fatal("not deterministic")
		}
	})
}

func TestDLQTypeFilters(t *testing.T) {
	tests := []struct {
		pattern string
		valid   bool
		matches []string
		misses  []string
	}{
		{"payment.succeeded", true, []string{"payment.succeeded"}, []string{"payment.failed", "payment", "payment.succeeded.x"}},
		{"_invalid.json", true, []string{"_invalid.json"}, []string{"_invalid.type"}},
		{"payment.*", true, []string{"payment.succeeded", "payment.failed"}, []string{"payment", "payment.a.b", "refund.succeeded"}},
		{"subscription.>", true, []string{"subscription.active", "subscription.a.b"}, []string{"subscription"}},
		{">", true, []string{"x", "a.b"}, nil},
		{"*.succeeded", true, []string{"payment.succeeded", "refund.succeeded"}, []string{"payment.failed"}},
		{"", false, nil, nil},
		{"payment..succeeded", false, nil, nil},
		{".payment", false, nil, nil},
		{"payment.", false, nil, nil},
		{"payment.>.x", false, nil, nil},
		{"pay*ment", false, nil, nil},
		{"pay ment", false, nil, nil},
		{"pay\tment", false, nil, nil},
		{"pay\x00ment", false, nil, nil},
		{strings.Repeat("a", 257), false, nil, nil},
	}
	for _, tt := range tests {
		if got := validTypeFilter(tt.pattern); got != tt.valid {
			t.Errorf("validTypeFilter(%q) = %v, want %v", tt.pattern, got, tt.valid)
		}
		for _, s := range tt.matches {
			if !subjectMatch(tt.pattern, s) {
				t.Errorf("subjectMatch(%q, %q) = false, want true", tt.pattern, s)
			}
		}
		for _, s := range tt.misses {
			if subjectMatch(tt.pattern, s) {
				t.Errorf("subjectMatch(%q, %q) = true, want false", tt.pattern, s)
			}
		}
	}
}

func TestDLQFilterSubjects(t *testing.T) {
	tests := []struct {
		name  string
		types []string
		want  string
	}{
		{"none", nil, "offerflow.deadletter.>"},
		{"one", []string{"payment.succeeded"}, "offerflow.deadletter.payment.succeeded"},
		{"one wildcard", []string{"payment.*"}, "offerflow.deadletter.payment.*"},
		{"two, deduplicated", []string{"a.b", "c.d", "a.b"}, "offerflow.deadletter.a.b offerflow.deadletter.c.d"},
		{"a wildcard among several could overlap", []string{"a.*", "a.b"}, "offerflow.deadletter.>"},
	}
	for _, tt := range tests {
		if got := strings.Join(Filter{Types: tt.types}.subjects(), " "); got != tt.want {
			t.Errorf("%s: subjects = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDLQRedrivable(t *testing.T) {
	for s, want := range map[string]bool{
		"dodo.events.payment.succeeded": true,
		"dodo.events._invalid.json":     true,
		"dodo.events.":                  false,
		"dodo.events":                   false,
		"dodo.events.payment.*":         false,
		"dodo.events.>":                 false,
		"dodo.events.a..b":              false,
		"dodo.events.a b":               false,
		"offerflow.access.granted.x":    false,
		"":                              false,
	} {
		if got := redrivable(s); got != want {
			t.Errorf("redrivable(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDLQChecker(t *testing.T) {
	old := webhook.NewSecret([]byte("old-secret-old-secret"))
	cur := webhook.NewSecret([]byte("new-secret-new-secret"))
	c, err := NewChecker([]webhook.Secret{old, cur})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"payment.succeeded"}`)
	// Two years old: long past any tolerance, and still authentic.
	at := time.Now().AddDate(-2, 0, 0)
	ts := strconv.FormatInt(at.Unix(), 10)
	msg := func(id, ts, sig string) nats.Header {
		return natsbus.WebhookMsg("dodo.events.payment.succeeded", id, ts, sig, body).Header
	}
	tests := []struct {
		name string
		h    nats.Header
		body []byte
		want error
	}{
		{"current secret", msg("msg_1", ts, webhook.Sign(cur, "msg_1", at, body)), body, nil},
		{"old secret during rotation", msg("msg_1", ts, webhook.Sign(old, "msg_1", at, body)), body, nil},
		{"canonical header names", nats.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {webhook.Sign(cur, "msg_1", at, body)}}, body, nil},
		{"body changed", msg("msg_1", ts, webhook.Sign(cur, "msg_1", at, body)), []byte(`{"type":"payment.failed"}`), webhook.ErrNoMatchingSignature},
		{"id changed", msg("msg_2", ts, webhook.Sign(cur, "msg_1", at, body)), body, webhook.ErrNoMatchingSignature},
		{"timestamp changed", msg("msg_1", strconv.FormatInt(at.Unix()+1, 10), webhook.Sign(cur, "msg_1", at, body)), body, webhook.ErrNoMatchingSignature},
		{"other secret", msg("msg_1", ts, webhook.Sign(webhook.NewSecret([]byte("x")), "msg_1", at, body)), body, webhook.ErrNoMatchingSignature},
		{"no signature", msg("msg_1", ts, ""), body, webhook.ErrMissingHeaders},
		{"timestamp not a number", msg("msg_1", "yesterday", webhook.Sign(cur, "msg_1", at, body)), body, webhook.ErrMalformedHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Check(tt.h, tt.body); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDLQRedriveMsg(t *testing.T) {
	e := Entry{Seq: 42, WebhookID: "msg_1", OriginalSubject: "dodo.events.payment.succeeded"}
	m := Message{Body: []byte("body"), Headers: map[string][]string{
		"Nats-Msg-Id":             {"dlq.DODO_EVENTS.7"},
		"webhook-id":              {"msg_1"},
		"webhook-timestamp":       {"1700000000"},
		"webhook-signature":       {"v1,abc v1,def"},
		"X-Custom":                {"a", "b"},
		natsbus.HeaderDLQReason:   {"boom"},
		natsbus.HeaderDLQKind:     {"permanent"},
		"offerflow-dlq-lowercase": {"x"},
		"Nats-Expected-Stream":    {"DODO_EVENTS"},
		"nats-ttl":                {"1s"},
		HeaderRedrivenFrom:        {"3"},
	}}
	got := RedriveMsg(e, m)
	want := map[string][]string{
		"webhook-id":        {"msg_1"},
		"webhook-timestamp": {"1700000000"},
		"webhook-signature": {"v1,abc v1,def"},
		"X-Custom":          {"a", "b"},
		HeaderRedrivenFrom:  {"42"},
	}
	if got.Subject != e.OriginalSubject || got.ID != "redrive.msg_1.42" || string(got.Data) != "body" || len(got.Header) != len(want) {
		t.Fatalf("RedriveMsg = %s %s %q %v", got.Subject, got.ID, got.Data, got.Header)
	}
	for k, v := range want {
		if strings.Join(got.Header[k], "|") != strings.Join(v, "|") {
			t.Errorf("header %s = %v, want %v", k, got.Header[k], v)
		}
	}
	// The stored message is not modified.
	if header(m.Headers, natsbus.HeaderDLQReason) != "boom" || header(m.Headers, "Nats-Msg-Id") != "dlq.DODO_EVENTS.7" {
		t.Fatalf("RedriveMsg changed the stored headers: %v", m.Headers)
	}
}

func TestDLQNewEntryToleratesJunk(t *testing.T) {
	e := newEntry(5, "offerflow.deadletter.x.y", nats.Header{
		natsbus.HeaderDLQDeliveries: {"many"},
		natsbus.HeaderDLQDeadAt:     {"yesterday"},
		HeaderRedrivenFrom:          {"-1"},
	}, []byte{0xff, 0xfe})
	want := Entry{Seq: 5, Subject: "offerflow.deadletter.x.y", EventType: "x.y", Size: 2}
	if e != want {
		t.Fatalf("newEntry = %+v, want %+v", e, want)
	}
}
