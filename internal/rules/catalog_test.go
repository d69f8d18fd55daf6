package rules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const goodFile = `# the demo catalog
products:
  - id: pdt_basic
    name: Basic
    tier: 1
    features: [reports, export]
  - id: pdt_pro
    name: Pro
    tier: 2
    features: [reports, export, api, sso]
`

func TestParse(t *testing.T) {
	c, err := Parse("rules.yaml", []byte(goodFile))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Features("pdt_pro"), []string{"reports", "export", "api", "sso"}; !slices.Equal(got, want) {
		t.Fatalf("Features(pdt_pro) = %v, want %v", got, want)
	}
	if got := c.Features("pdt_unknown"); got != nil {
		t.Fatalf("Features(unknown) = %v, want nil", got)
	}
	p, ok := c.Product("pdt_basic")
	if !ok || p.Name != "Basic" || p.Tier != 1 {
		t.Fatalf("Product(pdt_basic) = %+v, %v", p, ok)
	}
	var ids []string
	for _, p := range c.Products() {
		ids = append(ids, p.ID)
	}
	if want := []string{"pdt_basic", "pdt_pro"}; !slices.Equal(ids, want) {
		t.Fatalf("Products() order = %v, want %v", ids, want)
	}
	var nilCat *Catalog
	if nilCat.Features("x") != nil || nilCat.Products() != nil {
		t.Fatal("a nil catalog must answer empty")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error, including file:line
	}{
		{name: "syntax error", in: "products:\n  - id: [unclosed\n", want: "rules.yaml:"},
		{name: "root not a mapping", in: "- a\n- b\n", want: "rules.yaml:1: the file must be a mapping"},
		{name: "unknown top key", in: "prodcts: []\n", want: `rules.yaml:1: unknown key "prodcts"`},
		{name: "products not a list", in: "products: 3\n", want: "rules.yaml:1: products must be a list"},
		{name: "product not a mapping", in: "products:\n  - pdt_x\n", want: "rules.yaml:2: a product must be a mapping"},
		{name: "missing id", in: "products:\n  - name: X\n", want: "rules.yaml:2: product id is required"},
		{name: "unknown product key", in: "products:\n  - id: a\n    featurs: [x]\n", want: `rules.yaml:3: unknown product key "featurs"`},
		{name: "tier wrong type", in: "products:\n  - id: a\n    tier: two\n", want: "cannot unmarshal"},
		{name: "negative tier", in: "products:\n  - id: a\n    tier: -1\n", want: "tier must be >= 0"},
		{name: "bad feature name", in: "products:\n  - id: a\n    features: [\"Has Space\"]\n", want: `feature "Has Space" must match`},
		{name: "duplicate feature", in: "products:\n  - id: a\n    features: [x, x]\n", want: `feature "x" is listed twice`},
		{name: "duplicate product", in: "products:\n  - id: a\n  - id: a\n", want: `rules.yaml:3: product "a" is listed twice`},
		{name: "alias", in: "products:\n  - &p {id: a}\n  - *p\n", want: "aliases are not allowed"},
		{name: "id too long", in: "products:\n  - id: " + strings.Repeat("x", 129) + "\n", want: "longer than 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rules.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "products: []\n"} {
		c, err := Parse("rules.yaml", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if len(c.Products()) != 0 {
			t.Fatalf("Parse(%q) products = %v, want none", in, c.Products())
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(goodFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Load(missing) error = %v, want one naming the file", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(big) error = %v, want a size error", err)
	}
}

// FuzzParse: the loader never panics, and whatever it accepts is
// consistent (ids unique and non-empty, features valid).
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodFile))
	f.Add([]byte("products:\n  - id: a\n    tier: 1\n"))
	f.Add([]byte("products:\n  - &p {id: a}\n  - *p\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("products: {a: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range c.Products() {
			if strings.TrimSpace(p.ID) == "" || seen[p.ID] {
				t.Fatalf("accepted an empty or duplicate id %q", p.ID)
			}
			seen[p.ID] = true
			for _, ft := range p.Features {
				if !featureName.MatchString(ft) {
					t.Fatalf("accepted feature %q", ft)
				}
			}
		}
	})
}
