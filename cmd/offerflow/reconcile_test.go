package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/dodo"
	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/reconcile"
)

const reconcileTestKey = "sk_test_reconcile_cmd"

// reconcileFixture is a NATS server with offerflow's streams and Dodo's
// stand-in serving its API over HTTP, with one one-time purchase whose
// webhook never went anywhere (the stand-in has no webhook URL).
type reconcileFixture struct {
	js        jetstream.JetStream
	natsURL   string
	dodoURL   string
	paymentID string
}

func newReconcileFixture(t *testing.T, streams bool) *reconcileFixture {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if streams {
		if err := natsbus.EnsureStreams(context.Background(), js, natsbus.StreamSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	st := standin.New(standin.Config{APIKey: reconcileTestKey})
	api := httptest.NewServer(st.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		api.Close()
		st.Close()
	})
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddCustomer(standin.Customer{ID: "cus_ana", Email: "ana@example.com", Name: "Ana Ruiz", Zipcode: "94102"}))
	must(st.AddPaymentMethod("cus_ana", standin.Card{ID: "pm_ana", Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3}))
	must(st.AddProduct(standin.Product{ID: "pdt_guide", Name: "Pricing guide", Price: 1900, Currency: "USD"}))
	client, err := dodo.New(dodo.Config{APIKey: reconcileTestKey, BaseURL: api.URL, RateLimit: -1, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.CreateCheckout(context.Background(), dodo.OneClickCheckout(dodo.OneClick{
		CustomerID: "cus_ana", PaymentMethodID: "pm_ana", ProductID: "pdt_guide", Country: "US", Zipcode: "94102", IdempotencyKey: "k1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	return &reconcileFixture{js: js, natsURL: srv.ClientURL(), dodoURL: api.URL, paymentID: *s.PaymentID}
}

func (f *reconcileFixture) env(overrides map[string]string) func(string) string {
	env := map[string]string{"NATS_URL": f.natsURL, "DODO_API_KEY": reconcileTestKey, "DODO_API_BASE_URL": f.dodoURL}
	for k, v := range overrides {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func (f *reconcileFixture) stored(t *testing.T) int {
	t.Helper()
	return len(natstest.Messages(t, f.js, natsbus.EventsStream, ""))
}

// TestReconcileCommand runs offerflow reconcile against the stand-in over
// HTTP, as an operator would.
func TestReconcileCommand(t *testing.T) {
	f := newReconcileFixture(t, true)
	ctx := context.Background()
	reconcileRun := func(t *testing.T, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"offerflow", "reconcile"}, args...), f.env(nil), &out); err != nil {
			t.Fatalf("offerflow reconcile %v: %v\n%s", args, err, out.String())
		}
		t.Logf("offerflow reconcile %s:\n%s", strings.Join(args, " "), out.String())
		return out.String()
	}

	t.Run("dry run", func(t *testing.T) {
		out := reconcileRun(t, "-since", "1h", "-dry-run")
		for _, want := range []string{"(dry run: nothing published)", "would_feed", "payment.succeeded", f.paymentID, "cus_ana", reconcile.WebhookIDPrefix,
			"seen 1: processed 0, fed 0, already fed 0, would feed 1, skipped 0, failed 0"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if n := f.stored(t); n != 0 {
			t.Fatalf("a dry run stored %d messages", n)
		}
	})

	t.Run("feeds", func(t *testing.T) {
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		until := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		out := reconcileRun(t, "-since", since, "-until", until)
		if !strings.Contains(out, "fed          payment.succeeded") || !strings.Contains(out, "seen 1: processed 0, fed 1,") {
			t.Errorf("output:\n%s\nwant the payment fed", out)
		}
		if n := f.stored(t); n != 1 {
			t.Fatalf("DODO_EVENTS has %d messages, want 1", n)
		}
	})

	t.Run("json", func(t *testing.T) {
		// No worker runs here, so offerflow still lacks the payment: it is
		// fed again, and JetStream drops the duplicate.
		out := reconcileRun(t, "-since", "1d", "-json")
		var rep reconcile.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if rep.Counts.AlreadyFed != 1 || len(rep.Items) != 1 || rep.Items[0].ID != f.paymentID || rep.Items[0].Action != reconcile.ActionAlreadyFed {
			t.Fatalf("report %+v, want the payment already fed", rep)
		}
		if d := time.Since(rep.Since); d < 23*time.Hour || d > 25*time.Hour {
			t.Errorf("-since 1d: since %s, want a day ago", rep.Since)
		}
		if n := f.stored(t); n != 1 {
			t.Fatalf("DODO_EVENTS has %d messages, want still 1", n)
		}
	})

	t.Run("one customer", func(t *testing.T) {
		out := reconcileRun(t, "-since", "1h", "-customer", "cus_nobody", "-dry-run")
		if !strings.Contains(out, "for customer cus_nobody") || !strings.Contains(out, "seen 0:") {
			t.Errorf("output:\n%s\nwant nothing seen", out)
		}
	})
}

func TestReconcileCommandErrors(t *testing.T) {
	f := newReconcileFixture(t, true)
	bare := newReconcileFixture(t, false)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	tests := []struct {
		name string
		args []string
		env  func(string) string
		want []string // substrings of the error
	}{
		{"nothing set", nil, func(string) string { return "" }, []string{"-since is required", "NATS_URL is required", "DODO_API_KEY is required"}},
		{"no since", nil, f.env(nil), []string{"-since is required"}},
		{"since not a time", []string{"-since", "yesterday"}, f.env(nil), []string{"-since", "yesterday"}},
		{"since a negative duration", []string{"-since", "-5h"}, f.env(nil), []string{"-since", "positive"}},
		{"until not a time", []string{"-since", "1h", "-until", "soon"}, f.env(nil), []string{"-until", "soon"}},
		{"until before since", []string{"-since", "1h", "-until", "2h"}, f.env(nil), []string{"not before"}},
		{"no NATS", []string{"-since", "1h"}, f.env(map[string]string{"NATS_URL": ""}), []string{"NATS_URL is required"}},
		{"no API key", []string{"-since", "1h"}, f.env(map[string]string{"DODO_API_KEY": ""}), []string{"DODO_API_KEY is required"}},
		{"unknown environment", []string{"-since", "1h"}, f.env(map[string]string{"DODO_ENVIRONMENT": "prod"}), []string{"DODO_ENVIRONMENT", "prod"}},
		{"bad base URL", []string{"-since", "1h"}, f.env(map[string]string{"DODO_API_BASE_URL": "ftp://x"}), []string{"base URL"}},
		{"no streams", []string{"-since", "1h"}, bare.env(nil), []string{"streams"}},
		{"Dodo down", []string{"-since", "1h"}, f.env(map[string]string{"DODO_API_BASE_URL": down.URL}), []string{"list payments"}},
		{"a stray argument", []string{"-since", "1h", "now"}, f.env(nil), []string{"unexpected arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"offerflow", "reconcile"}, tt.args...), tt.env, &out)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	var out bytes.Buffer
	if err := run(context.Background(), []string{"offerflow", "reconcile", "-h"}, f.env(nil), &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "usage: offerflow reconcile -since T") {
		t.Errorf("-h: %v\n%s", err, out.String())
	}
}
