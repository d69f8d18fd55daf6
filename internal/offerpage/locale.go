package offerpage

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/number"

	"github.com/offerflow/offerflow/internal/confirm"
)

// maxLangLen bounds a lang parameter; maxAcceptLanguage an Accept-Language
// header: longer ones are ignored rather than parsed.
const (
	maxLangLen        = 35
	maxAcceptLanguage = 1024
)

var matcher = language.NewMatcher(languages)

// Locale chooses the page's language: the lang parameter (?lang=, or the
// form's) when it names one the page speaks, else the best match of the
// Accept-Language header, else English. Only languages the page has texts
// for are returned, without region: amounts and dates are formatted in
// that language's conventions (es: 30,00 US$), the same for es-MX as for
// es-ES.
func Locale(lang, acceptLanguage string) language.Tag {
	if lang != "" && len(lang) <= maxLangLen {
		if tag, err := language.Parse(lang); err == nil {
			if _, i, c := matcher.Match(tag); c != language.No {
				return languages[i]
			}
		}
	}
	if acceptLanguage != "" && len(acceptLanguage) <= maxAcceptLanguage {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
			if _, i, c := matcher.Match(tags...); c != language.No {
				return languages[i]
			}
		}
	}
	return languages[0]
}

// Money formats minor units of an ISO 4217 currency as the language
// writes it: en "$30.00", "€30.00", "BHD 1.500"; es "30,00 US$", "30,00 €".
// golang.org/x/text gives the symbol and the language's separators; the
// decimals are the currency's ISO 4217 minor unit (confirm.MinorExponent,
// not CLDR's display precision, which is 0 for COP and would show 100
// times the amount), and where the symbol goes (CLDR's currency pattern,
// which x/text does not expose) is moneyPattern's. A code x/text does not
// know is written as the code.
func Money(tag language.Tag, minor int64, code string) string {
	p := newNumberPrinter(tag)
	symbol, scale := strings.ToUpper(code), confirm.MinorExponent(code)
	if u, err := currency.ParseISO(code); err == nil {
		symbol = p.Sprint(currency.Symbol(u))
	}
	neg := minor < 0
	abs := float64(minor)
	if neg {
		abs = -abs
	}
	digits := p.Sprint(number.Decimal(abs/math.Pow10(scale), number.Scale(scale)))
	out := digits
	if symbol != "" {
		out = moneyPattern(tag, symbol, digits)
	}
	if neg {
		return "-" + out
	}
	return out
}

// moneyPattern places the currency symbol as CLDR's standard currency
// pattern of the language does: English before the digits (with a
// non-breaking space after a symbol of letters, "BHD 1.500"), Spanish
// after them, with a non-breaking space.
func moneyPattern(tag language.Tag, symbol, digits string) string {
	if base, _ := tag.Base(); base.String() == "es" {
		return digits + "\u00a0" + symbol
	}
	if r := []rune(symbol); len(r) > 0 && unicode.IsLetter(r[len(r)-1]) {
		return symbol + "\u00a0" + digits
	}
	return symbol + digits
}

// Date writes t (in UTC: the page does not know the customer's zone) as
// the language does: "April 4, 2026 at 09:00 UTC", "4 de abril de 2026,
// 09:00 UTC".
func (p printer) Date(t time.Time) string {
	t = t.UTC()
	return p.T("date", strconv.Itoa(t.Day()), p.T("month."+strconv.Itoa(int(t.Month()))),
		strconv.Itoa(t.Year()), t.Format("15:04"))
}
