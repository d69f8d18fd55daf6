package offerpage

import (
	"time"

	"github.com/offerflow/offerflow/internal/offers"
)

// JSONView is the offer as the embeddable widget shows it: the answer of
// POST /v1/offers/{offer_id}/view. Text holds the widget's texts in Lang,
// with the amounts and the expiry already written as the language writes
// them, so the widget formats nothing itself.
type JSONView struct {
	ID          string            `json:"id"`
	State       offers.State      `json:"state"`
	Kind        offers.Kind       `json:"kind"`
	ProductName string            `json:"product_name"`
	Headline    string            `json:"headline,omitempty"`
	Badge       string            `json:"badge,omitempty"`
	Gains       []string          `json:"gains,omitempty"`
	Loses       []string          `json:"loses,omitempty"`
	OneClick    bool              `json:"one_click"`
	Card        offers.Card       `json:"card,omitzero"`
	Amounts     offers.Amounts    `json:"amounts"`
	ExpiresAt   time.Time         `json:"expires_at"`
	Lang        string            `json:"lang"`
	Text        map[string]string `json:"text"`
}

// View returns the JSON view of o in the language lang or Accept-Language
// choose (see Locale).
func (p *Page) View(o offers.Offer, lang, acceptLanguage string) JSONView {
	pr := newPrinter(p.cat, Locale(lang, acceptLanguage))
	ov := newOfferView(pr, o, "", p.name)
	text := map[string]string{
		"kind": ov.Kind, "change_plan": ov.ChangePlan,
		"gains": pr.T("gains"), "loses": pr.T("loses"),
		"due_now_label": pr.T("due_now"), "due_now": ov.DueNow,
		"card_label": pr.T("card"), "card": ov.Card,
		"expires_label": pr.T("expires"), "expires": ov.Expires,
		"accept": ov.Accept, "decline": pr.T("decline"), "busy": pr.T("busy"),
		"charged": pr.T("widget.charged"), "pending": pr.T("pending.title"),
		"failed":   pr.T("failed.title") + ". " + pr.T("failed.body"),
		"checkout": pr.T("checkout.body"), "checkout_link": pr.T("checkout.link"),
		"declined": pr.T("widget.declined"), "answered": pr.T("widget.answered"),
		"expired": pr.T("widget.expired"), "error": pr.T("widget.error"),
		"downsell": pr.T("title.downsell"),
	}
	if ov.Credit != "" {
		text["credit_label"], text["credit"] = pr.T("credit"), ov.Credit
	}
	return JSONView{
		ID: o.ID, State: o.State, Kind: o.Kind, ProductName: productName(o),
		Headline: o.Display.Headline, Badge: o.Display.Badge, Gains: o.Gains, Loses: o.Loses,
		OneClick: o.OneClick, Card: o.Card, Amounts: o.Amounts, ExpiresAt: o.ExpiresAt,
		Lang: pr.tag.String(), Text: text,
	}
}

// productName is the offered product's name, or its id without one.
func productName(o offers.Offer) string {
	if o.ProductName != "" {
		return o.ProductName
	}
	return o.ProductID
}
