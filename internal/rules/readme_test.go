package rules

import (
	"os"
	"strings"
	"testing"
)

// TestOffersDocExamplesLoad keeps docs/offers.md honest: every YAML block
// in it that starts with "products:" is a rules file that must load.
func TestOffersDocExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../../docs/offers.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")[1:]
	found := 0
	for _, b := range blocks {
		body, _, ok := strings.Cut(b, "```")
		if !ok || !strings.HasPrefix(body, "products:") {
			continue
		}
		found++
		if _, err := Parse("docs/offers.md", []byte(body)); err != nil {
			t.Errorf("docs/offers.md example %d does not load: %v", found, err)
		}
	}
	if found == 0 {
		t.Fatal("no rules example found in docs/offers.md")
	}
}
