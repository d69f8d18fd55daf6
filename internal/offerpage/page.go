// Package offerpage is the hosted offer page a customer opens from an
// offer's page_url (GET /o/{offer_id}?t=<token>): what the offer adds and
// takes away, what it costs now, in the customer's language and currency,
// the card it charges and until when it holds, with an accept and a
// decline button that are plain HTML forms. It also serves the small
// script merchants embed to show an offer on their own pages, and the JSON
// view of an offer that script reads.
//
// The page is server-rendered (html/template, embedded), needs no script
// and loads nothing from elsewhere; page.js only disables the buttons once
// a form is sent. The token proves the customer: viewing checks it without
// using it up (only an accept does), and the forms carry it in their body,
// never in a URL, so it reaches no log, span or Referer. A double submit
// charges once: the engine lets one accept charge, and the page shows the
// second request the offer's state instead.
package offerpage

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/text/message/catalog"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/offers"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Engine is the offer engine as the page uses it (*offerengine.Engine).
type Engine interface {
	View(ctx context.Context, id string, auth offerengine.Auth) (offers.Offer, error)
	Accept(ctx context.Context, id string, auth offerengine.Auth) (offerengine.Result, error)
	Decline(ctx context.Context, id string, auth offerengine.Auth) (offerengine.Result, error)
}

// Deps are the page's collaborators.
type Deps struct {
	// Engine is the offer engine; nil (offers off): every page answers 503.
	Engine Engine
	Log    *zap.Logger
	// ProductName names a catalog product (a plan change's current plan);
	// nil or "": the page shows the id.
	ProductName func(productID string) string
}

// Page serves the offer page, its assets and the embeddable script.
type Page struct {
	engine Engine
	log    *zap.Logger
	name   func(string) string
	tmpl   *template.Template
	cat    catalog.Catalog
}

// New returns the page.
func New(d Deps) *Page {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	name := func(id string) string {
		if d.ProductName != nil {
			if n := d.ProductName(id); n != "" {
				return n
			}
		}
		return id
	}
	cat, err := newCatalog()
	if err != nil {
		panic(err) // the texts are compiled in: TestTexts catches this
	}
	return &Page{
		engine: d.Engine,
		log:    d.Log,
		name:   name,
		tmpl:   template.Must(template.ParseFS(templateFS, "templates/*.html")),
		cat:    cat,
	}
}

// Security headers of every page: nothing but this origin's stylesheet and
// script, no framing (clickjacking an accept button), no Referer (the
// page's URL carries the token), no caching (the page shows a state that
// changes, and its URL a token).
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func secure(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// HandleView serves GET /o/{offer_id}?t=<token>[&lang=]: the offer, or a
// page saying why not (400 bad link, 403 a token not for this offer, 404
// unknown offer, 409 answered before, 410 expired, 503).
func (p *Page) HandleView() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := ParseQuery(r.URL.RawQuery)
		d := data{printer: p.printer(r.URL.Query().Get("lang"), r), Base: "./"}
		id := r.PathValue("offer_id")
		if err != nil || events.CheckID("offer_id", id) != nil {
			p.message(w, d, http.StatusBadRequest, "badlink")
			return
		}
		if p.engine == nil {
			p.unavailable(w, d, nil)
			return
		}
		o, err := p.engine.View(r.Context(), id, offerengine.Auth{Token: in.Token})
		if err != nil {
			p.refused(w, d, o, err)
			return
		}
		p.state(w, d, o, in.Token)
	})
}

// HandleAnswer serves POST /o/{offer_id}/accept (accept true) and
// /decline: the form's token is the proof (a page elsewhere cannot know
// it), the engine charges at most once, and the answer is a page: the
// charge's outcome, the downsell a decline leads to, or the offer's state
// when it was answered before (409: a second click).
func (p *Page) HandleAnswer(accept bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
		in, perr := ParseForm(r.Header.Get("Content-Type"), body)
		d := data{printer: p.printer(in.Lang, r), Base: "../"}
		id := r.PathValue("offer_id")
		if err != nil || perr != nil || events.CheckID("offer_id", id) != nil {
			p.message(w, d, http.StatusBadRequest, "badlink")
			return
		}
		if p.engine == nil {
			p.unavailable(w, d, nil)
			return
		}
		auth := offerengine.Auth{Token: in.Token}
		if !accept {
			res, err := p.engine.Decline(r.Context(), id, auth)
			if err != nil {
				p.answerRefused(r.Context(), w, d, id, auth, err)
				return
			}
			if res.Downsell != nil {
				d.Intro = d.T("title.downsell")
				p.offer(w, d, http.StatusOK, res.Downsell.Offer, res.Downsell.AcceptToken)
				return
			}
			p.message(w, d, http.StatusOK, "declined")
			return
		}
		res, err := p.engine.Accept(r.Context(), id, auth)
		if err != nil {
			p.answerRefused(r.Context(), w, d, id, auth, err)
			return
		}
		p.outcome(w, d, res)
	})
}

// HandleAsset serves the page's stylesheet and script (GET
// /o/assets/{name}).
func (p *Page) HandleAsset() http.Handler {
	return assetHandler(func(r *http.Request) string { return "assets/" + r.PathValue("name") })
}

// HandleEmbed serves the script merchants embed (GET /embed/offer.js); it
// runs on their pages and calls the JSON view, accept and decline routes,
// which answer the origins of OFFERFLOW_CORS_ORIGINS.
func (p *Page) HandleEmbed() http.Handler {
	return assetHandler(func(*http.Request) string { return "assets/offer.js" })
}

func assetHandler(name func(*http.Request) string) http.Handler {
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := name(r)
		ct, ok := types[n[strings.LastIndexByte(n, '.'):]]
		b, err := assetFS.ReadFile(n)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=300")
		// The embed script is loaded by merchants' pages, which may
		// require resources to opt in to being loaded cross-origin.
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		_, _ = w.Write(b)
	})
}

// printer chooses the language of a request: lang (query or form), then
// Accept-Language, then English.
func (p *Page) printer(lang string, r *http.Request) printer {
	return newPrinter(p.cat, Locale(lang, r.Header.Get("Accept-Language")))
}

// refused answers a view the engine refused; o is the offer when the
// token was genuine but expired.
func (p *Page) refused(w http.ResponseWriter, d data, o offers.Offer, err error) {
	switch {
	case errors.Is(err, natsbus.ErrOfferNotFound):
		p.message(w, d, http.StatusNotFound, "notfound")
	case errors.Is(err, offerengine.ErrTokenExpired):
		if o.ID != "" && answered(o.State) {
			p.answered(w, d, o)
			return
		}
		p.expired(w, d, o)
	case errors.Is(err, offerengine.ErrUnauthorized), errors.Is(err, offerengine.ErrForbidden):
		p.message(w, d, http.StatusForbidden, "badlink")
	default:
		p.unavailable(w, d, err)
	}
}

// answerRefused answers an accept or decline the engine refused. An offer
// answered before (a second click, a reload of the answer) shows its state.
func (p *Page) answerRefused(ctx context.Context, w http.ResponseWriter, d data, id string, auth offerengine.Auth, err error) {
	switch {
	case errors.Is(err, offers.ErrExpired):
		o, _ := p.engine.View(ctx, id, auth) // for the expiry it shows; none is fine
		p.expired(w, d, o)
	case errors.Is(err, offerengine.ErrTokenUsed), errors.Is(err, offers.ErrNotOpen):
		o, verr := p.engine.View(ctx, id, auth)
		if verr != nil && !errors.Is(verr, offerengine.ErrTokenExpired) {
			p.refused(w, d, o, verr)
			return
		}
		p.answered(w, d, o)
	default:
		p.refused(w, d, offers.Offer{}, err)
	}
}

func answered(s offers.State) bool {
	switch s {
	case offers.Accepted, offers.Charged, offers.Failed, offers.Declined:
		return true
	}
	return false
}

// state renders a viewed offer by its state.
func (p *Page) state(w http.ResponseWriter, d data, o offers.Offer, token string) {
	switch {
	case o.State == offers.Open:
		p.offer(w, d, http.StatusOK, o, token)
	case o.State == offers.Expired:
		p.expired(w, d, o)
	default:
		p.answered(w, d, o)
	}
}

// outcome renders an accept's result.
func (p *Page) outcome(w http.ResponseWriter, d data, res offerengine.Result) {
	o, pr := res.Offer, d.printer
	status := http.StatusOK
	switch res.Outcome {
	case offerengine.OutcomeCharged:
		d.Title = pr.T("charged.title", productName(o))
		d.Body = []string{chargedText(pr, o)}
	case offerengine.OutcomePending:
		status = http.StatusAccepted
		d.Title, d.Body = pr.T("pending.title"), []string{pr.T("pending.body")}
	case offerengine.OutcomeFailed:
		failedPage(&d, o)
	default: // checkout: the customer pays on Dodo's page
		d.Title, d.Body = pr.T("checkout.title"), []string{pr.T("checkout.body")}
		d.setLink(o.Fallback.CheckoutURL, pr.T("checkout.link"))
	}
	p.render(w, d, status)
}

// answered renders an offer answered before, 409.
func (p *Page) answered(w http.ResponseWriter, d data, o offers.Offer) {
	pr := d.printer
	d.Title = pr.T("answered.title")
	switch o.State {
	case offers.Charged:
		d.Body = []string{pr.T("answered.charged")}
	case offers.Declined:
		d.Body = []string{pr.T("answered.declined")}
	case offers.Failed:
		// What the customer can still do matters more than that they
		// answered: the checkout link.
		failedPage(&d, o)
	default:
		d.Body = []string{pr.T("answered.accepted")}
	}
	p.render(w, d, http.StatusConflict)
}

func failedPage(d *data, o offers.Offer) {
	pr := d.printer
	d.Title, d.Body = pr.T("failed.title"), []string{pr.T("failed.body")}
	if o.Fallback.UpdatePaymentMethod {
		d.Body = append(d.Body, pr.T("failed.update"))
	}
	d.setLink(o.Fallback.CheckoutURL, pr.T("checkout.link"))
}

func chargedText(pr printer, o offers.Offer) string {
	if o.Amounts.DueNow <= 0 {
		return pr.T("charged.nothing")
	}
	return pr.T("charged.body", Money(pr.tag, o.Amounts.DueNow, o.Amounts.Currency), o.Card.Brand, o.Card.Last4)
}

func (p *Page) expired(w http.ResponseWriter, d data, o offers.Offer) {
	pr := d.printer
	d.Title = pr.T("expired.title")
	if !o.ExpiresAt.IsZero() {
		d.Body = []string{pr.T("expired.body", pr.Date(o.ExpiresAt))}
	}
	p.render(w, d, http.StatusGone)
}

func (p *Page) unavailable(w http.ResponseWriter, d data, err error) {
	if err != nil {
		// The engine's errors name offers, never tokens.
		p.log.Warn("offer page", zap.Error(err))
	}
	w.Header().Set("Retry-After", "1")
	p.message(w, d, http.StatusServiceUnavailable, "unavailable")
}

// message renders the page of key's title and body.
func (p *Page) message(w http.ResponseWriter, d data, status int, key string) {
	d.Title, d.Body = d.printer.T(key+".title"), []string{d.printer.T(key + ".body")}
	p.render(w, d, status)
}

// offer renders an open offer with its answer forms.
func (p *Page) offer(w http.ResponseWriter, d data, status int, o offers.Offer, token string) {
	d.Offer = newOfferView(d.printer, o, token, p.name)
	d.Title = productName(o)
	if d.Intro == "" {
		d.Intro = d.printer.T("title.offer")
	}
	p.render(w, d, status)
}

func (p *Page) render(w http.ResponseWriter, d data, status int) {
	secure(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.tmpl.ExecuteTemplate(w, "page.html", d); err != nil {
		p.log.Warn("render offer page", zap.Error(err))
	}
}

// data is what the template shows.
type data struct {
	printer
	// Base leads from the page's path to /o/: "./" from /o/{id}, "../"
	// from /o/{id}/accept, so links hold under any path prefix.
	Base  string
	Title string
	Intro string
	Body  []string
	// Link is a checkout page (Dodo's): its text and address.
	LinkText string
	Link     string
	Offer    *offerView
}

// Lang is the page's lang attribute.
func (d data) Lang() string { return d.tag.String() }

func (d *data) setLink(u, text string) {
	if pu, err := url.Parse(u); err == nil && (pu.Scheme == "https" || pu.Scheme == "http") {
		d.Link, d.LinkText = u, text
	}
}

// offerView is an open offer as the page shows it.
type offerView struct {
	ID, Token, Lang    string
	Kind               string
	Headline, Badge    string
	ChangePlan         string
	Gains, Loses       []string
	DueNow, Credit     string
	Price              string
	Card               string
	Expires, ExpiresAt string
	OneClick           bool
	Accept             string
}

func newOfferView(pr printer, o offers.Offer, token string, name func(string) string) *offerView {
	cur := o.Amounts.Currency
	v := &offerView{
		ID: o.ID, Token: token, Lang: pr.tag.String(),
		Kind:     pr.T("kind." + string(o.Kind)),
		Headline: o.Display.Headline, Badge: o.Display.Badge,
		Gains: o.Gains, Loses: o.Loses,
		DueNow:   Money(pr.tag, o.Amounts.DueNow, cur),
		Expires:  pr.Date(o.ExpiresAt),
		OneClick: o.OneClick,
	}
	v.ExpiresAt = o.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")
	if v.Kind == "kind."+string(o.Kind) {
		v.Kind = "" // a kind the page has no word for
	}
	if o.ChangePlan && o.FromProductID != "" {
		v.ChangePlan = pr.T("change_plan", name(o.FromProductID), productName(o))
	}
	if o.Amounts.Credit > 0 {
		v.Credit = Money(pr.tag, o.Amounts.Credit, cur)
	}
	if o.Amounts.Price != o.Amounts.DueNow {
		v.Price = Money(pr.tag, o.Amounts.Price, cur)
	}
	if o.OneClick && o.Card.Last4 != "" {
		v.Card = pr.T("card.value", o.Card.Brand, o.Card.Last4)
	}
	switch {
	case !o.OneClick:
		v.Accept = pr.T("accept.checkout")
	case o.Amounts.DueNow > 0:
		v.Accept = pr.T("accept", v.DueNow)
	default:
		v.Accept = pr.T("accept.free")
	}
	return v
}
