package confirm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		name  string
		lang  string
		minor int64
		cur   string
		want  string
	}{
		{name: "en USD", lang: "en", minor: 5000, cur: "USD", want: "$ 50.00"},
		{name: "en USD cents", lang: "en", minor: 1999, cur: "USD", want: "$ 19.99"},
		{name: "en USD one cent", lang: "en", minor: 1, cur: "USD", want: "$ 0.01"},
		{name: "en USD thousands", lang: "en", minor: 123456789, cur: "USD", want: "$ 1,234,567.89"},
		{name: "en EUR", lang: "en", minor: 3000, cur: "EUR", want: "€ 30.00"},
		{name: "en JPY", lang: "en", minor: 5000, cur: "JPY", want: "¥ 5,000"},
		{name: "en INR", lang: "en", minor: 123456, cur: "INR", want: "₹ 1,234.56"},
		{name: "es USD", lang: "es", minor: 5000, cur: "USD", want: "US$ 50,00"},
		{name: "es EUR", lang: "es", minor: 3000, cur: "EUR", want: "€ 30,00"},
		{name: "es EUR thousands", lang: "es", minor: 123456, cur: "EUR", want: "€ 1.234,56"},
		{name: "es JPY", lang: "es", minor: 5000, cur: "JPY", want: "JPY 5.000"},
		{name: "es INR", lang: "es", minor: 123456, cur: "INR", want: "INR 1.234,56"},
		// Dodo's minor units are ISO 4217's: fils for KWD (3 decimals),
		// and centavos for COP although CLDR shows COP without decimals.
		{name: "en KWD", lang: "en", minor: 12345, cur: "KWD", want: "KWD 12.345"},
		{name: "en COP", lang: "en", minor: 500050, cur: "COP", want: "COP 5,000.50"},
		{name: "en CLP", lang: "en", minor: 5000, cur: "CLP", want: "CLP 5,000"},
		{name: "lower-case code", lang: "en", minor: 5000, cur: "usd", want: "$ 50.00"},
		// x/text does not know VES; its code stands in for the symbol.
		{name: "code x/text lacks", lang: "es", minor: 123456, cur: "VES", want: "VES 1.234,56"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := formatMoney(language.MustParse(tt.lang), tt.minor, tt.cur)
			if err != nil {
				t.Fatalf("formatMoney: %v", err)
			}
			if got != tt.want {
				t.Fatalf("formatMoney(%s, %d, %s) = %q, want %q", tt.lang, tt.minor, tt.cur, got, tt.want)
			}
		})
	}
	if _, err := formatMoney(language.English, 1, "DOLLARS"); err == nil {
		t.Fatal("formatMoney(DOLLARS) = nil error, want one")
	}
}

func newRenderer(t *testing.T, dir string) *Renderer {
	t.Helper()
	r, err := NewRenderer(dir)
	if err != nil {
		t.Fatalf("NewRenderer(%q): %v", dir, err)
	}
	return r
}

func TestRenderLanguage(t *testing.T) {
	r := newRenderer(t, "")
	tests := []struct {
		lang, want, wantAmount string
	}{
		{lang: "es", want: "es", wantAmount: "€ 30,00"},
		{lang: "es-ES", want: "es", wantAmount: "€ 30,00"},
		// Mexico writes numbers as the US does; the region is kept.
		{lang: "es-MX", want: "es", wantAmount: "EUR 30.00"},
		{lang: "ES-mx", want: "es", wantAmount: "EUR 30.00"},
		{lang: "es-419", want: "es", wantAmount: "€ 30,00"},
		{lang: "en", want: "en", wantAmount: "€ 30.00"},
		{lang: "en-GB", want: "en", wantAmount: "€ 30.00"},
		{lang: "de", want: "en", wantAmount: "€ 30.00"},
		{lang: "", want: "en", wantAmount: "€ 30.00"},
		{lang: "not a tag", want: "en", wantAmount: "€ 30.00"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			c := valid(OfferPurchased)
			c.Language, c.Currency, c.Amount = tt.lang, "EUR", 3000
			out, err := r.Render(c)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if out.Language != tt.want || out.Amount != tt.wantAmount {
				t.Fatalf("Render(%q) = language %q amount %q, want %q %q", tt.lang, out.Language, out.Amount, tt.want, tt.wantAmount)
			}
			if !strings.Contains(out.Text, tt.wantAmount) || !strings.Contains(out.HTML, tt.wantAmount) {
				t.Fatalf("the amount %q is missing from the text or the HTML:\n%s\n%s", tt.wantAmount, out.Text, out.HTML)
			}
		})
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	r := newRenderer(t, "")
	c := valid(OfferPurchased)
	c.ProductName = `<script>alert("x")</script> & Co`
	c.Name = `<b>Ana</b>`
	c.Features = []string{`<img src=x onerror=alert(1)>`}
	out, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<b>Ana", "<img"} {
		if strings.Contains(out.HTML, bad) {
			t.Errorf("HTML contains %q unescaped:\n%s", bad, out.HTML)
		}
	}
	for _, good := range []string{"&lt;script&gt;", "&amp; Co", "&lt;b&gt;Ana&lt;/b&gt;", "&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(out.HTML, good) {
			t.Errorf("HTML lacks %q:\n%s", good, out.HTML)
		}
	}
	// Plain text and the subject are not HTML: they carry the name as is.
	if !strings.Contains(out.Text, c.ProductName) || !strings.Contains(out.Subject, c.ProductName) {
		t.Errorf("text or subject lost the product name: %q / %q", out.Subject, out.Text)
	}
}

func TestRenderFoldsSubject(t *testing.T) {
	r := newRenderer(t, "")
	c := valid(OfferPurchased)
	c.ProductName = "Pro\r\nBcc: victim@example.com"
	out, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.Subject, "\r\n") || out.Subject != "Your purchase: Pro Bcc: victim@example.com" {
		t.Fatalf("Subject = %q, want one line", out.Subject)
	}
}

func TestRenderProductIDWhenNoName(t *testing.T) {
	r := newRenderer(t, "")
	c := valid(AccessGranted)
	c.ProductName = ""
	out, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "Your access to pdt_pro is ready" {
		t.Fatalf("Subject = %q, want the product id in place of the name", out.Subject)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRenderOverride(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		// One part of one kind in English replaced.
		"offer_purchased.en.subject.txt": "Thanks for {{.ProductName}}, {{.Name}}!",
		// A language of its own for one kind, all three parts.
		"access_granted.de.subject.txt": "Zugang zu {{.ProductName}}",
		"access_granted.de.txt":         "Hallo {{.Name}}, du hast jetzt Zugang zu {{.ProductName}}.",
		"access_granted.de.html":        "<p>Hallo {{.Name}}, du hast jetzt Zugang zu <b>{{.ProductName}}</b>.</p>",
		// Not templates: ignored.
		"README.md": "my templates",
		".swp.txt":  "{{ broken",
	})
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRenderer(t, dir)
	def := newRenderer(t, "")

	c := valid(OfferPurchased)
	got, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := def.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Thanks for Pro, Ana!" {
		t.Errorf("overridden subject = %q, want %q", got.Subject, "Thanks for Pro, Ana!")
	}
	if got.Text != want.Text || got.HTML != want.HTML {
		t.Errorf("text and HTML should fall back to the embedded templates")
	}

	c.Language = "es"
	if got, _ := r.Render(c); got.Subject != "Tu compra: Pro" {
		t.Errorf("Spanish subject = %q, want the embedded one", got.Subject)
	}

	g := valid(AccessGranted)
	g.Language = "de-AT"
	got, err = r.Render(g)
	if err != nil {
		t.Fatal(err)
	}
	if got.Language != "de" || got.Subject != "Zugang zu Pro" || !strings.Contains(got.HTML, "<b>Pro</b>") {
		t.Errorf("German access_granted = %+v, want the override's German", got)
	}
	// German exists for access_granted only; other kinds stay English.
	rv := valid(AccessRevoked)
	rv.Language = "de"
	if got, _ := r.Render(rv); got.Language != "en" {
		t.Errorf("access_revoked in de rendered in %q, want en", got.Language)
	}
}

func TestRenderOverrideErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{name: "parse error", files: map[string]string{"offer_purchased.en.html": "<p>{{.ProductName</p>"},
			want: []string{"offer_purchased.en.html"}},
		{name: "unknown field", files: map[string]string{"plan_upgraded.es.txt": "Hola {{.Nombre}}"},
			want: []string{"plan_upgraded.es.txt", "Nombre"}},
		{name: "unknown field in an else branch", files: map[string]string{"charge_failed.en.subject.txt": "{{if .Amount}}x{{else}}{{.Missing}}{{end}}"},
			want: []string{"charge_failed.en.subject.txt", "Missing"}},
		{name: "unknown kind", files: map[string]string{"offer_bought.en.txt": "x"},
			want: []string{"offer_bought.en.txt", `unknown kind "offer_bought"`}},
		{name: "bad name", files: map[string]string{"offer_purchased.txt": "x"},
			want: []string{"offer_purchased.txt", "want <kind>.<lang>"}},
		{name: "bad language", files: map[string]string{"offer_purchased.xx-!!.txt": "x"},
			want: []string{"offer_purchased.xx-!!.txt", "language"}},
		{name: "incomplete language", files: map[string]string{"offer_purchased.fr.txt": "Bonjour", "offer_purchased.fr.html": "<p>Bonjour</p>"},
			want: []string{"offer_purchased.fr.subject.txt is missing"}},
		{name: "two spellings of one language", files: map[string]string{"offer_purchased.es-mx.txt": "a", "offer_purchased.es-MX.txt": "b"},
			want: []string{"same template as"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := NewRenderer(dir)
			if err == nil {
				t.Fatalf("NewRenderer = nil error, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewRenderer error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
	if _, err := NewRenderer(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewRenderer(missing dir) = nil error, want one")
	}
	file := filepath.Join(writeFiles(t, map[string]string{"f": ""}), "f")
	if _, err := NewRenderer(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("NewRenderer(file) = %v, want not a directory", err)
	}
}

// plan_changed (a change made outside offerflow) names both plans, what the
// new one includes and what it no longer does, in every language, and says
// nothing about an amount it does not know.
func TestRenderPlanChanged(t *testing.T) {
	r := newRenderer(t, "")
	tests := []struct {
		name, lang  string
		lost        []string
		want, avoid []string
	}{
		{name: "upgrade en", lang: "en", want: []string{"Basic", "Pro includes:", "sso"}, avoid: []string{"No longer included", "charged"}},
		{name: "downgrade en", lang: "en", lost: []string{"api"}, want: []string{"Basic", "No longer included:", "api"}, avoid: []string{"charged"}},
		{name: "downgrade es", lang: "es", lost: []string{"api"}, want: []string{"Basic", "Pro incluye:", "Ya no incluye:", "api"}, avoid: []string{"Cobramos"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(PlanChanged)
			c.Language, c.ProductName, c.FromProductName = tt.lang, "Pro", "Basic"
			c.Features, c.LostFeatures = []string{"reports", "sso"}, tt.lost
			out, err := r.Render(c)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			sentence := map[string]string{"en": "from Basic to Pro", "es": "de Basic a Pro"}[tt.lang]
			if !strings.Contains(out.Text, sentence) {
				t.Errorf("%q missing from:\n%s", sentence, out.Text)
			}
			for _, body := range []string{out.Text, out.HTML} {
				for _, w := range tt.want {
					if !strings.Contains(body, w) {
						t.Errorf("%q missing from:\n%s", w, body)
					}
				}
				for _, a := range tt.avoid {
					if strings.Contains(body, a) {
						t.Errorf("%q should not be in:\n%s", a, body)
					}
				}
			}
		})
	}
}
