package testenv

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/events"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Failed() bool { return len(r.errs) > 0 }

// The check an Env runs at its end fails on a message that breaks the
// contract (a payload missing required fields, a subject of no channel),
// passes on what offerflow itself published, and exempts exactly the
// messages WithOffContract names.
func TestContractCheckFailsOnWrongMessages(t *testing.T) {
	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	e := Start(t, WithOffContract("bad.grant", "bad.subject"))
	body := fmt.Appendf(nil, `{"business_id":"bus_1","type":"payment.succeeded","timestamp":%q,"data":{"payload_type":"Payment",
		"payment_id":"pay_1","status":"succeeded","total_amount":1900,"currency":"USD","subscription_id":null,
		"customer":{"customer_id":"cus_1","email":"ana@example.com","name":"Ana"},"product_cart":[{"product_id":"pdt_course","quantity":1}]}}`,
		at.Format(time.RFC3339))
	if code := e.Post(t, "msg_1", body); code != http.StatusOK {
		t.Fatalf("webhook: status %d, want 200", code)
	}
	e.Settle(t)

	good := &recorder{TB: t}
	e.checkContract(good, nil)
	if len(good.errs) != 0 {
		t.Fatalf("what offerflow published breaks the contract:\n%s", strings.Join(good.errs, "\n"))
	}

	pub := e.Conn.Publisher(10 * time.Second)
	for _, m := range []events.Message{
		{Subject: events.AccessPrefix + "granted.cus_1", ID: "bad.grant", Data: []byte(`{"id":"access.msg_2.granted.pdt_x","type":"access.granted"}`)},
		{Subject: events.OutPrefix + "nochannel.cus_1", ID: "bad.subject", Data: []byte(`{}`)},
	} {
		if _, err := pub.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	bad := &recorder{TB: t}
	e.checkContract(bad, nil)
	got := strings.Join(bad.errs, "\n")
	for _, want := range []string{"offerflow.access.granted.cus_1", "missing properties", "offerflow.nochannel.cus_1", "no channel"} {
		if !strings.Contains(got, want) {
			t.Errorf("errors do not mention %q:\n%s", want, got)
		}
	}
	if len(bad.errs) != 2 {
		t.Errorf("%d errors, want 2 (one per wrong message):\n%s", len(bad.errs), got)
	}

	exempt := &recorder{TB: t}
	e.checkContract(exempt, map[string]bool{"bad.grant": true, "bad.subject": true})
	if len(exempt.errs) != 0 {
		t.Fatalf("exempt messages reported:\n%s", strings.Join(exempt.errs, "\n"))
	}
}
