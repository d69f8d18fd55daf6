package offerpage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// chromium returns the browser to drive: /usr/bin/chromium, or chromium on
// PATH. Without one the test is skipped, unless OFFERFLOW_REQUIRE_BROWSER=1
// (CI, which installs it) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const why = "no chromium (/usr/bin/chromium or on PATH): the offer page's browser test needs it (apt-get install chromium)"
	if os.Getenv("OFFERFLOW_REQUIRE_BROWSER") == "1" {
		t.Fatal(why + "; OFFERFLOW_REQUIRE_BROWSER=1 requires it")
	}
	t.Skip(why)
	return ""
}

// artifacts is where the screenshots go: OFFERFLOW_TEST_ARTIFACTS, else a
// directory of the test's own.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OFFERFLOW_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is a headless Chromium with a fresh profile, for t.
type browser struct {
	ctx context.Context // the browser's; each tab derives its own
	dir string          // screenshots
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// The test machines have no outside network: nothing may try it.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(820, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return &browser{ctx: ctx, dir: artifacts(t)}
}

// tab opens a tab for one step of t, closed when t ends; every action in it
// is bounded, so a page that never comes fails the test instead of hanging
// it.
func (b *browser) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(stop)
	return ctx
}

// do runs steps in the tab, failing t with what on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitForText waits until the page shows want, across the navigation a
// form's post causes: a poll inside the page would end with the page it
// runs in, so each try is a new evaluation, and a try that meets the page
// being left is tried again.
func waitForText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	expr := fmt.Sprintf("document.body !== null && document.body.innerText.includes(%s)", strconv.Quote(want))
	deadline := time.Now().Add(30 * time.Second)
	for {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %q within 30 s (last error: %v)", want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the rendered text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// shot saves a PNG of the whole page as name.png among the artifacts.
func (b *browser) shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// wantText fails t unless the page's main text says each of want.
func wantText(t *testing.T, ctx context.Context, what string, want ...string) {
	t.Helper()
	got := text(t, ctx, "main")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: the page does not say %q; it says:\n%s", what, w, got)
		}
	}
}

// doubleClick clicks sel twice in a row, as a hurried customer does: two
// presses and releases at the same point, the second with a click count of
// 2. The point is taken once: whether the first click's answer has
// replaced the page by the second click or not, the test must hold.
func doubleClick(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		nodes, err := chromedp.Nodes(chromedp.CSS(sel), chromedp.NodeVisible)(ctx, t)
		if err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, dom.ScrollIntoViewIfNeeded, dom.ScrollIntoViewIfNeededParams{NodeID: nodes[0].NodeID}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, dom.GetContentQuads, dom.GetContentQuadsParams{NodeID: nodes[0].NodeID})
		if err != nil {
			return err
		}
		if len(res.Quads) == 0 || len(res.Quads[0]) != 8 {
			return fmt.Errorf("%s has no box", sel)
		}
		q := res.Quads[0]
		x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
		if _, err := chromedp.MouseClickXY(x, y)(ctx, t); err != nil {
			return err
		}
		_, err = chromedp.MouseClickXY(x, y, chromedp.ClickCount(2))(ctx, t)
		return err
	})
}

// scriptsOff disables JavaScript in the tab: the page must work without it.
func scriptsOff() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
}

// TestBrowser drives the offer page in headless Chromium through the real
// stack (NATS, ingest, worker, Dodo's stand-in): a purchase's webhook
// makes the offer, the customer opens its page_url and answers, and the
// stand-in counts the charges. A screenshot of each state goes to
// OFFERFLOW_TEST_ARTIFACTS.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	const shop = "http://shop.localhost.test"
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, r.URL.Query().Get("html"))
	}))
	t.Cleanup(merchant.Close)
	e := newEnv(t, testenv.WithIngest(func(c *service.IngestConfig) { c.CORSOrigins = merchant.URL + " " + shop }))

	t.Run("accept charges once and says so", func(t *testing.T) {
		pm := e.customer("cus_ana")
		e.buy("cus_ana", pm, "pdt_course")
		m := e.created("cus_ana", "pdt_workbook")
		ctx := b.tab(t)
		do(t, ctx, "open the page", chromedp.Navigate(m.PageURL), chromedp.WaitVisible(chromedp.CSS("#accept")))
		wantText(t, ctx, "the offer", "Workbook", "Practise what the course teaches", "workbook", "exercises",
			"$19.00", "VISA ending in 4242", "April 1, 2026 at 10:00 UTC")
		if got := text(t, ctx, "#accept"); got != "Accept and pay $19.00" {
			t.Errorf("accept button %q", got)
		}
		b.shot(t, ctx, "offer-en")
		before := e.Dodo.Charges("cus_ana")
		do(t, ctx, "accept", chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#message-title")))
		if got := text(t, ctx, "h1"); got != "Done: Workbook is yours" {
			t.Errorf("after accepting: %q", got)
		}
		wantText(t, ctx, "charged", "We charged $19.00 to your VISA ending in 4242.")
		b.shot(t, ctx, "charged-en")
		e.Settle(t)
		if got := e.Dodo.Charges("cus_ana"); got != before+1 {
			t.Fatalf("charges %d -> %d, want one more", before, got)
		}
		// Reopening the link shows that it was answered.
		do(t, ctx, "reopen", chromedp.Navigate(m.PageURL), chromedp.WaitVisible(chromedp.CSS("#message-title")))
		wantText(t, ctx, "reopened", "You already answered this offer", "You accepted it and the payment went through.")
	})

	t.Run("a double click charges once", func(t *testing.T) {
		for _, scripts := range []bool{true, false} {
			customer := fmt.Sprintf("cus_dbl_%v", scripts)
			pm := e.customer(customer)
			e.buy(customer, pm, "pdt_course")
			m := e.created(customer, "pdt_workbook")
			ctx := b.tab(t)
			if !scripts {
				do(t, ctx, "scripts off", scriptsOff())
			}
			before := e.Dodo.Charges(customer)
			do(t, ctx, "open the page", chromedp.Navigate(m.PageURL), chromedp.WaitVisible(chromedp.CSS("#accept")))
			do(t, ctx, "double click", doubleClick("#accept"), chromedp.WaitVisible(chromedp.CSS("#message-title")))
			got := text(t, ctx, "h1")
			if scripts && got != "Done: Workbook is yours" {
				t.Errorf("double click with scripts: %q, want the charge's page (one request sent)", got)
			}
			if !scripts && got != "Done: Workbook is yours" && got != "You already answered this offer" {
				t.Errorf("double click without scripts: %q, want the charge's page or, for the second request, the answered one", got)
			}
			b.shot(t, ctx, fmt.Sprintf("double-click-scripts-%v", scripts))
			// Without scripts the browser sends both clicks and shows the
			// second request's answer, which may come before the first
			// request's charge is done (the browser dropped that request,
			// the ingest did not): wait for the charge, then check there is
			// no other.
			natstest.WaitFor(t, 30*time.Second, "the accept's charge", func() bool { return e.Dodo.Charges(customer) > before })
			e.Settle(t)
			if n := e.Dodo.Charges(customer); n != before+1 {
				t.Fatalf("scripts %v: charges %d -> %d, want exactly one more", scripts, before, n)
			}
		}
	})

	t.Run("decline shows the downsell", func(t *testing.T) {
		pm := e.customer("cus_bo")
		e.buy("cus_bo", pm, "pdt_course")
		m := e.created("cus_bo", "pdt_workbook")
		ctx := b.tab(t)
		do(t, ctx, "open the page", chromedp.Navigate(m.PageURL), chromedp.WaitVisible(chromedp.CSS("#decline")))
		// The offer's page has an .intro too: wait for the downsell's own
		// words, or the checks below could read the page being left.
		do(t, ctx, "decline", chromedp.Click(chromedp.CSS("#decline")))
		waitForText(t, ctx, "Maybe this suits you better")
		wantText(t, ctx, "the downsell", "Maybe this suits you better", "Workbook Lite", "The essentials, for less", "$9.00")
		b.shot(t, ctx, "downsell-en")
		before := e.Dodo.Charges("cus_bo")
		do(t, ctx, "accept the downsell", chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#message-title")))
		if got := text(t, ctx, "h1"); got != "Done: Workbook Lite is yours" {
			t.Errorf("after accepting the downsell: %q", got)
		}
		e.Settle(t)
		if got := e.Dodo.Charges("cus_bo"); got != before+1 {
			t.Fatalf("charges %d -> %d, want one more", before, got)
		}
	})

	t.Run("Spanish", func(t *testing.T) {
		pm := e.customer("cus_es")
		e.buy("cus_es", pm, "pdt_basic")
		m := e.created("cus_es", "pdt_pro")
		ctx := b.tab(t)
		do(t, ctx, "open the page", chromedp.Navigate(m.PageURL+"&lang=es"), chromedp.WaitVisible(chromedp.CSS("#accept")))
		wantText(t, ctx, "the offer in Spanish", "Una oferta para ti", "Mejora tu plan", "Tu plan cambia de Basic a Pro.",
			"Lo que obtienes", "api", "sso", "A pagar ahora", "50,00\u00a0US$", "30,00\u00a0US$", "80,00\u00a0US$",
			"VISA terminada en 4242", "4 de abril de 2026, 09:00 UTC")
		if got := text(t, ctx, "#accept"); got != "Aceptar y pagar 50,00\u00a0US$" {
			t.Errorf("accept button %q", got)
		}
		if lang, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang")); err != nil || lang != "es" {
			t.Errorf("lang attribute %q (%v), want es", lang, err)
		}
		b.shot(t, ctx, "offer-es")
		before := e.Dodo.Charges("cus_es")
		do(t, ctx, "accept", chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#message-title")))
		if got := text(t, ctx, "h1"); got != "Listo: ya tienes Pro" {
			t.Errorf("after accepting: %q", got)
		}
		wantText(t, ctx, "charged in Spanish", "Hemos cargado 50,00\u00a0US$ a tu VISA terminada en 4242.")
		b.shot(t, ctx, "charged-es")
		e.Settle(t)
		if got := e.Dodo.Charges("cus_es"); got != before+1 {
			t.Fatalf("charges %d -> %d, want one more", before, got)
		}
	})

	t.Run("the embedded widget", func(t *testing.T) {
		pm := e.customer("cus_emb")
		e.buy("cus_emb", pm, "pdt_course")
		m := e.created("cus_emb", "pdt_workbook")
		html := `<!doctype html><html lang="en"><title>Shop</title><h1>Thanks for your order</h1>` +
			`<div id="offer" data-offerflow-offer="` + m.ID + `" data-offerflow-token="` + m.AcceptToken + `" data-offerflow-lang="es"></div>` +
			`<script src="` + e.URL + `/embed/offer.js" async></script>`
		ctx := b.tab(t)
		do(t, ctx, "open the shop", chromedp.Navigate(merchant.URL+"/?html="+urlQueryEscape(html)),
			chromedp.WaitVisible(chromedp.CSS(".offerflow-accept")))
		if got := text(t, ctx, "#offer"); !strings.Contains(got, "Workbook") || !strings.Contains(got, "19,00\u00a0US$") {
			t.Errorf("the widget says %q", got)
		}
		b.shot(t, ctx, "widget-es")
		before := e.Dodo.Charges("cus_emb")
		do(t, ctx, "accept in the widget", chromedp.Click(chromedp.CSS(".offerflow-accept")),
			chromedp.WaitVisible(chromedp.CSS(`#offer[data-offerflow-state="charged"]`)))
		if got := text(t, ctx, ".offerflow-status"); got != "Listo: el pago se ha completado." {
			t.Errorf("the widget after accepting: %q", got)
		}
		b.shot(t, ctx, "widget-charged-es")
		e.Settle(t)
		if got := e.Dodo.Charges("cus_emb"); got != before+1 {
			t.Fatalf("charges %d -> %d, want one more", before, got)
		}
	})

	// Last: it moves the clock past every offer's expiry.
	t.Run("an expired offer", func(t *testing.T) {
		pm := e.customer("cus_late")
		e.buy("cus_late", pm, "pdt_course")
		m := e.created("cus_late", "pdt_workbook")
		e.Clock.Advance(time.Hour + time.Second)
		ctx := b.tab(t)
		do(t, ctx, "open the page", chromedp.Navigate(m.PageURL), chromedp.WaitVisible(chromedp.CSS("#message-title")))
		if got := text(t, ctx, "h1"); got != "This offer has expired" {
			t.Errorf("expired offer: %q", got)
		}
		wantText(t, ctx, "expired", "It was valid until April 1, 2026 at 10:00 UTC.")
		b.shot(t, ctx, "expired-en")
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll('form').length")); err != nil || n != 0 {
			t.Errorf("an expired offer's page has %d forms (%v), want none", n, err)
		}
	})
}
