package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/testenv/fakeclock"
	"github.com/offerflow/offerflow/internal/webhook"
)

// TestWebhookDelivery: each delivery control, as the receiving endpoint
// sees it. The receiver verifies every signature with offerflow's
// verifier and validates every body against the spec.
func TestWebhookDelivery(t *testing.T) {
	// Two API calls: a one-click subscription (payment.succeeded,
	// subscription.active) and a one-time charge (payment.succeeded).
	calls := func(e *env) {
		e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtPro, 1)))
		e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	}
	inOrder := []string{"payment.succeeded", "subscription.active", "payment.succeeded"}
	tests := []struct {
		name      string
		delivery  Delivery
		failFirst int // the receiver answers 500 this many times
		wantTypes []string
		wantIDs   []string // webhook-ids, in arrival order
	}{
		{"in order by default", Delivery{}, 0, inOrder, []string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}},
		{"duplicate sends each twice with the same id", Delivery{Duplicate: true}, 0,
			[]string{"payment.succeeded", "payment.succeeded", "subscription.active", "subscription.active", "payment.succeeded", "payment.succeeded"},
			[]string{"msg_0000000001", "msg_0000000001", "msg_0000000002", "msg_0000000002", "msg_0000000003", "msg_0000000003"}},
		{"reorder reverses each call's webhooks", Delivery{Reorder: true}, 0,
			[]string{"subscription.active", "payment.succeeded", "payment.succeeded"},
			[]string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}},
		{"retried after 500s, same id", Delivery{}, 2, inOrder, []string{"msg_0000000001", "msg_0000000002", "msg_0000000003"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			e.s.SetDelivery(tt.delivery)
			e.recv.failNextN(tt.failFirst)
			calls(e)
			e.flush()
			got := e.recv.received()
			var types, ids []string
			for _, g := range got {
				types, ids = append(types, g.Type), append(ids, g.ID)
			}
			if !slices.Equal(types, tt.wantTypes) || !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("received %v %v, want %v %v", types, ids, tt.wantTypes, tt.wantIDs)
			}
			if tt.delivery.Duplicate && !bytes.Equal(got[0].Body, got[1].Body) {
				t.Errorf("a duplicate's body differs:\n%s\n%s", got[0].Body, got[1].Body)
			}
			sent := e.s.Sent()
			if want := len(tt.wantIDs) + tt.failFirst; len(sent) != want {
				t.Errorf("Sent() has %d attempts, want %d: %+v", len(sent), want, sent)
			}
			if tt.failFirst > 0 {
				first := sent[:tt.failFirst+1]
				for i, a := range first {
					wantStatus := http.StatusInternalServerError
					if i == tt.failFirst {
						wantStatus = http.StatusNoContent
					}
					if a.ID != "msg_0000000001" || a.Attempt != i+1 || a.Status != wantStatus {
						t.Errorf("attempt %d = %+v, want msg_0000000001 attempt %d status %d", i, a, i+1, wantStatus)
					}
				}
			}
		})
	}
}

// TestWebhookHold: held webhooks wait for Release, then go in order.
func TestWebhookHold(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.s.SetDelivery(Delivery{Hold: true})
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)))
	if err := e.s.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "2 webhooks held") {
		t.Errorf("Flush while held = %v, want an error saying 2 webhooks are held", err)
	}
	if n := len(e.s.Sent()); n != 0 {
		t.Errorf("Sent() while held has %d attempts, want 0", n)
	}
	e.s.Release()
	if got, want := e.webhooks(), []string{"payment.succeeded", "payment.failed"}; !slices.Equal(got, want) {
		t.Errorf("after Release: %v, want %v", got, want)
	}
	// Release ended the hold.
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	if got := e.webhooks(); !slices.Equal(got, []string{"payment.succeeded"}) {
		t.Errorf("after the hold: %v, want [payment.succeeded]", got)
	}
}

// TestWebhookTakeHeld: held webhooks can be taken out undelivered, in
// Dodo's order, with their bodies; nothing of them is delivered afterwards.
func TestWebhookTakeHeld(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	if got := e.s.TakeHeld(); len(got) != 0 {
		t.Fatalf("TakeHeld with nothing queued = %v, want none", got)
	}
	e.s.SetDelivery(Delivery{Hold: true})
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)))
	held := e.s.TakeHeld()
	var types []string
	for _, h := range held {
		types = append(types, h.Type)
		var ev struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(h.Body, &ev); err != nil || ev.Type != h.Type || h.ID == "" {
			t.Errorf("held webhook %+v: body type %q (%v), want %q and an id", h, ev.Type, err, h.Type)
		}
	}
	if want := []string{"payment.succeeded", "payment.failed"}; !slices.Equal(types, want) {
		t.Fatalf("TakeHeld = %v, want %v", types, want)
	}
	if err := e.s.Flush(context.Background()); err != nil {
		t.Errorf("Flush after TakeHeld = %v, want nil: nothing is queued", err)
	}
	e.s.Release()
	if n := len(e.s.Sent()); n != 0 {
		t.Errorf("after TakeHeld and Release, %d deliveries, want none", n)
	}
}

// TestWebhookDelay: a delayed webhook arrives no sooner than the delay
// after the call that caused it. The clock starts before the call: the
// webhook is queued (and its delay starts) while the call is handled, before
// its answer reaches the test.
func TestWebhookDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	e := newEnv(t, date(2026, 4, 16))
	e.s.SetDelivery(Delivery{Delay: delay})
	start := time.Now()
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.flush()
	got := e.recv.received()
	if len(got) != 1 {
		t.Fatalf("received %d webhooks, want 1", len(got))
	}
	if waited := got[0].At.Sub(start); waited < delay {
		t.Errorf("webhook arrived %s after the call, want at least %s", waited, delay)
	}
}

// TestWebhookGivesUp: a receiver that keeps failing gets WebhookAttempts
// deliveries, then the next webhook goes.
func TestWebhookGivesUp(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16), func(c *Config) { c.WebhookAttempts = 3; c.WebhookBackoff = time.Millisecond })
	e.recv.failNextN(3)
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmDecline, item(pdtGuide, 1)))
	if got := e.webhooks(); !slices.Equal(got, []string{"payment.failed"}) {
		t.Errorf("received %v, want only [payment.failed]: payment.succeeded was given up on", got)
	}
	var statuses []string
	for _, s := range e.s.Sent() {
		statuses = append(statuses, s.ID+":"+strconv.Itoa(s.Status))
	}
	want := []string{"msg_0000000001:500", "msg_0000000001:500", "msg_0000000001:500", "msg_0000000002:204"}
	if !slices.Equal(statuses, want) {
		t.Errorf("Sent() = %v, want %v", statuses, want)
	}
}

// TestWebhookSignature checks the headers against the Standard Webhooks
// scheme directly: webhook-timestamp is the stand-in's clock, and a
// verifier with another secret refuses the signature.
func TestWebhookSignature(t *testing.T) {
	now := time.Date(2026, 4, 16, 10, 30, 0, 0, time.UTC)
	secret := webhook.NewSecret([]byte("a-secret-for-the-signature-test!"))
	got := make(chan http.Header, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(r.Body)
		got <- r.Header.Clone()
		bodies <- b.Bytes()
	}))
	defer srv.Close()
	s := New(Config{APIKey: testAPIKey, WebhookURL: srv.URL, WebhookSecret: secret, Now: func() time.Time { return now }})
	defer s.Close()
	seed(t, s)
	api := httptest.NewServer(s.Handler())
	defer api.Close()
	req, _ := http.NewRequest("POST", api.URL+"/checkouts", strings.NewReader(`{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"},"payment_method_id":"pm_visa","confirm":true,"minimal_address":true,"billing_address":{"country":"US","zipcode":"94102"}}`))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h, body := <-got, <-bodies
	if ts := h.Get("webhook-timestamp"); ts != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("webhook-timestamp = %s, want %d", ts, now.Unix())
	}
	if sig := h.Get("webhook-signature"); sig != webhook.Sign(secret, h.Get("webhook-id"), now, body) || !strings.HasPrefix(sig, "v1,") {
		t.Errorf("webhook-signature = %s, want v1,<HMAC of id.timestamp.body>", sig)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	other, _ := webhook.NewVerifier([]webhook.Secret{webhook.NewSecret([]byte("another-secret-entirely-32-bytes"))}, webhook.DefaultTolerance, func() time.Time { return now })
	if _, err := other.VerifyRequest(h, body); err == nil {
		t.Errorf("a verifier with another secret accepted the webhook")
	}
}

// TestNoWebhookURL: without a URL nothing is queued or sent.
func TestNoWebhookURL(t *testing.T) {
	s := New(Config{APIKey: testAPIKey})
	defer s.Close()
	seed(t, s)
	api := httptest.NewServer(s.Handler())
	defer api.Close()
	req, _ := http.NewRequest("POST", api.URL+"/checkouts", strings.NewReader(`{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"},"payment_method_id":"pm_visa","confirm":true,"minimal_address":true,"billing_address":{"country":"US","zipcode":"94102"}}`))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || s.Charges(custAna) != 1 {
		t.Fatalf("checkout = %d, %d charges; want 200, 1", resp.StatusCode, s.Charges(custAna))
	}
	if err := s.Flush(context.Background()); err != nil || len(s.Sent()) != 0 {
		t.Errorf("Flush() = %v, Sent() = %v; want nil, none", err, s.Sent())
	}
}

// TestCloseWhileHeldOrRetrying: Close ends the sender whatever it is doing
// (goleak in TestMain checks that nothing is left running), and Flush
// afterwards says what was dropped.
func TestCloseWhileHeldOrRetrying(t *testing.T) {
	for _, name := range []string{"held", "retrying", "delayed"} {
		t.Run(name, func(t *testing.T) {
			c := fakeclock.At(date(2026, 4, 16))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			s := New(Config{APIKey: testAPIKey, WebhookURL: srv.URL, WebhookSecret: webhook.NewSecret([]byte("k")), Now: c.Now, WebhookBackoff: time.Hour})
			seed(t, s)
			switch name {
			case "held":
				s.SetDelivery(Delivery{Hold: true})
			case "delayed":
				s.SetDelivery(Delivery{Delay: time.Hour})
			}
			api := httptest.NewServer(s.Handler())
			defer api.Close()
			req, _ := http.NewRequest("POST", api.URL+"/checkouts", strings.NewReader(`{"product_cart":[{"product_id":"pdt_guide","quantity":1}],"customer":{"customer_id":"cus_ana"},"payment_method_id":"pm_visa","confirm":true,"minimal_address":true,"billing_address":{"country":"US","zipcode":"94102"}}`))
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
			resp, err := api.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if name == "retrying" {
				deadline := time.Now().Add(time.Minute) // a bound for a hung sender, not a wait
				for len(s.Sent()) == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if len(s.Sent()) == 0 {
					t.Fatal("no delivery attempt within a minute")
				}
			}
			s.Close()
			s.Close() // idempotent
			s.SetDelivery(Delivery{})
			if err := s.Flush(context.Background()); err == nil {
				t.Errorf("Flush after Close with a webhook queued = nil, want an error")
			}
		})
	}
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no API key", Config{}},
		{"URL without secret", Config{APIKey: "k", WebhookURL: "http://127.0.0.1:1"}},
		{"unknown on_payment_failure", Config{APIKey: "k", OnPaymentFailure: "retry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", tt.cfg)
				}
			}()
			New(tt.cfg).Close()
		})
	}
}
