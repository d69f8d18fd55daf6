package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/webhook"
)

// SignWebhook sets the Standard Webhooks headers Dodo sends with body:
// webhook-id id, webhook-timestamp at, and its signature under secret.
func SignWebhook(h http.Header, secret webhook.Secret, id string, at time.Time, body []byte) {
	h.Set(events.HeaderWebhookID, id)
	h.Set(events.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(events.HeaderWebhookSignature, webhook.Sign(secret, id, at, body))
}

// Post signs body as Dodo would, under webhook-id id at the clock's time,
// posts it to the ingest and returns the status. It does not wait for the
// worker (Settle does). A request that gets no answer is reported with
// t.Errorf and returns 0, so that goroutines the test starts may call it.
func (e *Env) Post(t testing.TB, id string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+WebhookPath, bytes.NewReader(body))
	if err != nil {
		t.Errorf("webhook %s: %v", id, err)
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	SignWebhook(req.Header, e.Secret, id, e.Clock.Now(), body)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Errorf("webhook %s: %v", id, err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Call makes a request of the ingest's API and returns the status and the
// JSON body (nil when empty). token is the bearer token to send: "" for
// none, e.APIToken for a server-to-server call. A string body is sent as
// it is, any other as JSON; nil sends none.
func (e *Env) Call(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, out
}

// AddCustomer adds a customer to the stand-in, with a billing address in
// the US, and these saved cards (none: no saved method); it returns the
// first card's payment method id.
func (e *Env) AddCustomer(t testing.TB, id string, cards ...standin.Card) string {
	t.Helper()
	if e.Dodo == nil {
		t.Fatal("testenv: AddCustomer needs WithDodo")
	}
	if _, err := e.Dodo.AddCustomer(standin.Customer{ID: id, Name: "Ana " + id, Email: id + "@example.com", Country: "US", Zipcode: "94102"}); err != nil {
		t.Fatal(err)
	}
	first := ""
	for _, c := range cards {
		pm, err := e.Dodo.AddPaymentMethod(id, c)
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = pm
		}
	}
	return first
}

// Buy charges the customer's saved payment method pm for product through
// Dodo's one-click checkout, as the merchant's app would, and returns the
// payment's id. Each call is a new purchase (its own idempotency key). It
// does not wait for the webhooks the purchase causes (Settle does).
func (e *Env) Buy(t testing.TB, customer, pm, product string, metadata wire.Metadata) string {
	t.Helper()
	if e.Client == nil {
		t.Fatal("testenv: Buy needs WithDodo")
	}
	s, err := e.Client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: customer, PaymentMethodID: pm, ProductID: product, Country: "US", Zipcode: "94102",
		Metadata: metadata, IdempotencyKey: fmt.Sprintf("buy-%s-%s-%d", customer, product, e.buys.Add(1)),
	}))
	if err != nil {
		t.Fatalf("buy %s for %s: %v", product, customer, err)
	}
	if s.PaymentID == nil {
		t.Fatalf("buy %s for %s: the checkout made no payment", product, customer)
	}
	return *s.PaymentID
}

// Settle waits until the stand-in (if any) has delivered every webhook it
// queued and the worker has handled everything stored: the webhooks and,
// with offers on, the offers they trigger and the merchant app's signals.
// With the stand-in's delivery on hold it fails; use SettleWorker then.
func (e *Env) Settle(t testing.TB) {
	t.Helper()
	if e.Dodo != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		if err := e.Dodo.Flush(ctx); err != nil {
			t.Fatalf("webhooks not delivered: %v", err)
		}
	}
	e.SettleWorker(t)
}

// SettleWorker waits until the worker has handled everything stored,
// whatever the stand-in still holds.
func (e *Env) SettleWorker(t testing.TB) {
	t.Helper()
	natstest.WaitFor(t, waitBound, "the worker to settle", e.Settled)
}

// Settled reports whether the worker has acknowledged (or dead-lettered)
// everything stored for it: a condition for natstest.WaitFor, with others.
func (e *Env) Settled() bool {
	js := e.Conn.JetStream()
	if !natstest.Settled(js, natsbus.EventsStream, natsbus.WorkerConsumer)() {
		return false
	}
	return !e.offers || natstest.Settled(js, natsbus.OutStream, service.SignalsConsumer)() &&
		natstest.Settled(js, natsbus.EventsStream, service.OffersConsumer)()
}

// Messages returns the messages of stream whose subject starts with prefix
// ("" for all), in stream order.
func (e *Env) Messages(t testing.TB, stream, prefix string) []natsbus.StoredMsg {
	t.Helper()
	var out []natsbus.StoredMsg
	for _, m := range natstest.Messages(t, e.Conn.JetStream(), stream, prefix) {
		out = append(out, natsbus.StoredMsg{Seq: m.Sequence, Subject: m.Subject, Header: m.Header, Data: m.Data})
	}
	return out
}

// Decode decodes each message's JSON data as a T, in order.
func Decode[T any](t testing.TB, msgs []natsbus.StoredMsg) []T {
	t.Helper()
	out := make([]T, 0, len(msgs))
	for _, m := range msgs {
		var v T
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("message on %s: %v\n%s", m.Subject, err, m.Data)
		}
		out = append(out, v)
	}
	return out
}

// Products returns what the customer may use, as product=status, in the
// access view's order; empty, not nil, for a customer with nothing.
func (e *Env) Products(t testing.TB, customer string) []string {
	t.Helper()
	doc, _, err := e.AccessStore.Get(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, p := range doc.View(nil).Products {
		out = append(out, p.ProductID+"="+string(p.Status))
	}
	return out
}
