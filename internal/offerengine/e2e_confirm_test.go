package offerengine_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/dlq"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
	"github.com/offerflow/offerflow/internal/webhook"
)

// confirmations returns the confirmation messages published for a
// customer.
func (e *env) confirmations(customer string) []confirm.Sent {
	e.t.Helper()
	return testenv.Decode[confirm.Sent](e.t, e.Messages(e.t, natsbus.OutStream, confirm.Subject(customer)))
}

// Each flow that changes what the customer has or pays sends one email
// with its content: a grant, an offer bought (not also its grant), a plan
// upgraded with the amount (not also its access changes). Webhooks
// delivered again, in reverse order and past JetStream's duplicate window,
// send nothing more.
func TestConfirmationsOnePerBusinessChange(t *testing.T) {
	in := startInbox(t)
	e := newEnv(t, testenv.WithSMTP("smtp://"+in.addr+"?starttls=none&from=shop@example.com"))
	pm := e.customer("cus_mail", card(goodCard))

	e.buy("cus_mail", pm, "pdt_course")
	wb := e.created("cus_mail", "pdt_workbook")
	if status, body := e.accept(wb.ID, wb.AcceptToken); status != http.StatusOK {
		t.Fatalf("accept workbook: %d %v", status, body)
	}
	e.settle()
	e.buy("cus_mail", pm, "pdt_basic")
	pro := e.created("cus_mail", "pdt_pro")
	if status, body := e.accept(pro.ID, pro.AcceptToken); status != http.StatusOK || str(body, "outcome") != "charged" {
		t.Fatalf("accept pro: %d %v", status, body)
	}
	e.settle()

	want := map[string][]string{
		"access.":                      {"Course", "course"},
		"offer." + wb.ID + ".charged":  {"Workbook", "19.00"},
		"offer." + pro.ID + ".charged": {"Pro", "50.00", "Basic"},
	}
	if n := in.count(); n != 4 {
		t.Fatalf("%d emails, want 4 (course granted, workbook bought, Basic granted, upgraded to Pro)", n)
	}
	for prefix, words := range want {
		got := in.sent(prefix)
		if len(got) == 0 {
			t.Fatalf("no email for %s", prefix)
		}
		for _, w := range words {
			if !strings.Contains(got[0], w) {
				t.Errorf("email %s lacks %q:\n%s", prefix, w, got[0])
			}
		}
		if !strings.Contains(got[0], "To: ") || !strings.Contains(got[0], "cus_mail@example.com") {
			t.Errorf("email %s is not to the customer", prefix)
		}
	}
	sent := e.confirmations("cus_mail")
	kinds := []string{}
	for _, s := range sent {
		kinds = append(kinds, string(s.Kind))
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"access_granted", "access_granted", "offer_purchased", "plan_upgraded"}) {
		t.Fatalf("confirmations.sent kinds %v", kinds)
	}

	// Every stored webhook again, newest first, under new message ids (as
	// Dodo's retries after JetStream's window would arrive).
	stored := e.Messages(t, natsbus.EventsStream, "dodo.events.")
	for i := len(stored) - 1; i >= 0; i-- {
		m := nats.NewMsg(stored[i].Subject)
		m.Data = stored[i].Data
		for k, v := range stored[i].Header {
			m.Header[k] = v
		}
		m.Header.Set(jetstream.MsgIDHeader, "replay."+m.Header.Get(natsbus.HeaderWebhookID))
		if _, err := e.Conn.JetStream().PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	e.settle()
	if n, m := in.count(), len(e.confirmations("cus_mail")); n != 4 || m != 4 {
		t.Fatalf("after redelivery: %d emails and %d confirmations, want 4 and 4", n, m)
	}
}

// An SMTP outage: the webhook is retried with backoff, then dead-lettered,
// nothing lost; after the outage, redriving the dead letter (signature
// checked again) sends the email once, and a second redrive nothing.
func TestConfirmationSMTPOutageDeadLetterRedrive(t *testing.T) {
	in := startInbox(t)
	e := newEnv(t, testenv.WithSMTP("smtp://"+in.addr+"?starttls=none&timeout=2s"))
	pm := e.customer("cus_down", card(goodCard))
	in.stop()
	e.buy("cus_down", pm, "pdt_course")
	ops, err := natsbus.Connect(natsbus.Dial{URL: e.NATSURL, Name: "offerflow-dlq"})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	var dead []dlq.Entry
	natstest.WaitFor(t, time.Minute, "the webhook to be dead-lettered", func() bool {
		var err error
		dead, err = dlq.List(context.Background(), ops, dlq.Filter{CustomerID: "cus_down"})
		return err == nil && len(dead) == 1
	})
	if dead[0].Kind != natsbus.DLQKindMaxDeliveries || !strings.Contains(strings.ToLower(dead[0].Reason), "email") {
		t.Fatalf("dead letter %+v: want max_deliveries with the SMTP failure as reason", dead[0])
	}
	if in.count() != 0 {
		t.Fatal("an email was sent during the outage")
	}
	in.start()
	checker, err := dlq.NewChecker([]webhook.Secret{e.Secret})
	if err != nil {
		t.Fatal(err)
	}
	res, err := dlq.Redrive(context.Background(), ops, checker, dead, false)
	if err != nil || len(res) != 1 || res[0].Action != dlq.ActionRedriven {
		t.Fatalf("redrive: %+v, %v", res, err)
	}
	e.settle()
	if got := in.sent("access."); len(got) != 1 || !strings.Contains(got[0], "Course") {
		t.Fatalf("after the redrive: %d emails, want 1 about the course", len(got))
	}
	// The dead letter is gone; redriving what is left does nothing.
	left, err := dlq.List(context.Background(), ops, dlq.Filter{CustomerID: "cus_down"})
	if err != nil || len(left) != 0 {
		t.Fatalf("dead letters left: %+v %v", left, err)
	}
	if _, err := dlq.Redrive(context.Background(), ops, checker, dead, false); err != nil {
		t.Logf("second redrive: %v", err)
	}
	e.settle()
	if n := in.count(); n != 1 {
		t.Fatalf("%d emails after a second redrive, want 1", n)
	}
}

// A rule whose offer Dodo refuses for good (a customer Dodo does not know)
// makes no offer, and does not dead-letter the webhook: its access is
// granted and confirmed as usual.
func TestOfferRefusedByDodoDoesNotDeadLetter(t *testing.T) {
	e := newEnv(t)
	now := e.Clock.Now()
	body := []byte(`{"business_id":"bus_standin","type":"payment.succeeded","timestamp":"` + now.Format(time.RFC3339) + `","data":{"payload_type":"Payment",
		"payment_id":"pay_ghost","total_amount":4900,"currency":"USD","status":"succeeded","created_at":"` + now.Format(time.RFC3339) + `",
		"customer":{"customer_id":"cus_ghost","email":"ghost@example.com","name":"Ghost"},"billing":{"country":"US","zipcode":"94102"},
		"metadata":{},"product_cart":[{"product_id":"pdt_course","quantity":1}]}}`)
	if code := e.Post(t, "msg_ghost", body); code != http.StatusOK {
		t.Fatalf("webhook: %d", code)
	}
	e.settle()
	if dead := e.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix); len(dead) != 0 {
		t.Fatalf("dead letters: %d, want 0", len(dead))
	}
	if got := e.Messages(t, natsbus.OutStream, "offerflow.access.granted."+natsbus.Token("cus_ghost")); len(got) != 1 {
		t.Fatalf("grants: %d, want 1", len(got))
	}
	if got := e.messages("created", "cus_ghost"); len(got) != 0 {
		t.Fatalf("offers made for a customer Dodo does not know: %d", len(got))
	}
}

// An event reconciled from Dodo's API (possibly days old) grants access
// but makes no offer; the same event as a webhook would.
func TestReconciledEventMakesNoOffer(t *testing.T) {
	// The test stores both events itself, with only the headers the
	// worker reads: neither has the webhook-timestamp the ingest and
	// reconcile always set, and the "webhook" has no signature.
	e := newEnv(t, testenv.WithOffContract("reconcile_1", "msg_live_1"))
	e.customer("cus_rec", card(goodCard))
	now := e.Clock.Now().Format(time.RFC3339)
	body := []byte(`{"business_id":"bus_standin","type":"payment.succeeded","timestamp":"` + now + `","data":{"payload_type":"Payment",
		"payment_id":"pay_rec","total_amount":4900,"currency":"USD","status":"succeeded","created_at":"` + now + `",
		"customer":{"customer_id":"cus_rec","email":"rec@example.com","name":"Rec"},"billing":{"country":"US","zipcode":"94102"},
		"metadata":{},"product_cart":[{"product_id":"pdt_course","quantity":1}]}}`)
	publish := func(id string, reconciled bool) {
		t.Helper()
		m := nats.NewMsg("dodo.events.payment.succeeded")
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(natsbus.HeaderWebhookID, id)
		if reconciled {
			m.Header.Set(natsbus.HeaderReconciled, "true")
		}
		if _, err := e.Conn.JetStream().PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	publish("reconcile_1", true)
	e.settle()
	if got := e.Messages(t, natsbus.OutStream, "offerflow.access.granted."+natsbus.Token("cus_rec")); len(got) != 1 {
		t.Fatalf("grants: %d, want 1", len(got))
	}
	if got := e.messages("created", "cus_rec"); len(got) != 0 {
		t.Fatalf("a reconciled event made %d offers, want 0", len(got))
	}
	publish("msg_live_1", false)
	e.settle()
	if got := e.messages("created", "cus_rec"); len(got) != 1 || got[0].ProductID != "pdt_workbook" {
		t.Fatalf("the same event as a webhook made %d offers, want the workbook", len(got))
	}
}

// The operator turns confirmation kinds off (OFFERFLOW_CONFIRMATIONS_OFF):
// none of them is emailed or published, and the others still are.
func TestConfirmationKindsTurnedOff(t *testing.T) {
	in := startInbox(t)
	e := newEnv(t, testenv.WithSMTP("smtp://"+in.addr+"?starttls=none&from=shop@example.com"), testenv.WithWorker(func(wc *service.WorkerConfig) {
		wc.ConfirmationsOff = "access_granted, access_revoked"
	}))
	const c = "cus_quiet"
	pm := e.customer(c, card(goodCard))
	e.buy(c, pm, "pdt_course") // access_granted: off
	wb := e.created(c, "pdt_workbook")
	if status, body := e.accept(wb.ID, wb.AcceptToken); status != http.StatusOK {
		t.Fatalf("accept: %d %v", status, body)
	}
	e.settle()
	sent := e.confirmations(c)
	if len(sent) != 1 || sent[0].Kind != confirm.OfferPurchased {
		t.Fatalf("confirmations %+v, want only the offer_purchased", sent)
	}
	if n := in.count(); n != 1 {
		t.Fatalf("%d emails, want 1", n)
	}
}
