package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/dlq"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/webhook"
)

// dlqFixture is an embedded server holding dead letters as the worker's
// runner writes them.
type dlqFixture struct {
	js     jetstream.JetStream
	env    map[string]string
	secret webhook.Secret
}

func newDLQFixture(t *testing.T) *dlqFixture {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(context.Background(), js, natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	secret := webhook.NewSecret([]byte("cmd-dlq-secret-cmd-dlq-secret"))
	return &dlqFixture{js: js, secret: secret, env: map[string]string{
		"NATS_URL":            srv.ClientURL(),
		"DODO_WEBHOOK_SECRET": "whsec_b2xkLXNlY3JldA== " + secret.Encode(), // an old secret, and the current one
	}}
}

func (fx *dlqFixture) getenv(k string) string { return fx.env[k] }

// deadLetter stores a signed webhook of type typ as a dead letter; with
// tamper, its body is changed after signing.
func (fx *dlqFixture) deadLetter(t *testing.T, typ, id string, body []byte, kind, reason string, tamper bool) uint64 {
	t.Helper()
	at := time.Now().Add(-48 * time.Hour)
	msg := natsbus.WebhookMsg("dodo.events."+typ, id, strconv.FormatInt(at.Unix(), 10), webhook.Sign(fx.secret, id, at, body), body)
	if tamper {
		msg.Data = append([]byte(nil), bytes.Replace(body, []byte("pdt_"), []byte("pdt_free_"), 1)...)
	}
	msg.Header.Set(jetstream.MsgIDHeader, "dlq.test."+id)
	msg.Header.Set(natsbus.HeaderDLQReason, reason)
	msg.Header.Set(natsbus.HeaderDLQKind, kind)
	msg.Header.Set(natsbus.HeaderDLQSubject, msg.Subject)
	msg.Header.Set(natsbus.HeaderDLQStream, natsbus.EventsStream)
	msg.Header.Set(natsbus.HeaderDLQStreamSeq, "1")
	msg.Header.Set(natsbus.HeaderDLQDeliveries, "10")
	msg.Header.Set(natsbus.HeaderDLQDeadAt, time.Now().UTC().Format(time.RFC3339Nano))
	msg.Subject = natsbus.DeadLetterSubject(msg.Subject)
	ack, err := fx.js.PublishMsg(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// run runs offerflow with args and returns its output and error.
func (fx *dlqFixture) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, append([]string{"offerflow", "dlq"}, args...), fx.getenv, &out)
	return out.String(), err
}

func (fx *dlqFixture) events(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, fx.js, natsbus.EventsStream, "")
}

func dlqBody(typ, customer, product string) []byte {
	b, _ := json.Marshal(map[string]any{"business_id": "bus_1", "type": typ, "timestamp": "2026-09-01T10:00:00Z",
		"data": map[string]any{"payment_id": "pay_" + customer, "customer": map[string]any{"customer_id": customer},
			"product_cart": []map[string]any{{"product_id": product, "quantity": 1}}}})
	return b
}

// TestDLQCommand runs offerflow dlq list, show and redrive as an operator
// would, against an embedded server.
func TestDLQCommand(t *testing.T) {
	fx := newDLQFixture(t)
	longReason := "dodo api: GET /customers/cus_a/payment-methods: 503 Service Unavailable; retried with backoff until the attempts ran out"
	seqA := fx.deadLetter(t, "payment.succeeded", "msg_a", dlqBody("payment.succeeded", "cus_a", "pdt_a"), natsbus.DLQKindMaxDeliveries, longReason, false)
	seqB := fx.deadLetter(t, "payment.succeeded", "msg_b", dlqBody("payment.succeeded", "cus_b", "pdt_b"), natsbus.DLQKindMaxDeliveries, "smtp: connection refused", false)
	seqC := fx.deadLetter(t, "subscription.active", "msg_c", dlqBody("subscription.active", "cus_c", "pdt_c"), natsbus.DLQKindMaxDeliveries, "smtp: connection refused", false)
	seqT := fx.deadLetter(t, "payment.succeeded", "msg_t", dlqBody("payment.succeeded", "cus_t", "pdt_t"), natsbus.DLQKindMaxDeliveries, "smtp: connection refused", true)
	seqP := fx.deadLetter(t, "_invalid.json", "msg_p", []byte("not json \x1b[2J\x1b[31m gotcha"), natsbus.DLQKindPermanent, "signed body is not JSON", false)

	t.Run("list", func(t *testing.T) {
		out, err := fx.run("list")
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 7 || !strings.HasPrefix(lines[0], "SEQ") || lines[6] != "5 dead letter(s)" {
			t.Fatalf("list output:\n%s", out)
		}
		row := lines[1]
		for _, want := range []string{strconv.FormatUint(seqA, 10), "payment.succeeded", "cus_a", "msg_a", "10", "max_deliveries", "dodo api: GET /customers"} {
			if !strings.Contains(row, want) {
				t.Errorf("row %q lacks %q", row, want)
			}
		}
		if strings.Contains(row, "ran out") || !strings.Contains(row, "...") {
			t.Errorf("row %q: want the reason truncated", row)
		}
		if strings.Contains(out, "\x1b") {
			t.Errorf("list printed an escape sequence from a body")
		}
	})

	t.Run("list filters", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want []string // webhook ids, in order
		}{
			{"type", []string{"-type", "payment.succeeded"}, []string{"msg_a", "msg_b", "msg_t"}},
			{"types, comma-separated and repeated", []string{"-type", "subscription.active,_invalid.json", "-type", "nope.nope"}, []string{"msg_c", "msg_p"}},
			{"type wildcard", []string{"-type", "subscription.*"}, []string{"msg_c"}},
			{"customer", []string{"-customer", "cus_b"}, []string{"msg_b"}},
			{"since a duration ago", []string{"-since", "1h"}, []string{"msg_a", "msg_b", "msg_c", "msg_t", "msg_p"}},
			{"until a duration ago", []string{"-until", "1h"}, nil},
			{"since RFC 3339", []string{"-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil},
			{"since a date", []string{"-since", "2026-01-01"}, []string{"msg_a", "msg_b", "msg_c", "msg_t", "msg_p"}},
			{"reason", []string{"-reason", "SMTP"}, []string{"msg_b", "msg_c", "msg_t"}},
			{"kind", []string{"-kind", "permanent"}, []string{"msg_p"}},
			{"limit", []string{"-limit", "2"}, []string{"msg_a", "msg_b"}},
			{"no limit", []string{"-limit", "0", "-kind", "max_deliveries"}, []string{"msg_a", "msg_b", "msg_c", "msg_t"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := fx.run(append([]string{"list", "-json"}, tt.args...)...)
				if err != nil {
					t.Fatalf("list %v: %v\n%s", tt.args, err, out)
				}
				var got []string
				dec := json.NewDecoder(strings.NewReader(out))
				for dec.More() {
					var e dlq.Entry
					if err := dec.Decode(&e); err != nil {
						t.Fatalf("not JSON lines: %v\n%s", err, out)
					}
					got = append(got, e.WebhookID)
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Fatalf("list %v = %v, want %v", tt.args, got, tt.want)
				}
			})
		}
		out, err := fx.run("list", "-limit", "2")
		if err != nil || !strings.Contains(out, "2 dead letters shown; more match") {
			t.Fatalf("list -limit 2: %v\n%s", err, out)
		}
		out, err = fx.run("list", "-until", "1h")
		if err != nil || !strings.Contains(out, "no dead letters match") {
			t.Fatalf("list -until 1h: %v\n%s", err, out)
		}
	})

	t.Run("show", func(t *testing.T) {
		out, err := fx.run("show", strconv.FormatUint(seqA, 10))
		if err != nil {
			t.Fatalf("show: %v\n%s", err, out)
		}
		for _, want := range []string{longReason, "webhook-signature: v1,", natsbus.HeaderDLQKind + ": max_deliveries", "customer          cus_a",
			"body (", "JSON):", "\n  \"data\": {", `"customer_id": "cus_a"`, "max_deliveries after 10 deliveries"} {
			if !strings.Contains(out, want) {
				t.Errorf("show output lacks %q:\n%s", want, out)
			}
		}
		out, err = fx.run("show", "-json", strconv.FormatUint(seqB, 10))
		if err != nil {
			t.Fatalf("show -json: %v\n%s", err, out)
		}
		var got struct {
			dlq.Entry
			Headers map[string][]string `json:"headers"`
			Body    json.RawMessage     `json:"body"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("show -json: %v\n%s", err, out)
		}
		if got.Seq != seqB || got.WebhookID != "msg_b" || !bytes.Equal(got.Body, dlqBody("payment.succeeded", "cus_b", "pdt_b")) || got.Headers["webhook-id"][0] != "msg_b" {
			t.Fatalf("show -json = %+v", got)
		}
		out, err = fx.run("show", strconv.FormatUint(seqP, 10))
		if err != nil {
			t.Fatalf("show: %v\n%s", err, out)
		}
		if strings.Contains(out, "\x1b") || !strings.Contains(out, `not json \u001b[2J\u001b[31m gotcha`) || !strings.Contains(out, "not JSON):") {
			t.Fatalf("show of a hostile body:\n%q", out)
		}
		if out, err := fx.run("show", "999"); err == nil || !strings.Contains(err.Error(), "no such message") {
			t.Fatalf("show 999: %v\n%s", err, out)
		}
	})

	t.Run("redrive dry run", func(t *testing.T) {
		out, err := fx.run("redrive", "-type", "payment.succeeded")
		if err == nil {
			t.Fatalf("dry run with a tampered dead letter succeeded:\n%s", out)
		}
		for _, want := range []string{"would_redrive", "signature_ok", "bad_signature", "dodo.events.payment.succeeded",
			"dry run: 2 of 3 dead letters would be redriven, 1 skipped; nothing changed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if n := len(fx.events(t)); n != 0 {
			t.Fatalf("a dry run published %d events", n)
		}
		if out, _ := fx.run("list", "-json"); strings.Count(out, "\n") != 5 {
			t.Fatalf("a dry run removed dead letters:\n%s", out)
		}
	})

	t.Run("redrive", func(t *testing.T) {
		out, err := fx.run("redrive", "-seq", strconv.FormatUint(seqA, 10)+","+strconv.FormatUint(seqT, 10)+",999", "-execute")
		if err == nil || !strings.Contains(err.Error(), "2 of 3 dead letters not redriven") {
			t.Fatalf("redrive: %v\n%s", err, out)
		}
		for _, want := range []string{"redriven", "bad_signature", "no such message", "redriven 1 of 3 dead letters, skipped 2"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		evs := fx.events(t)
		if len(evs) != 1 || evs[0].Header.Get("webhook-id") != "msg_a" || evs[0].Subject != "dodo.events.payment.succeeded" ||
			evs[0].Header.Get(dlq.HeaderRedrivenFrom) != strconv.FormatUint(seqA, 10) {
			t.Fatalf("DODO_EVENTS after the redrive: %d messages", len(evs))
		}
		out, err = fx.run("redrive", "-customer", "cus_b", "-execute", "-json")
		if err != nil {
			t.Fatalf("redrive -customer: %v\n%s", err, out)
		}
		var r dlq.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Seq != seqB || r.Action != dlq.ActionRedriven || r.Verified != dlq.SignatureOK {
			t.Fatalf("redrive -json: %v %+v\n%s", err, r, out)
		}
		out, err = fx.run("list", "-json")
		if err != nil || strings.Contains(out, "msg_a") || strings.Contains(out, "msg_b") || !strings.Contains(out, "msg_c") || !strings.Contains(out, "msg_t") {
			t.Fatalf("dead letters after the redrives: %v\n%s", err, out)
		}
		out, err = fx.run("redrive", "-seq", strconv.FormatUint(seqC, 10), "-execute")
		if err != nil || !strings.Contains(out, "redriven 1 of 1") {
			t.Fatalf("redrive -seq: %v\n%s", err, out)
		}
		out, err = fx.run("redrive", "-customer", "cus_nobody", "-execute")
		if err != nil || !strings.Contains(out, "no dead letters match") {
			t.Fatalf("redrive of nothing: %v\n%s", err, out)
		}
	})
}

// TestDLQCommandErrors: configuration and flag errors are refused before
// anything is read or changed, with a message and, for flags, the usage.
func TestDLQCommandErrors(t *testing.T) {
	env := map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": webhook.NewSecret([]byte("k")).Encode()}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		usage   bool
	}{
		{"no command", nil, env, "dlq needs a command", true},
		{"unknown command", []string{"purge"}, env, `unknown dlq command "purge"`, true},
		{"missing NATS_URL", []string{"list"}, map[string]string{}, "NATS_URL is required", true},
		{"missing NATS_URL for show", []string{"show", "1"}, map[string]string{}, "NATS_URL is required", true},
		{"server down", []string{"list"}, env, "connect to nats", false},
		{"redrive without a selection", []string{"redrive", "-execute"}, env, "redrive needs a selection", true},
		{"redrive with only a limit", []string{"redrive", "-limit", "5"}, env, "redrive needs a selection", true},
		{"redrive without a secret", []string{"redrive", "-all"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1"}, "DODO_WEBHOOK_SECRET is required", true},
		{"redrive with a bad secret", []string{"redrive", "-all"}, map[string]string{"NATS_URL": "nats://127.0.0.1:1", "DODO_WEBHOOK_SECRET": "whsec_!!!"}, "DODO_WEBHOOK_SECRET: secret 1 of 1: not base64", true},
		{"bad -since", []string{"list", "-since", "yesterday"}, env, `invalid value "yesterday" for flag -since`, true},
		{"negative -since", []string{"list", "-since", "-5m"}, env, "must be positive", true},
		{"bad -until", []string{"redrive", "-until", "2026-13-01"}, env, "-until", true},
		{"empty window", []string{"list", "-since", "1h", "-until", "2h"}, env, "is not before until", true},
		{"bad -seq", []string{"redrive", "-seq", "1,x"}, env, `invalid value "1,x" for flag -seq`, true},
		{"backwards range", []string{"redrive", "-seq", "5-2"}, env, "range ends before it starts", true},
		{"bad -kind", []string{"list", "-kind", "fatal"}, env, "want permanent or max_deliveries", true},
		{"empty -customer selects nothing", []string{"redrive", "-customer", "", "-execute"}, env, "empty value", true},
		{"empty -kind selects nothing", []string{"redrive", "-kind", " ", "-execute"}, env, "empty value", true},
		{"bad -type", []string{"list", "-type", "payment..succeeded"}, env, "event type", true},
		{"negative -limit", []string{"list", "-limit", "-1"}, env, "limit -1", true},
		{"unknown flag", []string{"list", "-verbose"}, env, "flag provided but not defined", true},
		{"list with an argument", []string{"list", "12"}, env, "list takes no arguments", true},
		{"show without a sequence", []string{"show"}, env, "show takes one dead letter sequence", true},
		{"show with a bad sequence", []string{"show", "abc"}, env, `sequence "abc"`, true},
		{"show 0", []string{"show", "0"}, env, `sequence "0"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"offerflow", "dlq"}, tt.args...), func(k string) string { return tt.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error()+out.String(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q\noutput:\n%s", err, tt.wantErr, out.String())
			}
			if hasUsage := strings.Contains(out.String(), "usage: offerflow dlq"); hasUsage != tt.usage {
				t.Fatalf("usage printed: %v, want %v\noutput:\n%s", hasUsage, tt.usage, out.String())
			}
		})
	}
}

func TestDLQParseWhen(t *testing.T) {
	now := time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-09-01T10:00:00Z", time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-09-01T12:00:00+02:00", time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC), true},
		{"2026-09-01T10:00:00.5Z", time.Date(2026, 9, 1, 10, 0, 0, 5e8, time.UTC), true},
		{"2026-09-01", time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), true},
		{"24h", now.Add(-24 * time.Hour), true},
		{" 90m ", now.Add(-90 * time.Minute), true},
		{"1h30m", now.Add(-90 * time.Minute), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"0d", time.Time{}, false},
		{"0s", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"1.5d", time.Time{}, false},
		{"d", time.Time{}, false},
		{"100001d", time.Time{}, false},
		{"99999999999999999999h", time.Time{}, false},
		{"", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2026-09-01 10:00", time.Time{}, false},
		{"2026-02-30", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzDLQParseWhen(f *testing.F) {
	for _, s := range []string{"2026-09-01T10:00:00Z", "2026-09-01", "24h", "7d", "-1h", "100000d", "1e9h", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err != nil {
			return
		}
		if got.IsZero() {
			t.Fatalf("parseWhen(%q) accepted a zero time", s)
		}
		if got.Location() != time.UTC {
			t.Fatalf("parseWhen(%q) = %v, not UTC", s, got)
		}
		// A duration always lies in the past.
		if _, derr := time.ParseDuration(strings.TrimSpace(s)); derr == nil && !got.Before(now) {
			t.Fatalf("parseWhen(%q) = %v, not before now", s, got)
		}
	})
}

func TestDLQParseSeqs(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"12", "12", ""},
		{"3,1,2", "3 1 2", ""},
		{" 4 , 5 ", "4 5", ""},
		{"7-10", "7 8 9 10", ""},
		{"2,1-3,2", "2 1 3", ""},
		{"5-5", "5", ""},
		{"18446744073709551615", "18446744073709551615", ""},
		{"18446744073709551614-18446744073709551615", "18446744073709551614 18446744073709551615", ""},
		{"1-10000", "", ""},
		{"1-10001", "", "more than 10000"},
		{"1-5000,6000-11000", "", "more than 10000"},
		{"", "", "positive sequence"},
		{"1,,2", "", "positive sequence"},
		{"0", "", "positive sequence"},
		{"-3", "", "positive sequence"},
		{"3-", "", "positive sequence"},
		{"5-2", "", "range ends before it starts"},
		{"1-2-3", "", "positive sequence"},
		{"x", "", "positive sequence"},
		{"18446744073709551616", "", "positive sequence"},
	}
	for _, tt := range tests {
		got, err := parseSeqs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSeqs(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSeqs(%q): %v", tt.in, err)
			continue
		}
		if tt.want == "" {
			continue // only the count matters
		}
		var s []string
		for _, n := range got {
			s = append(s, strconv.FormatUint(n, 10))
		}
		if strings.Join(s, " ") != tt.want {
			t.Errorf("parseSeqs(%q) = %v, want %s", tt.in, s, tt.want)
		}
	}
}

func FuzzDLQParseSeqs(f *testing.F) {
	for _, s := range []string{"1", "1,2,3", "4-9", "1-10000", "0", "5-2", "18446744073709551615", ",", "1-18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSeqs(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > maxSeqs {
			t.Fatalf("parseSeqs(%q) gave %d sequences", s, len(got))
		}
		seen := map[uint64]bool{}
		for _, n := range got {
			if n == 0 || seen[n] {
				t.Fatalf("parseSeqs(%q) = %v: zero or repeated", s, got)
			}
			seen[n] = true
		}
	})
}

func TestDLQPrintable(t *testing.T) {
	tests := []struct{ in, line, block string }{
		{"plain cus_1", "plain cus_1", "plain cus_1"},
		{"é ü 日本", "é ü 日本", "é ü 日本"},
		{"a\nb\tc", `a\u000ab\u0009c`, "a\nb\tc"},
		{"\x1b[31mred", `\u001b[31mred`, `\u001b[31mred`},
		{"\u202egnp.exe", `\u202egnp.exe`, `\u202egnp.exe`},
		{"\u009b2J", `\u009b2J`, `\u009b2J`},
		{"bad \xff byte", `bad \xff byte`, `bad \xff byte`},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.line {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.line)
		}
		if got := printableBlock(tt.in); got != tt.block {
			t.Errorf("printableBlock(%q) = %q, want %q", tt.in, got, tt.block)
		}
	}
	if got := cell("a  very\nlong reason", 10); got != "a very ..." {
		t.Errorf("cell = %q", got)
	}
}
