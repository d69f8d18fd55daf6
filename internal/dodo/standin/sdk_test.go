package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// sdkDir holds the node test of Dodo's official TypeScript SDK
// (dodopayments, pinned in its package.json and package-lock.json).
const sdkDir = "../../../scripts/sdk-test"

// TestTypeScriptSDK drives the stand-in with Dodo's official TypeScript
// SDK: scripts/sdk-test/sdk.test.mjs calls every stand-in route the SDK has
// a method for and checks each parsed answer. Here every exchange is also
// validated against Dodo's spec, server side, as the other tests validate
// theirs, and every webhook the calls cause against the spec's webhooks.
// It skips when node or the installed SDK is missing.
func TestTypeScriptSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts node")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; install Node.js 20 or later to run Dodo's TypeScript SDK against the stand-in")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "dodopayments", "package.json")); err != nil {
		t.Skipf("Dodo's TypeScript SDK is not installed: run `npm ci --prefix scripts/sdk-test` (%v)", err)
	}
	e := newEnv(t, date(2026, 4, 16))
	// The SDK's requests reach the stand-in through a server that
	// validates each exchange against the spec.
	var checked atomic.Int64
	srv := httptest.NewServer(specChecked(t, e.spec, &checked, e.s.Handler()))
	t.Cleanup(srv.Close)
	ids, _ := json.Marshal(map[string]string{
		"customer": custAna, "otherCustomer": custBo, "card": pmVisa, "declinedCard": pmDeclineBo(t, e),
		"otherCard": pmBo, "oneTime": pdtGuide, "monthly": pdtBasic, "pro": pdtPro,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sdk.test.mjs")
	cmd.Dir = sdkDir
	cmd.Env = append(os.Environ(), "STANDIN_URL="+srv.URL, "STANDIN_KEY="+testAPIKey, "STANDIN_IDS="+string(ids))
	out, err := cmd.CombinedOutput()
	t.Logf("node sdk.test.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("Dodo's TypeScript SDK against the stand-in: %v", err)
	}
	e.flush()
	// A negative control of the wiring: the SDK's calls were validated.
	if n := checked.Load(); n < 40 {
		t.Errorf("%d exchanges validated against the spec, want the SDK's 40 or more", n)
	}
}

// pmDeclineBo saves Bo a card that is declined, for the SDK's failed-card
// journey.
func pmDeclineBo(t *testing.T, e *env) string {
	t.Helper()
	id, err := e.s.AddPaymentMethod(custBo, Card{Number: "4000000000000002", ExpMonth: 6, ExpYear: 2032})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// specChecked serves h and validates every exchange with spec.check, as
// env.do does for the tests' own calls.
// It counts them in n.
func specChecked(t *testing.T, sp *spec, n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := rec.Result()
		sp.check(t, r, body, resp, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}
