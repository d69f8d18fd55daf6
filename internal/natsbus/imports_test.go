package natsbus_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyNatsbusImportsNATS: natsbus is the one adapter for NATS. Outside
// it (and its naive reference) only the embedded server (natsserver) and
// tests import nats.go or the server, so the rest of offerflow speaks in
// events.Message and natsbus's own types.
func TestOnlyNatsbusImportsNATS(t *testing.T) {
	root := filepath.Join("..", "..")
	allowed := []string{filepath.Join("internal", "natsbus"), filepath.Join("internal", "natsserver")}
	fset := token.NewFileSet()
	files, importers := 0, 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".tools", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, "github.com/nats-io/") {
				continue
			}
			importers++
			ok := false
			for _, a := range allowed {
				ok = ok || strings.HasPrefix(rel, a+string(filepath.Separator))
			}
			if !ok {
				t.Errorf("%s imports %s: only internal/natsbus and internal/natsserver may", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 || importers == 0 {
		t.Fatalf("read %d Go files under %s (%d NATS imports), want the whole module", files, root, importers)
	}
}

// TestEventsHasNoNATS: downstream consumers import events for the payload
// types; it must not pull in NATS, even through another package.
func TestEventsHasNoNATS(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/offerflow/offerflow/internal/events").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/nats-io/") || strings.HasSuffix(d, "/internal/natsbus") {
			t.Errorf("internal/events depends on %s", d)
		}
	}
}
