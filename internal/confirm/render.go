package confirm

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"golang.org/x/text/language"
)

// The default templates, English and Spanish for every kind. They are
// read-only, so an embed.FS is not mutable package state.
//
//go:embed templates
var defaultTemplates embed.FS

// The three parts of a confirmation's templates, by file-name suffix:
// <kind>.<lang>.subject.txt, <kind>.<lang>.txt and <kind>.<lang>.html.
const (
	partSubject = "subject.txt"
	partText    = "txt"
	partHTML    = "html"
)

// defaultLanguage is used when nothing better matches the customer's. Every
// kind has embedded English templates, so it is always available.
const defaultLanguage = "en"

// templateParts lists the parts in the order they are parsed.
func templateParts() [3]string { return [3]string{partSubject, partText, partHTML} }

// View is what a template sees. Merchants writing their own templates use
// these fields, for example {{.ProductName}} or {{if .Credit}}...{{end}}.
type View struct {
	ID   string
	Kind Kind
	// Name may be empty; the default templates then greet without it.
	Name  string
	Email string
	// Language is the language of the templates chosen ("en", "es").
	Language  string
	ProductID string
	// ProductName is the product's name, or its id when it has none.
	ProductName     string
	FromProductName string
	Currency        string
	// Amount and Credit are formatted in the currency and the customer's
	// language and region ("$ 50.00", "€ 30,00"); empty when zero.
	Amount, Credit                     string
	Features                           []string
	LostFeatures                       []string
	CheckoutURL                        string
	UpdatePaymentMethod                bool
	OfferID, PaymentID, SubscriptionID string
	At                                 time.Time
}

// Rendered is a confirmation rendered in one language.
type Rendered struct {
	// Subject is one line: any line breaks a template produced are folded.
	Subject string
	Text    string
	HTML    string
	// Language is the language of the templates used ("en", "es").
	Language string
	// Amount and Credit are View's formatted amounts, for the published
	// message.
	Amount, Credit string
}

// Renderer renders confirmations from the embedded templates and, where
// the merchant provides them, their own. It is safe for concurrent use.
type Renderer struct {
	kinds map[Kind]*kindTemplates
}

// kindTemplates are one kind's templates in every language that has them.
type kindTemplates struct {
	langs   []language.Tag // langs[0] is defaultLanguage
	sets    []templateSet  // parallel to langs
	matcher language.Matcher
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// source is one template file and where it came from, for errors.
type source struct {
	path string
	body string
}

// fileKey names a template file: kind, canonical language tag, part.
type fileKey struct {
	kind Kind
	lang string
	part string
}

// NewRenderer loads the embedded templates and, when overrideDir is not
// empty, the merchant's templates from that directory (not its
// subdirectories). A file there replaces the embedded file of the same
// name; a language of its own (say "de") must have all three files of a
// kind, so that an email is never half in one language and half in
// another. Files not ending in .txt or .html are ignored; one that does but
// is not named <kind>.<lang>.{subject.txt,txt,html} is an error, as is a
// template that does not parse or does not execute against a View, each
// naming the file.
func NewRenderer(overrideDir string) (*Renderer, error) {
	sub, err := fs.Sub(defaultTemplates, "templates")
	if err != nil {
		return nil, fmt.Errorf("embedded templates: %w", err)
	}
	files := make(map[fileKey]source)
	if err := loadTemplates(files, sub, "embedded:templates"); err != nil {
		return nil, err
	}
	if overrideDir != "" {
		if fi, err := os.Stat(overrideDir); err != nil {
			return nil, fmt.Errorf("template directory: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("template directory %s is not a directory", overrideDir)
		}
		if err := loadTemplates(files, os.DirFS(overrideDir), overrideDir); err != nil {
			return nil, err
		}
	}
	r := &Renderer{kinds: make(map[Kind]*kindTemplates)}
	for _, k := range Kinds() {
		kt, err := buildKind(k, files)
		if err != nil {
			return nil, err
		}
		r.kinds[k] = kt
	}
	return r, nil
}

// loadTemplates reads the template files at the top of fsys into files,
// replacing any of the same name. dir is how errors name fsys.
func loadTemplates(files map[fileKey]source, fsys fs.FS, dir string) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("template directory %s: %w", dir, err)
	}
	seen := make(map[fileKey]string)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || (!strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".html")) {
			continue
		}
		path := filepath.Join(dir, name)
		key, err := parseTemplateName(name)
		if err != nil {
			return fmt.Errorf("template %s: %w", path, err)
		}
		if other, ok := seen[key]; ok {
			return fmt.Errorf("template %s: same template as %s", path, other)
		}
		seen[key] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("template %s: %w", path, err)
		}
		files[key] = source{path: path, body: string(body)}
	}
	return nil
}

// parseTemplateName splits "<kind>.<lang>.<part>". The language is
// canonicalised ("es-mx" is "es-MX"), so two spellings of one tag are the
// same file.
func parseTemplateName(name string) (fileKey, error) {
	kind, rest, ok := strings.Cut(name, ".")
	if !ok {
		return fileKey{}, errors.New("want <kind>.<lang>.subject.txt, <kind>.<lang>.txt or <kind>.<lang>.html")
	}
	if !Kind(kind).Known() {
		return fileKey{}, fmt.Errorf("unknown kind %q (kinds: %v)", kind, Kinds())
	}
	var lang, part string
	for _, p := range templateParts() {
		if l, ok := strings.CutSuffix(rest, "."+p); ok {
			lang, part = l, p
			break
		}
	}
	if part == "" || lang == "" || strings.Contains(lang, ".") {
		return fileKey{}, errors.New("want <kind>.<lang>.subject.txt, <kind>.<lang>.txt or <kind>.<lang>.html")
	}
	tag, err := language.Parse(lang)
	if err != nil {
		return fileKey{}, fmt.Errorf("language %q: %w", lang, err)
	}
	return fileKey{kind: Kind(kind), lang: tag.String(), part: part}, nil
}

// buildKind parses kind k's templates in every language that has them.
func buildKind(k Kind, files map[fileKey]source) (*kindTemplates, error) {
	var langs []string
	for key := range files {
		if key.kind == k && !slices.Contains(langs, key.lang) {
			langs = append(langs, key.lang)
		}
	}
	// The default language first: the matcher falls back to its first tag.
	slices.SortFunc(langs, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == defaultLanguage:
			return -1
		case b == defaultLanguage:
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(langs) == 0 || langs[0] != defaultLanguage {
		return nil, fmt.Errorf("templates for %s: no %s templates", k, defaultLanguage)
	}
	kt := &kindTemplates{}
	for _, lang := range langs {
		set, err := parseSet(k, lang, files)
		if err != nil {
			return nil, err
		}
		kt.langs = append(kt.langs, language.MustParse(lang))
		kt.sets = append(kt.sets, set)
	}
	kt.matcher = language.NewMatcher(kt.langs)
	return kt, nil
}

// parseSet parses and test-executes one kind's three templates in lang.
func parseSet(k Kind, lang string, files map[fileKey]source) (templateSet, error) {
	src := func(part string) (source, error) {
		s, ok := files[fileKey{kind: k, lang: lang, part: part}]
		if !ok {
			return source{}, fmt.Errorf("templates for %s in %s: %s.%s.%s is missing (a language needs all three of subject.txt, txt and html)", k, lang, k, lang, part)
		}
		return s, nil
	}
	var set templateSet
	for _, part := range templateParts() {
		s, err := src(part)
		if err != nil {
			return templateSet{}, err
		}
		name := filepath.Base(s.path)
		switch part {
		case partSubject:
			set.subject, err = texttemplate.New(name).Parse(s.body)
		case partText:
			set.text, err = texttemplate.New(name).Parse(s.body)
		case partHTML:
			set.html, err = htmltemplate.New(name).Parse(s.body)
		}
		if err != nil {
			return templateSet{}, fmt.Errorf("template %s: %w", s.path, err)
		}
	}
	// Execute once with every field set and once with none, so that a
	// template naming a field View lacks fails now, at start, instead of
	// dead-lettering every confirmation of its kind.
	for _, v := range []View{sampleView(k, lang), {Kind: k, Language: lang}} {
		if err := set.execute(v, &Rendered{}); err != nil {
			return templateSet{}, err
		}
	}
	return set, nil
}

func sampleView(k Kind, lang string) View {
	return View{
		ID: "sample", Kind: k, Name: "Ana", Email: "ana@example.com", Language: lang,
		ProductID: "pdt_1", ProductName: "Pro", FromProductName: "Basic", Currency: "USD",
		Amount: "$ 1.00", Credit: "$ 1.00", Features: []string{"feature"},
		CheckoutURL: "https://example.com/checkout", UpdatePaymentMethod: true,
		OfferID: "ofr_1", PaymentID: "pay_1", SubscriptionID: "sub_1", At: time.Unix(0, 0).UTC(),
	}
}

// execute renders v into out's Subject, Text and HTML. Errors name the
// template file (the template's name).
func (s templateSet) execute(v View, out *Rendered) error {
	var b bytes.Buffer
	run := func(name string, exec func(io.Writer) error) (string, error) {
		b.Reset()
		if err := exec(&b); err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
		return b.String(), nil
	}
	subject, err := run(s.subject.Name(), func(w io.Writer) error { return s.subject.Execute(w, v) })
	if err != nil {
		return err
	}
	// A subject is one header line, whatever the template's line breaks.
	out.Subject = strings.Join(strings.Fields(subject), " ")
	if out.Text, err = run(s.text.Name(), func(w io.Writer) error { return s.text.Execute(w, v) }); err != nil {
		return err
	}
	if out.HTML, err = run(s.html.Name(), func(w io.Writer) error { return s.html.Execute(w, v) }); err != nil {
		return err
	}
	return nil
}

// Render renders c in the available language closest to c.Language
// (golang.org/x/text/language matching: "es-MX" gets Spanish, "de" or an
// unparsable tag English). Amounts are formatted for the customer's own
// language and region where the templates' language is theirs ("es-MX"
// formats as Mexico does), and for the templates' language otherwise.
func (r *Renderer) Render(c Confirmation) (Rendered, error) {
	kt, ok := r.kinds[c.Kind]
	if !ok {
		return Rendered{}, fmt.Errorf("render: unknown kind %q", c.Kind)
	}
	want, err := language.Parse(c.Language)
	if err != nil {
		want = language.Make(defaultLanguage)
	}
	// The matched tag keeps the customer's region as a -u-rg- extension,
	// which the number and currency formats follow.
	tag, i, _ := kt.matcher.Match(want)
	out := Rendered{Language: kt.langs[i].String()}
	if c.Amount != 0 {
		if out.Amount, err = formatMoney(tag, c.Amount, c.Currency); err != nil {
			return Rendered{}, fmt.Errorf("render: %w", err)
		}
	}
	if c.Credit != 0 {
		if out.Credit, err = formatMoney(tag, c.Credit, c.Currency); err != nil {
			return Rendered{}, fmt.Errorf("render: %w", err)
		}
	}
	product := c.ProductName
	if product == "" {
		product = c.ProductID
	}
	v := View{
		ID: c.ID, Kind: c.Kind, Name: c.Name, Email: c.Email, Language: out.Language,
		ProductID: c.ProductID, ProductName: product, FromProductName: c.FromProductName,
		Currency: strings.ToUpper(c.Currency), Amount: out.Amount, Credit: out.Credit,
		Features: c.Features, LostFeatures: c.LostFeatures, CheckoutURL: c.CheckoutURL, UpdatePaymentMethod: c.UpdatePaymentMethod,
		OfferID: c.OfferID, PaymentID: c.PaymentID, SubscriptionID: c.SubscriptionID, At: c.At,
	}
	if err := kt.sets[i].execute(v, &out); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", c.ID, err)
	}
	return out, nil
}
