package service

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/offerflow/offerflow/internal/conf"
)

// TestReadmeListsEverySetting keeps the README's settings table and the
// services' settings in step: every environment variable a service reads
// is in the table, and every variable in the table is read by a service.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	row := regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)`(?:, `([A-Z][A-Z0-9_]+)`)? \\|")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		for _, v := range m[1:] {
			if v != "" {
				documented = append(documented, v)
			}
		}
	}

	var usage bytes.Buffer
	empty := func(string) string { return "" }
	var ic IngestConfig
	var wc WorkerConfig
	si, sw := conf.New("ingest", empty, &usage), conf.New("worker", empty, &usage)
	ic.Declare(si)
	wc.Declare(sw)
	si.FlagSet().PrintDefaults()
	sw.FlagSet().PrintDefaults()
	var declared []string
	for _, m := range regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]+)\)`).FindAllStringSubmatch(usage.String(), -1) {
		if !slices.Contains(declared, m[1]) {
			declared = append(declared, m[1])
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d declared variables; the usage format changed?\n%s", len(declared), usage.String())
	}
	for _, v := range declared {
		if !slices.Contains(documented, v) {
			t.Errorf("%s is read by a service but missing from the README's settings table", v)
		}
	}
	for _, v := range documented {
		if !slices.Contains(declared, v) {
			t.Errorf("%s is in the README's settings table but no service reads it", v)
		}
	}
}

// TestReadmeLinksEveryDoc: a newcomer finds every document from the
// README, and no link in its documentation list points at a file that is
// gone.
func TestReadmeLinksEveryDoc(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md found: %v", err)
	}
	for _, d := range docs {
		link := "(docs/" + filepath.Base(d)
		if !bytes.Contains(readme, []byte(link+")")) && !bytes.Contains(readme, []byte(link+"#")) {
			t.Errorf("README.md does not link docs/%s", filepath.Base(d))
		}
	}
	for _, m := range regexp.MustCompile(`\]\(((?:docs|contract)/[^)#]+)`).FindAllSubmatch(readme, -1) {
		if _, err := os.Stat(filepath.Join("../..", string(m[1]))); err != nil {
			t.Errorf("README.md links %s: %v", m[1], err)
		}
	}
}
