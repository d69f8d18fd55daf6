package offerengine

import (
	"context"
	"errors"
	"net/url"

	"github.com/offerflow/offerflow/internal/offers"
)

// PagePath is the path, under the public base URL, of the hosted offer
// page of an offer id (package offerpage serves it); its token goes in the
// query (PageURL).
func PagePath(offerID string) string { return "/o/" + url.PathEscape(offerID) }

// PageURL is the address of offer offerID's hosted page with token under
// the public base URL, or "" without one. The page view checks the token
// without using it up, so the link works until the customer answers.
func (e *Engine) PageURL(offerID, token string) string {
	if e.cfg.PublicURL == "" || token == "" {
		return ""
	}
	return e.cfg.PublicURL + PagePath(offerID) + "?t=" + url.QueryEscape(token)
}

// PageURLOf returns a fresh page URL (a new token) for offer o while it
// can be accepted; "" when no public URL is set or o is no longer open.
// For the server-token answers only: whoever holds it may accept.
func (e *Engine) PageURLOf(o offers.Offer) (string, error) {
	if e.cfg.PublicURL == "" || o.State != offers.Open || !e.now().Before(o.ExpiresAt) {
		return "", nil
	}
	tok, err := e.Token(o)
	if err != nil {
		return "", err
	}
	return e.PageURL(o.ID, tok), nil
}

// View returns offer id for the customer's page, checking auth as a
// decline does: a token is verified and never used up, so showing the
// page, any number of times, leaves the token to the one accept it allows.
// An expired token's offer is returned with ErrTokenExpired, so that the
// page can tell an answered offer from one that ran out.
func (e *Engine) View(ctx context.Context, id string, auth Auth) (offers.Offer, error) {
	o, _, err := e.store.Get(ctx, id)
	if err != nil {
		return offers.Offer{}, err
	}
	if _, err := e.authorize(ctx, o, auth, false); err != nil {
		if errors.Is(err, ErrTokenExpired) {
			return o, err
		}
		return offers.Offer{}, err
	}
	return o, nil
}
