package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.uber.org/zap"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/offerpage"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/rules"
	"github.com/offerflow/offerflow/internal/tracing"
)

// OffersAPI is the offer engine as the API uses it (*offerengine.Engine).
type OffersAPI interface {
	Get(ctx context.Context, id string) (offers.Offer, error)
	OpenOffers(ctx context.Context, customerID string) ([]offers.Offer, error)
	Accept(ctx context.Context, id string, auth offerengine.Auth) (offerengine.Result, error)
	Decline(ctx context.Context, id string, auth offerengine.Auth) (offerengine.Result, error)
	OfferFor(ctx context.Context, customerID string, r offerengine.Request) (*offers.Offer, error)
	Stats(ctx context.Context) ([]offers.Stats, error)
	Token(o offers.Offer) (string, error)
	// View reads an offer for its customer's page, checking a token
	// without using it up.
	View(ctx context.Context, id string, auth offerengine.Auth) (offers.Offer, error)
	// PageURL is the page_url of an offer with token.
	PageURL(offerID, token string) string
	// PageURLOf is a fresh page_url of an open offer; "" without
	// OFFERFLOW_PUBLIC_URL or once the offer is answered.
	PageURLOf(o offers.Offer) (string, error)
}

// SignalPublisher stores a signal for the workers.
type SignalPublisher interface {
	Send(ctx context.Context, msg events.Message) (natsbus.PubAck, error)
}

// maxAPIBody bounds the body of an API request.
const maxAPIBody = 64 << 10

func addOfferRoutes(mux *http.ServeMux, d Deps) {
	server := func(h http.Handler) http.Handler { return requireToken(d.APIToken, h) }
	route := func(pattern string, h http.Handler) { mux.Handle(pattern, traceRoute(d, pattern, h)) }
	route("GET /v1/customers/{customer_id}/offers", server(offersOnly(d, handleOpenOffers(d))))
	route("POST /v1/customers/{customer_id}/offers", server(offersOnly(d, handleOfferRequest(d))))
	route("POST /v1/customers/{customer_id}/signals", server(handleSignal(d)))
	route("GET /v1/offers/stats", server(offersOnly(d, handleStats(d))))
	route("GET /v1/offers/{offer_id}", server(offersOnly(d, handleGetOffer(d))))
	// Accept and decline take the server token or the offer's own token.
	for path, accept := range map[string]bool{"/v1/offers/{offer_id}/accept": true, "/v1/offers/{offer_id}/decline": false} {
		h := withCORS(d.CORSOrigins, "POST", offersOnly(d, handleAnswer(d, accept)))
		route("POST "+path, h)
		mux.Handle("OPTIONS "+path, h)
	}
	// The hosted offer page and the embeddable widget, for customers'
	// browsers: the offer's token is their proof. Spans are named by the
	// pattern and carry the path, never the query, where the page's
	// token is.
	page := offerpage.New(offerpage.Deps{Engine: pageEngine(d), Log: d.Log, ProductName: productNames(d.Catalog)})
	route("GET /o/{offer_id}", page.HandleView())
	route("POST /o/{offer_id}/accept", page.HandleAnswer(true))
	route("POST /o/{offer_id}/decline", page.HandleAnswer(false))
	mux.Handle("GET /o/assets/{name}", page.HandleAsset())
	mux.Handle("GET /embed/offer.js", page.HandleEmbed())
	view := withCORS(d.CORSOrigins, "POST", offersOnly(d, handleView(d, page)))
	route("POST /v1/offers/{offer_id}/view", view)
	mux.Handle("OPTIONS /v1/offers/{offer_id}/view", view)
}

// pageEngine is the engine for the page; nil, not a nil *Engine in the
// interface, when offers are off.
func pageEngine(d Deps) offerpage.Engine {
	if d.Offers == nil {
		return nil
	}
	return d.Offers
}

// productNames names products from the rules file's catalog, when it has
// names.
func productNames(c access.Catalog) func(string) string {
	named, ok := c.(interface {
		Product(id string) (rules.Product, bool)
	})
	if !ok || c == nil {
		return nil
	}
	return func(id string) string {
		p, _ := named.Product(id)
		return p.Name
	}
}

// traceRoute makes each request of pattern a server span of d.Tracer
// named by the pattern (never the path: it carries ids), so that the Dodo
// calls an accept makes (the one-click charge) are its children. The span
// is a root: these routes are called from browsers and the merchant's
// servers, whose traceparent is not trusted.
func traceRoute(d Deps, pattern string, h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, pattern,
		otelhttp.WithTracerProvider(tracing.Provider(d.Tracer)),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(operation string, _ *http.Request) string { return operation }),
	)
}

// offersOnly answers 503 where this ingest runs without the offer engine.
func offersOnly(d Deps, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Offers == nil {
			writeError(w, http.StatusServiceUnavailable, "offers_off",
				"offers are not configured on this ingest (set DODO_API_KEY and OFFERFLOW_OFFER_KEY)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func readAPIBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the body is over 64 KiB")
		} else {
			writeError(w, http.StatusBadRequest, "bad_body", "the body could not be read")
		}
		return nil, false
	}
	return body, true
}

func customerParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("customer_id")
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid_customer_id", "customer_id must be 1..128 printable ASCII characters, no spaces")
		return "", false
	}
	return id, true
}

func offerParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("offer_id")
	if !validID(id) {
		writeError(w, http.StatusBadRequest, "invalid_offer_id", "offer_id must be 1..128 printable ASCII characters, no spaces")
		return "", false
	}
	return id, true
}

func handleOpenOffers(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := customerParam(w, r)
		if !ok {
			return
		}
		list, err := d.Offers.OpenOffers(r.Context(), id)
		if err != nil {
			unavailable(d, w, "list offers", err)
			return
		}
		out := make([]offerWithPage, 0, len(list))
		for _, o := range list {
			wp, err := withPage(d, o)
			if err != nil {
				unavailable(d, w, "sign offer page URL", err)
				return
			}
			out = append(out, wp)
		}
		writeJSON(w, http.StatusOK, map[string]any{"customer_id": id, "offers": out})
	})
}

func handleGetOffer(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := offerParam(w, r)
		if !ok {
			return
		}
		o, err := d.Offers.Get(r.Context(), id)
		if err != nil {
			answerError(d, w, err)
			return
		}
		wp, err := withPage(d, o)
		if err != nil {
			unavailable(d, w, "sign offer page URL", err)
			return
		}
		writeJSON(w, http.StatusOK, wp)
	})
}

// offerWithPage is an offer as the server-token API answers it: with a
// fresh page_url while it is open (a new token each time: a page view
// never uses one up, and only the merchant's backend sees these answers).
type offerWithPage struct {
	offers.Offer
	PageURL string `json:"page_url,omitempty"`
}

func withPage(d Deps, o offers.Offer) (offerWithPage, error) {
	u, err := d.Offers.PageURLOf(o)
	return offerWithPage{Offer: o, PageURL: u}, err
}

// handleView is the embeddable widget's read of an offer: POST
// /v1/offers/{offer_id}/view {"token", "lang"?}, the token in the body so
// it stays out of URLs. The token is checked, not used up.
func handleView(d Deps, page *offerpage.Page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := offerParam(w, r)
		if !ok {
			return
		}
		body, ok := readAPIBody(w, r)
		if !ok {
			return
		}
		in, err := offerpage.DecodeViewRequest(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_body", err.Error()+`; want {"token": "<offer token>", "lang"?: "es"}`)
			return
		}
		o, err := d.Offers.View(r.Context(), id, offerengine.Auth{Token: in.Token})
		if err != nil {
			answerError(d, w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, page.View(o, in.Lang, r.Header.Get("Accept-Language")))
	})
}

func handleStats(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Offers.Stats(r.Context())
		if err != nil {
			unavailable(d, w, "offer stats", err)
			return
		}
		if st == nil {
			st = []offers.Stats{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"rules": st})
	})
}

// offerWithToken is the on-demand API's answer: the offer and a token to
// accept it with.
type offerWithToken struct {
	offers.Offer
	AcceptToken string `json:"accept_token"`
	PageURL     string `json:"page_url,omitempty"`
}

func handleOfferRequest(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := customerParam(w, r)
		if !ok {
			return
		}
		body, ok := readAPIBody(w, r)
		if !ok {
			return
		}
		req, err := offerengine.DecodeRequest(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		o, err := d.Offers.OfferFor(r.Context(), id, req)
		var inel *offerengine.Ineligible
		switch {
		case errors.As(err, &inel):
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "not_eligible", "reason": inel.Reason, "message": inel.Error()})
			return
		case errors.Is(err, offerengine.ErrBadRequest):
			writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		case errors.Is(err, offerengine.ErrUnknownCustomer):
			writeError(w, http.StatusNotFound, "unknown_customer", fmt.Sprintf("customer %q is unknown at Dodo", id))
			return
		case errors.Is(err, offerengine.ErrIdempotencyConflict):
			writeError(w, http.StatusConflict, "idempotency_conflict", err.Error())
			return
		case fault.IsPermanent(err):
			// Dodo refused for good (a 4xx): the same request will be
			// refused again, so not a 503 to retry.
			d.Log.Warn("offer request refused by Dodo", zap.String("customer_id", id), zap.Error(err))
			writeError(w, http.StatusUnprocessableEntity, "dodo_refused", "Dodo refused what this offer needs; retrying the same request will not help")
			return
		case err != nil:
			unavailable(d, w, "offer request", err)
			return
		}
		tok, err := d.Offers.Token(*o)
		if err != nil {
			unavailable(d, w, "sign offer token", err)
			return
		}
		status := http.StatusCreated
		if o.Trigger.Request != req.ID {
			status = http.StatusOK // an open offer for the product already existed
		}
		writeJSON(w, status, offerWithToken{Offer: *o, AcceptToken: tok, PageURL: d.Offers.PageURL(o.ID, tok)})
	})
}

func handleSignal(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := customerParam(w, r)
		if !ok {
			return
		}
		body, ok := readAPIBody(w, r)
		if !ok {
			return
		}
		// The customer is the URL's; a body naming another is refused.
		var probe struct {
			CustomerID *string `json:"customer_id"`
		}
		_ = json.Unmarshal(body, &probe)
		if probe.CustomerID == nil {
			body = withCustomer(body, id)
		}
		s, err := offerengine.DecodeSignal(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_signal", err.Error())
			return
		}
		if s.CustomerID != id {
			writeError(w, http.StatusBadRequest, "invalid_signal", "customer_id in the body differs from the URL's")
			return
		}
		if d.Signals == nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "signals are not configured")
			return
		}
		data, _ := json.Marshal(s)
		msg := events.Message{Subject: d.SignalSubject(id), ID: offerengine.SignalMsgID(id, s.ID), Header: map[string][]string{}, Data: data}
		// The worker's span of the signal continues this request's trace.
		tracing.Inject(r.Context(), msg.Header)
		ack, err := d.Signals.Send(r.Context(), msg)
		if err != nil {
			unavailable(d, w, "publish signal", err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"id": s.ID, "subject": msg.Subject, "duplicate": ack.Duplicate})
	})
}

// withCustomer adds "customer_id" to a JSON object body; a body that is
// not an object is returned as is, for the decoder to refuse.
func withCustomer(body []byte, id string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return body
	}
	v, _ := json.Marshal(id)
	m["customer_id"] = v
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// handleAnswer is accept (accept true) or decline.
func handleAnswer(d Deps, accept bool) http.Handler {
	want := sha256.Sum256([]byte(d.APIToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := offerParam(w, r)
		if !ok {
			return
		}
		var auth offerengine.Auth
		if h := r.Header.Get("Authorization"); h != "" {
			got, isBearer := bearer(h)
			sum := sha256.Sum256([]byte(got))
			if d.APIToken == "" || !isBearer || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="offerflow"`)
				writeError(w, http.StatusUnauthorized, "unauthorized", "the Authorization header does not hold the server token")
				return
			}
			auth.Server = true
		}
		body, ok := readAPIBody(w, r)
		if !ok {
			return
		}
		tok, err := offerengine.DecodeAnswer(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_body", err.Error()+`; want {"token": "<offer token>"} or no body`)
			return
		}
		if !auth.Server {
			if tok == "" {
				writeError(w, http.StatusUnauthorized, "unauthorized", `an offer token ({"token": ...}) or the server token is required`)
				return
			}
			auth.Token = tok
		}
		var res offerengine.Result
		if accept {
			res, err = d.Offers.Accept(r.Context(), id, auth)
		} else {
			res, err = d.Offers.Decline(r.Context(), id, auth)
		}
		if err != nil {
			answerError(d, w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// answerError maps the engine's refusals to status codes.
func answerError(d Deps, w http.ResponseWriter, err error) {
	var inel *offerengine.Ineligible
	switch {
	case errors.Is(err, natsbus.ErrOfferNotFound):
		writeError(w, http.StatusNotFound, "offer_not_found", "no offer has that id")
	case errors.Is(err, offerengine.ErrUnauthorized):
		writeError(w, http.StatusUnauthorized, "unauthorized", "the offer token is not valid")
	case errors.Is(err, offerengine.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", "the offer token is for another offer or customer")
	case errors.Is(err, offerengine.ErrTokenExpired), errors.Is(err, offers.ErrExpired):
		writeError(w, http.StatusGone, "offer_expired", "the offer has expired")
	case errors.Is(err, offerengine.ErrTokenUsed):
		writeError(w, http.StatusConflict, "token_used", "the offer token was used before")
	case errors.Is(err, offers.ErrAlreadyAccepted):
		writeError(w, http.StatusConflict, "already_accepted", "the offer was accepted before")
	case errors.Is(err, offers.ErrDeclined):
		writeError(w, http.StatusConflict, "declined", "the offer was declined")
	case errors.Is(err, offers.ErrNotOpen):
		writeError(w, http.StatusConflict, "not_open", err.Error())
	case errors.As(err, &inel):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "not_eligible", "reason": inel.Reason, "message": inel.Error()})
	default:
		unavailable(d, w, "offer", err)
	}
}

func unavailable(d Deps, w http.ResponseWriter, what string, err error) {
	d.Log.Warn(what, zap.Error(err))
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "unavailable", what+" failed; retry")
}
