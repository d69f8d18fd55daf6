package offerpage_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/offerflow/offerflow/internal/dodo/standin"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// wantHeaders are the security headers of every page.
var wantHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-store",
	"X-Content-Type-Options":  "nosniff",
	"Content-Type":            "text/html; charset=utf-8",
}

func checkHeaders(t *testing.T, what string, r response) {
	t.Helper()
	for k, want := range wantHeaders {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
}

func wantPage(t *testing.T, what string, r response, status int, texts ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, r.status, status, r.body)
	}
	checkHeaders(t, what, r)
	for _, s := range texts {
		if !strings.Contains(r.body, s) {
			t.Errorf("%s: the page does not say %q\n%s", what, s, r.body)
		}
	}
}

// A purchase's cross-sell carries page_url; the page shows the offer
// however often it is opened (a view never uses the token up); the form
// accepts it with one charge; answering again, or opening the page after,
// shows the state with 409 and charges nothing.
func TestPageAcceptChargesOnce(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_ana")
	e.buy("cus_ana", pm, "pdt_course")
	m := e.created("cus_ana", "pdt_workbook")
	wantURL := e.URL + "/o/" + m.ID + "?t=" + url.QueryEscape(m.AcceptToken)
	if m.PageURL != wantURL {
		t.Fatalf("page_url %q, want %q", m.PageURL, wantURL)
	}
	for i := range 3 {
		wantPage(t, "the offer page", e.get(m.PageURL), http.StatusOK,
			`<html lang="en">`, "<h1 id=\"offer-title\">Workbook</h1>", "Practise what the course teaches",
			"<li>workbook</li>", "<li>exercises</li>", "$19.00", "VISA ending in 4242", "April 1, 2026 at 10:00 UTC",
			"Accept and pay $19.00", "No, thanks", `action="./`+m.ID+`/accept"`)
		if i == 0 && strings.Contains(e.get(m.PageURL).body, "href=\"http") {
			t.Error("the offer page links elsewhere (its URL carries the token)")
		}
	}
	before := e.Dodo.Charges("cus_ana")
	form := url.Values{"t": {m.AcceptToken}, "lang": {"en"}}
	wantPage(t, "accept", e.post("/o/"+m.ID+"/accept", form), http.StatusOK,
		"Done: Workbook is yours", "We charged $19.00 to your VISA ending in 4242.", `href="../assets/page.css"`)
	wantPage(t, "accept again", e.post("/o/"+m.ID+"/accept", form), http.StatusConflict,
		"You already answered this offer", "You accepted it")
	wantPage(t, "decline after accepting", e.post("/o/"+m.ID+"/decline", form), http.StatusConflict,
		"You already answered this offer")
	e.Settle(t)
	if got := e.Dodo.Charges("cus_ana"); got != before+1 {
		t.Fatalf("charges %d -> %d, want exactly one more", before, got)
	}
	wantPage(t, "the page after the answer", e.get(m.PageURL), http.StatusConflict,
		"You accepted it and the payment went through.")
}

// A plan change shows what it adds and the amount due now with the credit,
// in Spanish for an Accept-Language or ?lang=es, and the server-token API
// answers carry a page_url that opens the same page.
func TestPagePlanChangeSpanish(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_bea")
	e.buy("cus_bea", pm, "pdt_basic")
	m := e.created("cus_bea", "pdt_pro")
	if m.Amounts.DueNow <= 0 || m.Amounts.Credit <= 0 {
		t.Fatalf("amounts %+v: want an amount due now and a credit", m.Amounts)
	}
	es := []string{`<html lang="es">`, "Tu plan cambia de Basic a Pro.", "Lo que obtienes", "<li>api</li>", "<li>sso</li>",
		"A pagar ahora", "Crédito por la parte no usada de tu plan actual", "80,00\u00a0US$",
		"VISA terminada en 4242", "4 de abril de 2026, 09:00 UTC", "No, gracias", "most popular", "Unlock the API and SSO"}
	wantPage(t, "Accept-Language es", e.get(m.PageURL, "Accept-Language", "es-MX,es;q=0.9,en;q=0.5"), http.StatusOK, es...)
	wantPage(t, "?lang=es", e.get(m.PageURL+"&lang=es", "Accept-Language", "en"), http.StatusOK, es...)
	wantPage(t, "?lang=fr falls back to the header", e.get(m.PageURL+"&lang=fr", "Accept-Language", "es"), http.StatusOK, `<html lang="es">`)
	wantPage(t, "neither", e.get(m.PageURL, "Accept-Language", "fr-FR"), http.StatusOK, `<html lang="en">`, "$80.00", "Your plan changes from Basic to Pro.")

	// GET /v1/offers/{id} and the customer's list carry a fresh page_url.
	status, body := e.Call(t, http.MethodGet, "/v1/offers/"+m.ID, e.APIToken, nil)
	pu, _ := body["page_url"].(string)
	if status != http.StatusOK || !strings.HasPrefix(pu, e.URL+"/o/"+m.ID+"?t=") {
		t.Fatalf("GET /v1/offers/%s: %d page_url %q", m.ID, status, pu)
	}
	status, list := e.Call(t, http.MethodGet, "/v1/customers/cus_bea/offers", e.APIToken, nil)
	items, _ := list["offers"].([]any)
	if status != http.StatusOK || len(items) != 1 || !strings.HasPrefix(items[0].(map[string]any)["page_url"].(string), e.URL+"/o/"+m.ID+"?t=") {
		t.Fatalf("GET /v1/customers/cus_bea/offers: %d %v", status, list)
	}
	wantPage(t, "the API's page_url", e.get(pu), http.StatusOK, "Pro")
	// Accepting from the API's page URL charges the plan change once.
	before := e.Dodo.Charges("cus_bea")
	wantPage(t, "accept in Spanish", e.post("/o/"+m.ID+"/accept", url.Values{"t": {token(t, pu)}, "lang": {"es"}}), http.StatusOK,
		"Listo: ya tienes Pro", "Hemos cargado")
	e.Settle(t)
	if got := e.Dodo.Charges("cus_bea"); got != before+1 {
		t.Fatalf("charges %d -> %d, want one more", before, got)
	}
	// Answered offers get no page_url.
	if _, body := e.Call(t, http.MethodGet, "/v1/offers/"+m.ID, e.APIToken, nil); body["page_url"] != nil {
		t.Fatalf("an accepted offer's page_url: %v", body["page_url"])
	}
}

// Declining shows the downsell's page, with its own token in its forms;
// declining again is a no-op that shows it again.
func TestPageDeclineShowsDownsell(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_cy")
	e.buy("cus_cy", pm, "pdt_course")
	m := e.created("cus_cy", "pdt_workbook")
	form := url.Values{"t": {m.AcceptToken}}
	r := e.post("/o/"+m.ID+"/decline", form)
	wantPage(t, "decline", r, http.StatusOK, "Maybe this suits you better", "Workbook Lite", "The essentials, for less", "$9.00",
		`action="../`)
	down := e.created("cus_cy", "pdt_workbook_lite")
	if !strings.Contains(r.body, `action="../`+down.ID+`/accept"`) {
		t.Fatalf("the downsell page does not answer the downsell %s:\n%s", down.ID, r.body)
	}
	wantPage(t, "decline again", e.post("/o/"+m.ID+"/decline", form), http.StatusOK, "Workbook Lite")
	// The downsell's page accepts it with the token the page holds.
	i := strings.Index(r.body, `name="t" value="`)
	tok := r.body[i+len(`name="t" value="`):]
	tok = tok[:strings.IndexByte(tok, '"')]
	before := e.Dodo.Charges("cus_cy")
	wantPage(t, "accept the downsell", e.post("/o/"+down.ID+"/accept", url.Values{"t": {tok}}), http.StatusOK, "Done: Workbook Lite is yours")
	e.Settle(t)
	if got := e.Dodo.Charges("cus_cy"); got != before+1 {
		t.Fatalf("charges %d -> %d, want one more", before, got)
	}
	wantPage(t, "the declined offer's page", e.get(m.PageURL), http.StatusConflict, "You declined it.")
}

// Each page that is not an offer says why, with its status.
func TestPageRefusals(t *testing.T) {
	e := newEnv(t)
	pm := e.customer("cus_dee")
	e.buy("cus_dee", pm, "pdt_course")
	m := e.created("cus_dee", "pdt_workbook")
	e.buy("cus_eve", e.customer("cus_eve"), "pdt_course")
	other := e.created("cus_eve", "pdt_workbook")
	base := e.URL + "/o/" + m.ID
	for _, tc := range []struct {
		name   string
		url    string
		status int
		text   string
	}{
		{"no token", base, http.StatusBadRequest, "This link is not valid"},
		{"a token twice", m.PageURL + "&t=" + url.QueryEscape(m.AcceptToken), http.StatusBadRequest, "This link is not valid"},
		{"not a token", base + "?t=%3Cscript%3E", http.StatusBadRequest, "This link is not valid"},
		{"a forged token", base + "?t=v1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusForbidden, "This link is not valid"},
		{"another offer's token", base + "?t=" + url.QueryEscape(other.AcceptToken), http.StatusForbidden, "belongs to another offer"},
		{"unknown offer", e.URL + "/o/ofr_nosuchoffer?t=" + url.QueryEscape(m.AcceptToken), http.StatusNotFound, "Offer not found"},
		{"unknown offer in Spanish", e.URL + "/o/ofr_nosuchoffer?lang=es&t=" + url.QueryEscape(m.AcceptToken), http.StatusNotFound, "Oferta no encontrada"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPage(t, tc.name, e.get(tc.url), tc.status, tc.text)
		})
	}
	for _, tc := range []struct {
		name   string
		ctype  string
		body   string
		status int
	}{
		{"no form", "application/json", `{"t":"x"}`, http.StatusBadRequest},
		{"no token", "application/x-www-form-urlencoded", "lang=en", http.StatusBadRequest},
		{"a forged token", "application/x-www-form-urlencoded", "t=v1.k1.AAAA", http.StatusForbidden},
		{"another offer's token", "application/x-www-form-urlencoded", "t=" + url.QueryEscape(other.AcceptToken), http.StatusForbidden},
	} {
		t.Run("accept: "+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/accept", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			wantPage(t, tc.name, e.do(req), tc.status)
		})
	}
	if got := e.Dodo.Charges("cus_dee"); got != 1 {
		t.Fatalf("charges of cus_dee: %d, want 1 (the course)", got)
	}

	// An hour on, the offer has expired: the page and the form say so.
	e.Clock.Advance(time.Hour + time.Second)
	wantPage(t, "expired", e.get(m.PageURL), http.StatusGone, "This offer has expired", "It was valid until April 1, 2026 at 10:00 UTC.")
	wantPage(t, "expired, in Spanish", e.get(m.PageURL, "Accept-Language", "es"), http.StatusGone, "Esta oferta ha caducado", "Era válida hasta el 1 de abril de 2026, 10:00 UTC.")
	wantPage(t, "accept expired", e.post("/o/"+m.ID+"/accept", url.Values{"t": {m.AcceptToken}}), http.StatusGone, "This offer has expired")
	if got := e.Dodo.Charges("cus_dee"); got != 1 {
		t.Fatalf("charges of cus_dee after the expired accept: %d, want 1", got)
	}
}

// Without offers on, the page answers 503 with a page, not a JSON error.
func TestPageWithoutOffers(t *testing.T) {
	e := testenv.Start(t)
	resp, err := http.Get(e.URL + "/o/ofr_x?t=abc")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s, want 503 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// The token is in no span: the page's spans are named by the route's
// pattern and carry the path, not the query; the forms carry it in their
// body.
func TestTokenInNoSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := newEnv(t, testenv.WithTracerProvider(tp))
	pm := e.customer("cus_fay")
	e.buy("cus_fay", pm, "pdt_course")
	m := e.created("cus_fay", "pdt_workbook")
	exp.Reset()
	wantPage(t, "page", e.get(m.PageURL), http.StatusOK)
	wantPage(t, "accept", e.post("/o/"+m.ID+"/accept", url.Values{"t": {m.AcceptToken}}), http.StatusOK)
	names := map[string]bool{}
	for _, s := range exp.GetSpans().Snapshots() {
		names[s.Name()] = true
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), m.AcceptToken) || strings.Contains(a.Value.String(), "t=v1") {
				t.Errorf("span %q attribute %s carries the token", s.Name(), a.Key)
			}
		}
		if strings.Contains(s.Name(), m.ID) {
			t.Errorf("span %q is named by the path", s.Name())
		}
	}
	for _, want := range []string{"GET /o/{offer_id}", "POST /o/{offer_id}/accept"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, names)
		}
	}
}

// The widget's JSON view: the token in the body, the offer with its texts
// in the language asked for, CORS for the allowed origins only; the view
// does not use the token up.
func TestJSONView(t *testing.T) {
	const shop = "https://shop.example.com"
	e := newEnv(t, testenv.WithIngest(func(c *service.IngestConfig) { c.CORSOrigins = shop }))
	pm := e.customer("cus_gus")
	e.buy("cus_gus", pm, "pdt_course")
	m := e.created("cus_gus", "pdt_workbook")
	for range 2 {
		status, v := e.Call(t, http.MethodPost, "/v1/offers/"+m.ID+"/view", "", map[string]string{"token": m.AcceptToken, "lang": "es"})
		text, _ := v["text"].(map[string]any)
		if status != http.StatusOK || v["state"] != "open" || v["product_name"] != "Workbook" || v["lang"] != "es" ||
			text["due_now"] != "19,00\u00a0US$" || text["accept"] != "Aceptar y pagar 19,00\u00a0US$" {
			t.Fatalf("view: %d %v", status, v)
		}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"no token", map[string]string{"lang": "es"}, http.StatusBadRequest},
		{"unknown field", map[string]string{"token": m.AcceptToken, "x": "1"}, http.StatusBadRequest},
		{"forged", map[string]string{"token": "v1.k1.AAAA"}, http.StatusUnauthorized},
	} {
		if status, body := e.Call(t, http.MethodPost, "/v1/offers/"+m.ID+"/view", "", tc.body); status != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.status)
		}
	}
	for origin, allowed := range map[string]bool{shop: true, "https://evil.example.com": false} {
		req, _ := http.NewRequest(http.MethodOptions, e.URL+"/v1/offers/"+m.ID+"/view", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != allowed || (resp.StatusCode == http.StatusNoContent) != allowed {
			t.Errorf("preflight from %s: %d allow-origin %q, want allowed %v", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), allowed)
		}
	}
	// The accept route still takes the token: the views used none.
	status, body := e.Call(t, http.MethodPost, "/v1/offers/"+m.ID+"/accept", "", map[string]string{"token": m.AcceptToken})
	if status != http.StatusOK || body["outcome"] != "charged" {
		t.Fatalf("accept after views: %d %v", status, body)
	}
	// The embed script is served as JavaScript.
	r := e.get("/embed/offer.js")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(r.body, "/v1/offers/") {
		t.Fatalf("/embed/offer.js: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// Without a card to charge off-session the page offers Dodo's checkout,
// and accepting leads there; a one-click charge that fails says so and
// links to the checkout instead of trying again.
func TestPageCheckoutAndFailure(t *testing.T) {
	e := newEnv(t)
	t.Run("no saved card: checkout", func(t *testing.T) {
		e.customerWith("cus_nocard")
		status, body := e.Call(t, http.MethodPost, "/v1/customers/cus_nocard/signals", e.APIToken,
			map[string]any{"id": "onb-1", "name": "onboarding_completed"})
		if status != http.StatusAccepted {
			t.Fatalf("signal: %d %v", status, body)
		}
		e.Settle(t)
		m := e.created("cus_nocard", "pdt_course")
		if m.OneClick || m.Fallback.CheckoutURL == "" {
			t.Fatalf("offer %+v: want a checkout offer", m.Offer)
		}
		r := e.get(m.PageURL)
		wantPage(t, "the checkout offer", r, http.StatusOK, "Continue to checkout", "You will pay on a secure checkout page.", "$49.00")
		if strings.Contains(r.body, "ending in") {
			t.Error("a checkout offer's page names a card")
		}
		r = e.post("/o/"+m.ID+"/accept", url.Values{"t": {m.AcceptToken}})
		wantPage(t, "accept", r, http.StatusOK, "One more step", `href="`+html.EscapeString(m.Fallback.CheckoutURL)+`"`, `rel="noreferrer noopener"`)
		if got := e.Dodo.Charges("cus_nocard"); got != 0 {
			t.Fatalf("charges %d, want 0", got)
		}
	})
	t.Run("declined card: failed, with the checkout", func(t *testing.T) {
		good := e.customer("cus_bad")
		bad := standin.Card{Number: "4000000000000002", ExpMonth: 12, ExpYear: 2030, LastUsedAt: e.Clock.Now().Add(24 * time.Hour)}
		if _, err := e.Dodo.AddPaymentMethod("cus_bad", bad); err != nil {
			t.Fatal(err)
		}
		e.buy("cus_bad", good, "pdt_course")
		m := e.created("cus_bad", "pdt_workbook")
		r := e.post("/o/"+m.ID+"/accept", url.Values{"t": {m.AcceptToken}, "lang": {"es"}})
		wantPage(t, "failed", r, http.StatusOK, "El pago no se ha completado", "no lo volveremos a intentar",
			"Actualiza tu tarjeta guardada.", "Ir a la página de pago segura", `rel="noreferrer noopener"`)
		e.Settle(t)
		if got := e.Dodo.Charges("cus_bad"); got != 2 {
			t.Fatalf("payments %d, want 2 (the course, the one declined attempt: no retry)", got)
		}
		wantPage(t, "the failed offer's page", e.get(m.PageURL), http.StatusConflict, "The payment did not go through", "Go to the secure checkout")
	})
}
