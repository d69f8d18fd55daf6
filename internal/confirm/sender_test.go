package confirm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
)

const testLease = time.Minute

// env is a Service on an embedded JetStream server and a real SMTP server.
type env struct {
	js     jetstream.JetStream
	clock  *fakeclock.Clock // the ledger's leases run out when the test says
	smtp   *smtpServer
	ledger *natsbus.Ledger
	svc    *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := natsbus.NewPublishJetStream(nc, 256, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.StreamSettings{}); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	e := &env{js: js, clock: fakeclock.At(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), smtp: startSMTP(t, smtpOptions{tls: true, user: "shop", pass: "s3cret"})}
	e.ledger = e.newLedger(t, "worker-1")
	e.svc = NewService(e.ledger, natsbus.NewPublisher(js, 5*time.Second), e.smtp.mailer(t), newRenderer(t, ""), zap.NewNop(), e.clock.Now, nil)
	return e
}

func (e *env) newLedger(t *testing.T, owner string) *natsbus.Ledger {
	t.Helper()
	l, err := natsbus.NewLedger(context.Background(), e.js, owner, testLease, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sent returns the confirmation messages in the stream, decoded, and
// their raw bodies.
func (e *env) sent(t *testing.T) ([]Sent, [][]byte) {
	t.Helper()
	var out []Sent
	var raw [][]byte
	for _, m := range natstest.Messages(t, e.js, natsbus.OutStream, SubjectPrefix) {
		var s Sent
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Fatalf("confirmation message: %v\n%s", err, m.Data)
		}
		if want := Subject(s.CustomerID); m.Subject != want {
			t.Errorf("subject %q, want %q", m.Subject, want)
		}
		if got, want := m.Header.Get(jetstream.MsgIDHeader), "confirm."+s.ID; got != want {
			t.Errorf("Nats-Msg-Id %q, want %q", got, want)
		}
		out = append(out, s)
		raw = append(raw, m.Data)
	}
	return out, raw
}

func (e *env) state(t *testing.T, key string) string {
	t.Helper()
	st, err := e.ledger.State(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// expectOnce checks that id went out exactly once: one email, one message,
// the ledger done.
func (e *env) expectOnce(t *testing.T, id string) {
	t.Helper()
	emails := 0
	for _, m := range e.smtp.messages() {
		if strings.Contains(string(m.Data), "\r\n"+HeaderConfirmation+": "+id+"\r\n") {
			emails++
		}
	}
	sent, _ := e.sent(t)
	msgs := 0
	for _, s := range sent {
		if s.ID == id {
			msgs++
		}
	}
	if emails != 1 || msgs != 1 {
		t.Fatalf("%s: %d emails and %d messages, want 1 and 1", id, emails, msgs)
	}
	if st := e.state(t, "confirm."+id); st != "done" {
		t.Fatalf("ledger confirm.%s = %q, want done", id, st)
	}
}

// TestSendEveryKind sends each kind in English and Spanish through the
// real SMTP server and checks both parts of the email and the message.
func TestSendEveryKind(t *testing.T) {
	e := newEnv(t)
	type want struct {
		subject string
		body    []string // in both the text and the HTML
		text    []string // in the text only
	}
	tests := []struct {
		kind Kind
		edit func(*Confirmation)
		en   want
		es   want
	}{
		{kind: OfferPurchased,
			edit: func(c *Confirmation) {
				c.ProductName, c.Currency, c.Amount, c.PaymentID = "Extra Storage", "EUR", 3000, "pay_1"
				c.Features = []string{"100 GB", "Priority support"}
			},
			en: want{subject: "Your purchase: Extra Storage", body: []string{"Thank you for buying", "€ 30.00", "100 GB", "Priority support", "pay_1"}},
			es: want{subject: "Tu compra: Extra Storage", body: []string{"Gracias por comprar", "€ 30,00", "100 GB", "Priority support", "pay_1"}},
		},
		{kind: PlanUpgraded,
			edit: func(c *Confirmation) {
				c.ProductName, c.FromProductName, c.Currency, c.Amount = "Pro", "Basic", "USD", 1250
				c.Features = []string{"API access"}
			},
			en: want{subject: "Your plan is now Pro", body: []string{"from", "Basic", "Pro", "$ 12.50", "rest of the current billing period", "API access"}},
			es: want{subject: "Tu plan ahora es Pro", body: []string{"de", "Basic", "Pro", "US$ 12,50", "periodo de facturación actual", "API access"}},
		},
		{kind: PlanDowngraded,
			edit: func(c *Confirmation) {
				c.ProductName, c.FromProductName, c.Currency, c.Amount, c.Credit = "Basic", "Pro", "JPY", 0, 1500
				c.Features = []string{"API access"}
			},
			en: want{subject: "Your plan changed to Basic", body: []string{"Pro", "Basic", "You keep a credit of", "¥ 1,500", "No longer included", "API access"}},
			es: want{subject: "Tu plan cambió a Basic", body: []string{"Pro", "Basic", "Conservas un crédito de", "JPY 1.500", "Ya no incluye", "API access"}},
		},
		{kind: AccessGranted,
			edit: func(c *Confirmation) { c.ProductName, c.Features = "Course", []string{"Module 1", "Module 2"} },
			en:   want{subject: "Your access to Course is ready", body: []string{"You now have access to", "Module 1", "Module 2"}},
			es:   want{subject: "Tu acceso a Course está listo", body: []string{"Ya tienes acceso a", "Module 1", "Module 2"}},
		},
		{kind: AccessRevoked,
			edit: func(c *Confirmation) { c.ProductName, c.Features = "Course", []string{"Module 1"} },
			en:   want{subject: "Your access to Course has ended", body: []string{"has ended", "No longer available", "Module 1"}},
			es:   want{subject: "Tu acceso a Course ha terminado", body: []string{"ha terminado", "Ya no tienes", "Module 1"}},
		},
		{kind: ChargeFailed,
			edit: func(c *Confirmation) {
				c.ProductName, c.Currency, c.Amount = "Extra Storage", "INR", 49900
				c.CheckoutURL, c.UpdatePaymentMethod = "https://test.checkout.dodopayments.com/cks_123?x=1&y=2", true
			},
			en: want{subject: "We could not complete your purchase of Extra Storage", body: []string{"₹ 499.00", "update the payment method"},
				text: []string{"https://test.checkout.dodopayments.com/cks_123?x=1&y=2"}},
			es: want{subject: "No pudimos completar tu compra de Extra Storage", body: []string{"INR 499,00", "actualices el método de pago"},
				text: []string{"https://test.checkout.dodopayments.com/cks_123?x=1&y=2"}},
		},
	}
	for _, tt := range tests {
		for _, lang := range []string{"en", "es-MX"} {
			t.Run(string(tt.kind)+"/"+lang, func(t *testing.T) {
				c := valid(tt.kind)
				c.ID = fmt.Sprintf("%s.%s", tt.kind, lang)
				c.Language = lang
				tt.edit(&c)
				w := tt.en
				if lang != "en" {
					w = tt.es
					// es-MX formats numbers as Mexico does.
					mx := strings.NewReplacer("US$ 12,50", "USD 12.50", "JPY 1.500", "JPY 1,500", "INR 499,00", "INR 499.00", "€ 30,00", "EUR 30.00")
					w.body = slices.Clone(w.body)
					for i, s := range w.body {
						w.body[i] = mx.Replace(s)
					}
				}
				if err := e.svc.Send(context.Background(), c); err != nil {
					t.Fatalf("Send: %v", err)
				}
				e.expectOnce(t, c.ID)
				var got email
				for _, m := range e.smtp.messages() {
					if strings.Contains(string(m.Data), HeaderConfirmation+": "+c.ID+"\r\n") {
						got = parseEmail(t, m.Data)
						if len(m.To) != 1 || m.To[0] != c.Email {
							t.Errorf("sent to %v, want %s", m.To, c.Email)
						}
					}
				}
				if got.Subject != w.subject {
					t.Errorf("Subject = %q, want %q", got.Subject, w.subject)
				}
				for _, s := range w.body {
					if !strings.Contains(got.Text, s) {
						t.Errorf("text lacks %q:\n%s", s, got.Text)
					}
					if !strings.Contains(got.HTML, s) {
						t.Errorf("HTML lacks %q:\n%s", s, got.HTML)
					}
				}
				for _, s := range w.text {
					if !strings.Contains(got.Text, s) {
						t.Errorf("text lacks %q:\n%s", s, got.Text)
					}
				}
				if tt.kind == ChargeFailed {
					// In HTML the link is an attribute, its & escaped.
					if href := `href="https://test.checkout.dodopayments.com/cks_123?x=1&amp;y=2"`; !strings.Contains(got.HTML, href) {
						t.Errorf("HTML lacks %s:\n%s", href, got.HTML)
					}
				}
				if id, want := got.Header.Get("Message-Id"), "<confirm."+natsbus.Token(c.ID)+"@example.com>"; id != want {
					t.Errorf("Message-ID = %q, want %q", id, want)
				}
				sent, _ := e.sent(t)
				i := slices.IndexFunc(sent, func(s Sent) bool { return s.ID == c.ID })
				s := sent[i]
				if s.Channel != ChannelEmail || s.Subject != w.subject || s.Kind != tt.kind || s.Email != c.Email || s.Amount != c.Amount || s.Credit != c.Credit {
					t.Errorf("message = %+v, want channel email, the subject, kind, email and amounts", s)
				}
				if wantLang := lang[:2]; s.Language != wantLang {
					t.Errorf("message language = %q, want %q", s.Language, wantLang)
				}
			})
		}
	}
}

func TestSendTwiceSendsOnce(t *testing.T) {
	e := newEnv(t)
	c := valid(OfferPurchased)
	for i := range 2 {
		if err := e.svc.Send(context.Background(), c); err != nil {
			t.Fatalf("Send #%d: %v", i+1, err)
		}
	}
	e.expectOnce(t, c.ID)
	if st := e.state(t, "confirm-email."+c.ID); st != "done" {
		t.Fatalf("email key = %q, want done", st)
	}
}

func TestSendConcurrentSendsOnce(t *testing.T) {
	e := newEnv(t)
	c := valid(PlanUpgraded)
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = e.svc.Send(context.Background(), c) })
	}
	wg.Wait()
	done := 0
	for _, err := range errs {
		switch {
		case err == nil:
			done++
		case errors.Is(err, natsbus.ErrClaimHeld) && !fault.IsPermanent(err):
			// Lost the race to the one that sends; the redelivery finds it
			// done.
		default:
			t.Fatalf("Send = %v, want nil or a transient ErrClaimHeld", err)
		}
	}
	if done == 0 {
		t.Fatal("no Send succeeded")
	}
	if err := e.svc.Send(context.Background(), c); err != nil {
		t.Fatalf("Send after the race = %v, want nil (done)", err)
	}
	e.expectOnce(t, c.ID)
}

// TestSendTakesOverDeadWorkersClaim: a worker claimed the confirmation
// and died. Until its lease runs out, Send answers ErrClaimHeld; after,
// it sends exactly once.
func TestSendTakesOverDeadWorkersClaim(t *testing.T) {
	e := newEnv(t)
	c := valid(AccessGranted)
	dead := e.newLedger(t, "worker-dead")
	if _, err := dead.Claim(context.Background(), "confirm."+c.ID); err != nil {
		t.Fatal(err)
	}
	err := e.svc.Send(context.Background(), c)
	if !errors.Is(err, natsbus.ErrClaimHeld) || fault.IsPermanent(err) {
		t.Fatalf("Send while claimed = %v, want a transient ErrClaimHeld", err)
	}
	if n := len(e.smtp.messages()); n != 0 {
		t.Fatalf("%d emails while another worker holds the claim, want 0", n)
	}
	e.clock.Advance(testLease + time.Second)
	if err := e.svc.Send(context.Background(), c); err != nil {
		t.Fatalf("Send after the lease = %v, want nil", err)
	}
	e.expectOnce(t, c.ID)
}

// TestSendSMTPOutage: with the SMTP server down, Send fails transiently,
// commits nothing and gives its claims back; once the server is back, the
// next Send sends once, without waiting for a lease.
func TestSendSMTPOutage(t *testing.T) {
	e := newEnv(t)
	c := valid(OfferPurchased)
	e.smtp.stop()
	err := e.svc.Send(context.Background(), c)
	if err == nil || fault.IsPermanent(err) {
		t.Fatalf("Send during the outage = %v, want a transient error", err)
	}
	if st := e.state(t, "confirm."+c.ID); st == "done" {
		t.Fatal("ledger says done after a failed send")
	}
	if st := e.state(t, "confirm-email."+c.ID); st == "done" {
		t.Fatal("email key says done after a failed send")
	}
	if sent, _ := e.sent(t); len(sent) != 0 {
		t.Fatalf("%d messages published during the outage, want 0", len(sent))
	}
	if st := e.state(t, "confirm."+c.ID); st != "" {
		t.Fatalf("ledger holds %q after a failed send, want the claim released", st)
	}
	e.smtp.restart()
	if err := e.svc.Send(context.Background(), c); err != nil {
		t.Fatalf("Send after the outage: %v", err)
	}
	e.expectOnce(t, c.ID)
}

// TestSendPublishFailureDoesNotRepeatEmail: the email went out but the
// message could not be published; the retry publishes without a second
// email.
func TestSendPublishFailureDoesNotRepeatEmail(t *testing.T) {
	e := newEnv(t)
	c := valid(PlanDowngraded)
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, natsbus.OutStream); err != nil {
		t.Fatal(err)
	}
	err := e.svc.Send(ctx, c)
	if err == nil || fault.IsPermanent(err) || !errors.Is(err, natsbus.ErrNotStored) {
		t.Fatalf("Send without the stream = %v, want a transient ErrNotStored", err)
	}
	if n := len(e.smtp.messages()); n != 1 {
		t.Fatalf("%d emails, want 1", n)
	}
	if err := natsbus.EnsureStreams(ctx, e.js, natsbus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(testLease + time.Second)
	if err := e.svc.Send(ctx, c); err != nil {
		t.Fatalf("Send after the stream is back: %v", err)
	}
	e.expectOnce(t, c.ID)
}

func TestSendRejectedIsPermanent(t *testing.T) {
	e := newEnv(t)
	e.smtp.failRcpt(smtpError(550, "mailbox unavailable"))
	c := valid(OfferPurchased)
	err := e.svc.Send(context.Background(), c)
	if !fault.IsPermanent(err) {
		t.Fatalf("Send to a 550 = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), c.ID) {
		t.Errorf("error %q should name the reply and the confirmation", err)
	}
	if sent, _ := e.sent(t); len(sent) != 0 {
		t.Fatalf("%d messages published, want 0", len(sent))
	}
	if st := e.state(t, "confirm."+c.ID); st == "done" {
		t.Fatal("ledger says done after a refused email")
	}
}

func TestSendWithoutEmail(t *testing.T) {
	e := newEnv(t)
	c := valid(AccessRevoked)
	c.Email = ""
	if err := e.svc.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// No mailer configured: the address is kept, nothing is mailed.
	noSMTP := NewService(e.ledger, natsbus.NewPublisher(e.js, 5*time.Second), nil, newRenderer(t, ""), zap.NewNop(), e.clock.Now, nil)
	d := valid(AccessGranted)
	if err := noSMTP.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if n := len(e.smtp.messages()); n != 0 {
		t.Fatalf("%d emails, want 0", n)
	}
	sent, _ := e.sent(t)
	if len(sent) != 2 {
		t.Fatalf("%d messages, want 2", len(sent))
	}
	if s := sent[0]; s.ID != c.ID || s.Channel != ChannelNone || s.Email != "" || s.Subject != "Your access to Pro has ended" {
		t.Errorf("message without address = %+v", s)
	}
	if s := sent[1]; s.ID != d.ID || s.Channel != ChannelNone || s.Email != d.Email {
		t.Errorf("message without SMTP = %+v, want channel none and the address", s)
	}
	if st := e.state(t, "confirm-email."+c.ID); st != "" {
		t.Errorf("email key = %q for a confirmation without email, want none", st)
	}
}

func TestSendInvalidIsPermanent(t *testing.T) {
	e := newEnv(t)
	c := valid(ChargeFailed)
	c.CheckoutURL = ""
	err := e.svc.Send(context.Background(), c)
	if !fault.IsPermanent(err) || !strings.Contains(err.Error(), "checkout_url") {
		t.Fatalf("Send(invalid) = %v, want a permanent error about checkout_url", err)
	}
	if st := e.state(t, "confirm."+c.ID); st != "" {
		t.Fatalf("ledger = %q for an invalid confirmation, want untouched", st)
	}
}

// TestSentSchema checks the published JSON field by field: every
// documented field is present, even when empty.
func TestSentSchema(t *testing.T) {
	e := newEnv(t)
	c := valid(PlanDowngraded)
	c.Currency, c.Amount, c.Credit = "usd", 0, 2500
	c.FromProductName, c.SubscriptionID, c.Language = "Pro", "sub_1", "es"
	c.ProductName = "Basic"
	if err := e.svc.Send(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	_, raw := e.sent(t)
	var got map[string]any
	if err := json.Unmarshal(raw[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": c.ID, "type": "confirmation.sent", "kind": "plan_downgraded", "customer_id": "cus_1",
		"email": "ana@example.com", "language": "es", "subject": "Tu plan cambió a Basic", "channel": "email",
		"product_id": "pdt_pro", "product_name": "Basic", "from_product_name": "Pro",
		"currency": "USD", "amount": 0.0, "credit": 2500.0, "amount_formatted": "", "credit_formatted": "US$ 25,00",
		"features": []any{}, "checkout_url": "", "update_payment_method": false,
		"offer_id": "", "payment_id": "", "subscription_id": "sub_1",
		"at": "2025-06-01T12:00:00Z", "sent_at": "2025-06-01T12:00:00Z",
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("field %q missing", k)
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("undocumented field %q", k)
		}
	}
}
