package dodospec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The copy is Dodo's spec of the version it says, and, where the project's
// shared/ directory is beside the checkout (CI), the same bytes.
func TestCopy(t *testing.T) {
	b, err := os.ReadFile(Path())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Webhooks map[string]json.RawMessage `json:"webhooks"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Version != Version || len(doc.Webhooks) == 0 {
		t.Fatalf("openapi %s, version %s, %d webhooks: want 3.1.0, %s and the webhooks", doc.OpenAPI, doc.Info.Version, len(doc.Webhooks), Version)
	}
	shared := filepath.Join(filepath.Dir(Path()), "../../../../shared/dodo/openapi.json")
	orig, err := os.ReadFile(shared)
	if errors.Is(err, fs.ErrNotExist) {
		t.Logf("no %s to compare with", shared)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, b) {
		t.Fatalf("openapi.json differs from %s: copy it again (and update Version)", shared)
	}
}
