package offerpage

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// maxTokenLen bounds an offer token (offertoken's are about 150 bytes);
// maxFormBody the body of an answer form.
const (
	maxTokenLen = 512
	maxFormBody = 4 << 10
)

// ErrBadInput is a page request whose query or form the page cannot use;
// the page answers 400.
var ErrBadInput = errors.New("bad offer page request")

// Input is what a page request carries besides the offer id: the offer's
// token and the language asked for (empty: none).
type Input struct {
	Token string
	Lang  string
}

// ParseQuery reads the page's query, t=<token>[&lang=<lang>]: the token is
// required, each parameter at most once; other parameters are ignored (a
// mail client's tracking tags, say).
func ParseQuery(rawQuery string) (Input, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Input{}, fmt.Errorf("%w: query: %w", ErrBadInput, err)
	}
	return input(v)
}

// ParseForm reads an answer form's body (application/x-www-form-urlencoded,
// t=<token>[&lang=<lang>]), as ParseQuery reads the query. The token comes
// in the body, never the URL, so it reaches no log or Referer.
func ParseForm(contentType string, body []byte) (Input, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return Input{}, fmt.Errorf("%w: want a form (application/x-www-form-urlencoded)", ErrBadInput)
	}
	if len(body) > maxFormBody {
		return Input{}, fmt.Errorf("%w: form over %d bytes", ErrBadInput, maxFormBody)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return Input{}, fmt.Errorf("%w: form: %w", ErrBadInput, err)
	}
	return input(v)
}

func input(v url.Values) (Input, error) {
	for _, k := range []string{"t", "lang"} {
		if len(v[k]) > 1 {
			return Input{}, fmt.Errorf("%w: %s given %d times", ErrBadInput, k, len(v[k]))
		}
	}
	in := Input{Token: v.Get("t"), Lang: v.Get("lang")}
	if err := checkToken(in.Token); err != nil {
		return Input{}, err
	}
	if len(in.Lang) > maxLangLen {
		in.Lang = "" // not a language: the header decides
	}
	return in, nil
}

// checkToken refuses what cannot be an offer token before it goes
// further: empty, too long, or outside the base64url alphabet and the dots
// that join its parts. The signature is the engine's to check.
func checkToken(tok string) error {
	if tok == "" {
		return fmt.Errorf("%w: no offer token (t)", ErrBadInput)
	}
	if len(tok) > maxTokenLen {
		return fmt.Errorf("%w: the offer token is over %d bytes", ErrBadInput, maxTokenLen)
	}
	for _, c := range []byte(tok) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("%w: the offer token has a character no token has", ErrBadInput)
		}
	}
	return nil
}

// DecodeViewRequest reads the body of the embeddable widget's view request,
// {"token": "...", "lang": "es"} (lang optional; unknown fields refused).
func DecodeViewRequest(body []byte) (Input, error) {
	var req struct {
		Token *string `json:"token"`
		Lang  string  `json:"lang"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Input{}, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if dec.More() {
		return Input{}, fmt.Errorf("%w: more than one JSON value", ErrBadInput)
	}
	if req.Token == nil {
		return Input{}, fmt.Errorf("%w: no token", ErrBadInput)
	}
	in := Input{Token: *req.Token, Lang: req.Lang}
	if err := checkToken(in.Token); err != nil {
		return Input{}, err
	}
	if len(in.Lang) > maxLangLen {
		in.Lang = ""
	}
	return in, nil
}
