package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/webhook"
)

// standinURL is the line offerflow dodo-standin prints its URL on.
var standinURL = regexp.MustCompile(`(?m)^  URL +(http://\S+)$`)

// TestDodoStandinCommand runs `offerflow dodo-standin` as a process with
// its API key and webhook secret in the environment, as a merchant runs it
// beside their own offerflow: Dodo's routes answer with that key only, the
// demo catalog and the test-card customers are there, a purchase sends a
// webhook signed with the secret, SIGTERM stops it cleanly, and neither
// secret ever shows in its output.
func TestDodoStandinCommand(t *testing.T) {
	secret := webhook.NewSecret([]byte("dodo-standin-command-secret-0123"))
	verifier, err := webhook.NewVerifier([]webhook.Secret{secret}, 5*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var received []string // event types of the webhooks whose signature verified
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := verifier.VerifyRequest(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev struct{ Type string }
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		received = append(received, ev.Type)
		mu.Unlock()
	}))
	defer hooks.Close()

	const key = "sk_test_MARKER_standin_key"
	p := startProcess(t, []string{"DODO_API_KEY=" + key, "DODO_WEBHOOK_SECRET=" + secret.Encode()},
		"dodo-standin", "-addr", "127.0.0.1:0", "-webhook-url", hooks.URL+"/webhooks/dodo")
	base := p.waitFor(t, standinURL, 60*time.Second)

	call := func(method, path, auth string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	ids := func(page map[string]any, field string) []string {
		var out []string
		items, _ := page["items"].([]any)
		for _, it := range items {
			out = append(out, it.(map[string]any)[field].(string))
		}
		return out
	}

	for _, auth := range []string{"", "not-the-key"} {
		if status, _ := call(http.MethodGet, "/products", auth, nil); status != http.StatusUnauthorized {
			t.Fatalf("GET /products with key %q: %d, want 401", auth, status)
		}
	}
	status, page := call(http.MethodGet, "/products", key, nil)
	if got := ids(page, "product_id"); status != http.StatusOK || !slices.Equal(got, []string{"pdt_course_rust", "pdt_basic", "pdt_pro", "pdt_workbook", "pdt_cheatsheet"}) {
		t.Fatalf("GET /products: %d %v, want the demo catalog", status, got)
	}
	_, page = call(http.MethodGet, "/customers?page_size=20", key, nil)
	names := ids(page, "name")
	if !slices.Equal(names, []string{"Sam Succeeds", "Dana Declined", "Ines Insufficient-Funds", "Theo Three-D-Secure", "Eve Expired-Card"}) {
		t.Fatalf("customers %v: want one per test card, named after it", names)
	}

	// Sam's card succeeds: a one-click purchase sends payment.succeeded,
	// signed with DODO_WEBHOOK_SECRET; Dana's is declined.
	for _, tc := range []struct{ customer, want string }{{"Sam Succeeds", "payment.succeeded"}, {"Dana Declined", "payment.failed"}} {
		cus := ids(page, "customer_id")[slices.Index(names, tc.customer)]
		_, cards := call(http.MethodGet, "/customers/"+cus+"/payment-methods", key, nil)
		pm := ids(cards, "payment_method_id")[0]
		status, session := call(http.MethodPost, "/checkouts", key, map[string]any{
			"product_cart": []map[string]any{{"product_id": "pdt_course_rust", "quantity": 1}},
			"customer":     map[string]any{"customer_id": cus}, "payment_method_id": pm, "confirm": true,
			"minimal_address": true, "billing_address": map[string]any{"country": "US", "zipcode": "94102"},
		})
		if status != http.StatusOK || session["payment_id"] == nil {
			t.Fatalf("one-click checkout for %s: %d %v", tc.customer, status, session)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := slices.Contains(received, tc.want)
			mu.Unlock()
			if got {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no signed %s arrived for %s within 20s; received %v", tc.want, tc.customer, received)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if err := p.stop(t, 30*time.Second); err != nil {
		t.Fatalf("offerflow dodo-standin after SIGTERM: %v\n%s", err, p.out)
	}
	out := p.out.String()
	for _, want := range []string{"API key   from DODO_API_KEY", "signed with DODO_WEBHOOK_SECRET (fingerprint " + secret.Fingerprint() + ")", "\nStopped.\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MARKER") || strings.Contains(out, strings.TrimPrefix(secret.Encode(), "whsec_")) {
		t.Fatalf("a secret is in the output:\n%s", out)
	}
}

// TestDodoStandinEmpty: -empty starts without catalog or customers, and
// without DODO_API_KEY the stand-in makes a key up and prints it (there is
// no other way to learn it); it stops when its context ends.
func TestDodoStandinEmpty(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"offerflow", "dodo-standin", "-empty", "-addr", "127.0.0.1:0"}, noEnv, out)
	}()
	var base, key string
	keyLine := regexp.MustCompile(`(?m)^  API key   (\S+)  \(generated`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m, k := standinURL.FindStringSubmatch(out.String()), keyLine.FindStringSubmatch(out.String()); m != nil && k != nil {
			base, key = m[1], k[1]
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no URL and generated key printed:\n%s", out)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/products", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"items":[]}` {
		t.Fatalf("GET /products with the generated key: %d %s, want 200 and no products", resp.StatusCode, body)
	}
	if strings.Contains(out.String(), "customers") {
		t.Fatalf("-empty listed customers:\n%s", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dodo-standin after its context ended: %v", err)
	}
}

// TestDodoStandinRefuses: a webhook URL needs a usable secret, and the
// refusal names the variable, never its value.
func TestDodoStandinRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"webhooks without a secret", []string{"-webhook-url", "http://127.0.0.1:1/webhooks/dodo"}, nil, "DODO_WEBHOOK_SECRET"},
		{"a secret that is not base64", []string{"-webhook-url", "http://127.0.0.1:1/webhooks/dodo"},
			map[string]string{"DODO_WEBHOOK_SECRET": "whsec_MARKER!!not-base64"}, "DODO_WEBHOOK_SECRET"},
		{"an argument", []string{"extra"}, nil, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"offerflow", "dodo-standin", "-addr", "127.0.0.1:0"}, tt.args...),
				func(k string) string { return tt.env[k] }, &out)
			if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %q", err, tt.want)
			}
			if strings.Contains(err.Error()+out.String(), "MARKER") {
				t.Fatalf("the secret is in the answer: %v\n%s", err, out.String())
			}
		})
	}
}
