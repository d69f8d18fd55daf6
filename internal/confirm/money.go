package confirm

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// minorExponent is the number of decimals of a currency's minor unit in
// ISO 4217: how many of Dodo's "smallest units" make one unit ("cents for
// USD, yen for JPY, fils for KWD", in Dodo's spec).
//
// It is a table of its own, not x/text's currency.Standard.Rounding:
// that is CLDR's display precision, which is 0 for currencies whose minor
// unit exists but is not used in practice (COP, IDR, PKR, IQD, ...).
// Dividing Dodo's 500000 COP cents by 10^0 would tell the customer they
// paid a hundred times what they did.
func minorExponent(code string) int {
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
		"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// formatMoney formats minor units of the currency code for tag: the
// currency's symbol as CLDR has it for the language and region (x/text
// currency), a space, and the amount with the ISO 4217 number of decimals
// in the language's number format (x/text number). The layout, symbol
// first and a space, is the one x/text's currency formatter uses for every
// language; x/text has no per-language currency patterns.
//
// The amount passes through a float64, which is exact for the amounts of
// this world (below 2^53 minor units).
//
// A code x/text does not know (it lags ISO for a few: MRU, SLE, VES) is
// shown as the code itself.
func formatMoney(tag language.Tag, minor int64, code string) (string, error) {
	if err := checkCurrency(code); err != nil {
		return "", err
	}
	code = strings.ToUpper(code)
	p := message.NewPrinter(tag)
	sym := code
	if u, err := currency.ParseISO(code); err == nil {
		sym = p.Sprint(currency.Symbol(u))
	}
	exp := minorExponent(code)
	v := float64(minor) / math.Pow10(exp)
	return sym + " " + p.Sprint(number.Decimal(v, number.Scale(exp))), nil
}

// checkCurrency accepts three ASCII letters, in any case. It does not
// insist on a code x/text knows: Dodo's currency list has codes newer than
// x/text's tables, and a confirmation of a real charge must not be refused
// for that.
func checkCurrency(code string) error {
	if len(code) != 3 || strings.ContainsFunc(code, func(r rune) bool {
		return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z')
	}) {
		return fmt.Errorf("currency %q is not a 3-letter ISO 4217 code", code)
	}
	return nil
}

// MinorExponent is the number of decimals of code's minor unit (ISO 4217,
// code in any case): what Dodo's amounts in code are divided by. The offer
// page writes amounts with it too, so that a page and its confirmation
// never disagree.
func MinorExponent(code string) int { return minorExponent(strings.ToUpper(code)) }
