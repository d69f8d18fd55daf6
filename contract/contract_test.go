package contract_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/offerflow/offerflow/contract"
)

func load(t *testing.T) *contract.Contract {
	t.Helper()
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every schema file is one the document points to, and every channel is
// stored by one of offerflow's two streams.
func TestEverySchemaReferenced(t *testing.T) {
	c := load(t)
	if len(c.Schemas) == 0 {
		t.Fatal("no schema files")
	}
	for _, name := range c.Schemas {
		if c.Refs[name] == 0 {
			t.Errorf("schemas/%s: no message of %s refers to it", name, contract.DocumentPath)
		}
		if !strings.HasSuffix(name, ".v1.json") {
			t.Errorf("schemas/%s: want <name>.v<major>.json", name)
		}
	}
	for _, ch := range c.Channels {
		var prefix string
		switch ch.Stream {
		case "OFFERFLOW":
			prefix = "offerflow."
		case "DODO_EVENTS":
			prefix = "dodo.events."
		default:
			t.Errorf("channel %s: x-nats-stream %q, want OFFERFLOW or DODO_EVENTS", ch.ID, ch.Stream)
			continue
		}
		if !strings.HasPrefix(ch.Address, prefix) {
			t.Errorf("channel %s: address %s is not on stream %s's subjects (%s>)", ch.ID, ch.Address, ch.Stream, prefix)
		}
	}
}

// The document's examples are messages the contract accepts: what a reader
// of the document copies is right.
func TestExamplesValidate(t *testing.T) {
	c := load(t)
	n := 0
	for _, ch := range c.Channels {
		for _, ex := range ch.Examples {
			n++
			if err := ch.Validate(headers(ex.Headers), ex.Payload); err != nil {
				t.Errorf("channel %s example %s: %v", ch.ID, ex.Name, err)
			}
		}
	}
	if n < 5 {
		t.Fatalf("%d examples, want at least 5", n)
	}
}

func headers(h map[string]string) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = []string{v}
	}
	return out
}

// example returns channel id's first example, payload decoded, so a case
// can break one thing in it.
func example(t *testing.T, c *contract.Contract, id string) (map[string][]string, map[string]any) {
	t.Helper()
	for _, ch := range c.Channels {
		if ch.ID != id {
			continue
		}
		if len(ch.Examples) == 0 {
			t.Fatalf("channel %s has no example", id)
		}
		var p map[string]any
		if err := json.Unmarshal(ch.Examples[0].Payload, &p); err != nil {
			t.Fatal(err)
		}
		return headers(ch.Examples[0].Headers), p
	}
	t.Fatalf("no channel %s", id)
	return nil, nil
}

// A message that breaks the contract in one way fails validation, and the
// error says where: the check the end-to-end tests rely on can fail.
func TestValidateRefusesWrongMessages(t *testing.T) {
	c := load(t)
	with := func(p map[string]any, k string, v any) map[string]any {
		q := make(map[string]any, len(p)+1)
		for kk, vv := range p {
			q[kk] = vv
		}
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q
	}
	withH := func(h map[string][]string, k string, v []string) map[string][]string {
		q := make(map[string][]string, len(h)+1)
		for kk, vv := range h {
			q[kk] = vv
		}
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q
	}
	grantH, grant := example(t, c, "accessGranted")
	confH, conf := example(t, c, "confirmationSent")
	sigH, sig := example(t, c, "signal")
	hookH, hook := example(t, c, "webhook")
	offerH, offer := example(t, c, "offerCreated")
	convH, conv := example(t, c, "offerConverted")
	accepted := with(with(with(with(offer, "event", "offer.accepted"), "state", "accepted"), "accept_token", nil), "page_url", nil)
	acceptedH := headers(map[string]string{"Nats-Msg-Id": "offer.ofr_obspjkrwmk4jt3rxdus2z5zj.accepted"})
	type msg struct {
		subject string
		header  map[string][]string
		payload any // marshalled unless []byte
	}
	tests := []struct {
		name string
		msg  msg
		want string // in the error; "" for a message that must pass
	}{
		{"the example grant", msg{"offerflow.access.granted.cus_1", grantH, grant}, ""},
		{"a grant without customer_id", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "customer_id", nil)}, "customer_id"},
		{"a grant with a field we never send", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "plan", "pro")}, "plan"},
		{"a grant with an unknown status", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "status", "bogus")}, "status"},
		{"a revoke on the granted subject", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "type", "access.revoked")}, "type"},
		{"features as a string", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "features", "api")}, "features"},
		{"event_at not a time", msg{"offerflow.access.granted.cus_1", grantH, with(grant, "event_at", "yesterday")}, "event_at"},
		{"no Nats-Msg-Id", msg{"offerflow.access.granted.cus_1", withH(grantH, "Nats-Msg-Id", nil), grant}, "Nats-Msg-Id"},
		{"a header we never send", msg{"offerflow.access.granted.cus_1", withH(grantH, "X-Extra", []string{"1"}), grant}, "X-Extra"},
		{"two values of Nats-Msg-Id", msg{"offerflow.access.granted.cus_1", withH(grantH, "Nats-Msg-Id", []string{"a", "b"}), grant}, "Nats-Msg-Id"},
		{"a customer token of two tokens", msg{"offerflow.access.granted.cus.1", grantH, grant}, "no channel"},
		{"a subject without a channel", msg{"offerflow.access.changed.cus_1", grantH, grant}, "no channel"},
		{"not JSON", msg{"offerflow.access.granted.cus_1", grantH, []byte("{")}, "not JSON"},
		{"JSON after the object", msg{"offerflow.access.granted.cus_1", grantH, []byte(`{} {}`)}, "not JSON"},
		{"the example offer", msg{"offerflow.offers.created.cus_ben", offerH, offer}, ""},
		{"an accepted offer", msg{"offerflow.offers.accepted.cus_ben", acceptedH, accepted}, ""},
		{"an accepted offer with its token", msg{"offerflow.offers.accepted.cus_ben", acceptedH, with(accepted, "accept_token", "v1.k1.x")}, "'not' failed"},
		{"an accepted offer with its page", msg{"offerflow.offers.accepted.cus_ben", acceptedH, with(with(accepted, "accept_token", "v1.k1.x"), "page_url", "https://o.example.com/o/ofr_1?t=v1.k1.x")}, "'not' failed"},
		{"a created offer without page_url", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "page_url", nil)}, ""},
		{"a page_url without its token", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "accept_token", nil)}, "accept_token"},
		{"a page_url that is not a page", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "page_url", "https://o.example.com/checkout")}, "page_url"},
		{"a created offer on the accepted subject", msg{"offerflow.offers.accepted.cus_ben", acceptedH, offer}, "event"},
		{"an offer's Nats-Msg-Id of another state", msg{"offerflow.offers.created.cus_ben", withH(offerH, "Nats-Msg-Id", []string{"offer.x.paid"}), offer}, "Nats-Msg-Id"},
		{"a trigger of a request", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "trigger", map[string]any{"request": "req_1"})}, ""},
		{"a trigger of two kinds", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "trigger", map[string]any{"event": "payment.succeeded", "webhook_id": "msg_1", "request": "req_1"})}, "trigger"},
		{"a trigger of an event without its webhook", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "trigger", map[string]any{"event": "payment.succeeded"})}, "trigger"},
		{"a trigger of a decline and a request", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "trigger", map[string]any{"declined_offer_id": "ofr_1", "request": "req_1"})}, "trigger"},
		{"an empty trigger", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "trigger", map[string]any{})}, "trigger"},
		{"a plan change without its subscription", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "subscription_id", nil)}, "subscription_id"},
		{"a purchase that names a plan", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "change_plan", false)}, "'not' failed"},
		{"a negative quantity", msg{"offerflow.offers.created.cus_ben", offerH, with(offer, "quantity", -1)}, "quantity"},
		{"the example conversion", msg{"offerflow.offers.converted.cus_ana", convH, conv}, ""},
		{"a purchase converted without its payment", msg{"offerflow.offers.converted.cus_ana", convH, with(conv, "payment_id", nil)}, "payment_id"},
		{"a plan change converted without a payment", msg{"offerflow.offers.converted.cus_ben", headers(map[string]string{"Nats-Msg-Id": "offer.ofr_obspjkrwmk4jt3rxdus2z5zj.charged"}),
			with(with(with(with(with(offer, "event", "offer.converted"), "state", "charged"), "accept_token", nil), "page_url", nil), "history", []any{
				map[string]any{"state": "open", "at": "2026-04-01T09:00:00Z", "reason": "created"},
				map[string]any{"state": "charged", "at": "2026-04-01T09:01:00Z"}})}, ""},
		{"the example confirmation", msg{"offerflow.confirmations.sent.cus_ben", confH, conf}, ""},
		{"a confirmation of an unknown kind", msg{"offerflow.confirmations.sent.cus_ben", confH, with(conf, "kind", "refund")}, "kind"},
		{"a confirmation with a float amount", msg{"offerflow.confirmations.sent.cus_ben", confH, with(conf, "amount", 50.5)}, "amount"},
		{"a confirmation's Nats-Msg-Id of an offer", msg{"offerflow.confirmations.sent.cus_ben", withH(confH, "Nats-Msg-Id", []string{"offer.x.open"}), conf}, "Nats-Msg-Id"},
		{"the example signal", msg{"offerflow.signals.cus_ben", sigH, sig}, ""},
		{"a signal of an unknown name", msg{"offerflow.signals.cus_ben", sigH, with(sig, "name", "churn_risk")}, "name"},
		{"the example webhook", msg{"dodo.events.payment.succeeded", hookH, hook}, ""},
		{"a webhook without its signature", msg{"dodo.events.payment.succeeded", withH(hookH, "webhook-signature", nil), hook}, "webhook-signature"},
		{"a reconciled webhook", msg{"dodo.events.payment.succeeded", withH(withH(hookH, "webhook-signature", nil), "Offerflow-Reconciled", []string{"true"}), hook}, ""},
		{"a webhook without type", msg{"dodo.events.payment.succeeded", hookH, with(hook, "type", nil)}, "type"},
		{"a body that is not JSON, stored as such", msg{"dodo.events._invalid.json", hookH, []byte("not json")}, ""},
		{"a dead letter without its reason", msg{"offerflow.deadletter.payment.succeeded", headers(map[string]string{
			"Nats-Msg-Id": "dlq.DODO_EVENTS.7", "Offerflow-Dlq-Kind": "permanent", "Offerflow-Dlq-Subject": "dodo.events.payment.succeeded",
			"Offerflow-Dlq-Stream": "DODO_EVENTS", "Offerflow-Dlq-Stream-Seq": "7", "Offerflow-Dlq-Deliveries": "1",
			"Offerflow-Dlq-Dead-At": "2026-04-01T09:00:00Z"}), []byte("anything")}, "Offerflow-Dlq-Reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, ok := tt.msg.payload.([]byte)
			if !ok {
				var err error
				if data, err = json.Marshal(tt.msg.payload); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Validate(tt.msg.subject, tt.msg.header, data)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want it valid", err)
			case tt.want != "" && err == nil:
				t.Fatalf("got valid, want an error about %s", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("got %v, want an error that names %s", err, tt.want)
			}
		})
	}
}

// Overlapping addresses go to the more literal channel; a subject of no
// channel is ErrNoChannel.
func TestChannelOfSubject(t *testing.T) {
	c := load(t)
	tests := []struct{ subject, want string }{
		{"offerflow.deadletter.payment.succeeded", "deadLetter"},
		{"offerflow.deadletter._invalid.json", "deadLetter"},
		{"offerflow.deadletter.offerflow.signals.cus_1", "signalDeadLetter"},
		{"dodo.events._invalid.json", "webhookInvalidJSON"},
		{"dodo.events.subscription.plan_changed", "webhook"},
		{"offerflow.offers.created.b64_Y3VzIDE", "offerCreated"},
	}
	for _, tt := range tests {
		ch, err := c.Channel(tt.subject)
		if err != nil || ch.ID != tt.want {
			t.Errorf("Channel(%s) = %v, %v; want %s", tt.subject, ch, err, tt.want)
		}
	}
	for _, s := range []string{"offerflow.access.granted", "offerflow.access.granted.", "offerflow.bench.naive", "dodo.events", "other.subject"} {
		if _, err := c.Channel(s); !errors.Is(err, contract.ErrNoChannel) {
			t.Errorf("Channel(%s): %v, want ErrNoChannel", s, err)
		}
	}
}
