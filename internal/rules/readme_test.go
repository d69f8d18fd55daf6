package rules

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeExamplesLoad keeps the README honest: every YAML block in it
// that starts with "products:" is a rules file that must load.
func TestReadmeExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```yaml\n")[1:]
	found := 0
	for _, b := range blocks {
		body, _, ok := strings.Cut(b, "```")
		if !ok || !strings.HasPrefix(body, "products:") {
			continue
		}
		found++
		if _, err := Parse("README.md", []byte(body)); err != nil {
			t.Errorf("README example %d does not load: %v", found, err)
		}
	}
	if found == 0 {
		t.Fatal("no rules example found in README.md")
	}
}
