package offerpage_test

import (
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/offerflow/offerflow/internal/offerpage"
)

func TestLocale(t *testing.T) {
	tests := []struct {
		name, lang, accept string
		want               language.Tag
	}{
		{name: "nothing", want: language.English},
		{name: "lang es", lang: "es", want: language.Spanish},
		{name: "lang es-MX", lang: "es-MX", want: language.Spanish},
		{name: "lang beats the header", lang: "en", accept: "es", want: language.English},
		{name: "a lang the page lacks: the header", lang: "fr", accept: "es-ES,es;q=0.9", want: language.Spanish},
		{name: "a lang that is no language: the header", lang: "<script>", accept: "es", want: language.Spanish},
		{name: "header es-419", accept: "es-419", want: language.Spanish},
		{name: "header by quality", accept: "fr;q=1, es;q=0.8, en;q=0.5", want: language.Spanish},
		{name: "header en-GB", accept: "en-GB", want: language.English},
		{name: "header of languages the page lacks", accept: "fr-FR, de;q=0.8", want: language.English},
		{name: "header *", accept: "*", want: language.English},
		{name: "header malformed", accept: "es;q=x;;;", want: language.English},
		{name: "header too long", accept: "es," + strings.Repeat("x-", 600), want: language.English},
		{name: "lang too long", lang: "es-" + strings.Repeat("a", 40), want: language.English},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := offerpage.Locale(tt.lang, tt.accept); got != tt.want {
				t.Errorf("Locale(%q, %q) = %s, want %s", tt.lang, tt.accept, got, tt.want)
			}
		})
	}
}

func FuzzLocale(f *testing.F) {
	for _, s := range [][2]string{{"es", ""}, {"", "es-MX,es;q=0.9"}, {"x", "*;q=0"}, {"zh-Hant-TW-u-co-pinyin", "en;q=abc"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, lang, accept string) {
		got := offerpage.Locale(lang, accept)
		if got != language.English && got != language.Spanish {
			t.Fatalf("Locale(%q, %q) = %s, a language the page has no texts for", lang, accept, got)
		}
	})
}

func TestMoney(t *testing.T) {
	nb := "\u00a0"
	tests := []struct {
		lang     language.Tag
		minor    int64
		currency string
		want     string
	}{
		{language.English, 3000, "USD", "$30.00"},
		{language.Spanish, 3000, "USD", "30,00" + nb + "US$"},
		{language.English, 3000, "EUR", "€30.00"},
		{language.Spanish, 3000, "EUR", "30,00" + nb + "€"},
		{language.English, 123456789, "USD", "$1,234,567.89"},
		{language.Spanish, 123456789, "USD", "1.234.567,89" + nb + "US$"},
		{language.English, 0, "USD", "$0.00"},
		{language.English, 5, "USD", "$0.05"},
		{language.English, -3000, "USD", "-$30.00"},
		{language.Spanish, -3000, "EUR", "-30,00" + nb + "€"},
		{language.English, 1500, "JPY", "¥1,500"},
		{language.English, 1500, "BHD", "BHD" + nb + "1.500"},
		{language.English, 4999, "INR", "₹49.99"},
		{language.English, 500000, "COP", "COP\u00a05,000.00"},
		{language.Spanish, 500000, "COP", "5.000,00\u00a0COP"},
		{language.English, 4999, "usd", "$49.99"},
		{language.English, 4999, "XYZ", "XYZ" + nb + "49.99"},
		{language.Spanish, 4999, "", "49,99"},
	}
	for _, tt := range tests {
		if got := offerpage.Money(tt.lang, tt.minor, tt.currency); got != tt.want {
			t.Errorf("Money(%s, %d, %q) = %q, want %q", tt.lang, tt.minor, tt.currency, got, tt.want)
		}
	}
}

func FuzzMoney(f *testing.F) {
	f.Add(int64(3000), "USD", true)
	f.Add(int64(-1), "EUR", false)
	f.Add(int64(1<<62), "JPY", true)
	f.Fuzz(func(t *testing.T, minor int64, code string, es bool) {
		tag := language.English
		if es {
			tag = language.Spanish
		}
		got := offerpage.Money(tag, minor, code)
		if !strings.ContainsAny(got, "0123456789") {
			t.Fatalf("Money(%s, %d, %q) = %q: no digits", tag, minor, code, got)
		}
	})
}
