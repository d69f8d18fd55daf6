package contract_test

import (
	"encoding/json"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/offerflow/offerflow/contract"
	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offers"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/worker"
)

// codeSubjects are subjects the code makes, each through the function or
// constant the code publishes with, for a customer id that is its own
// token and one that is not.
func codeSubjects() []string {
	var out []string
	for _, cus := range []string{"cus_8VbC6JDZzPEqfBPUdpj0K", "cus 1/ä"} {
		out = append(out,
			worker.AccessSubject(access.ChangeGranted, cus),
			worker.AccessSubject(access.ChangeRevoked, cus),
			confirm.Subject(cus),
			service.SignalSubject(cus),
			natsbus.DeadLetterSubject(service.SignalSubject(cus)),
		)
		for _, ev := range offers.Events() {
			out = append(out, offers.Subject(ev, natsbus.Token(cus)))
		}
	}
	for _, typ := range events.KnownTypes() {
		out = append(out, events.Subject(typ), natsbus.DeadLetterSubject(events.Subject(typ)))
	}
	for _, s := range []string{events.SubjectInvalidJSON, events.SubjectInvalidType} {
		out = append(out, s, natsbus.DeadLetterSubject(s))
	}
	return out
}

// Every subject the code publishes on is the address of one channel, and
// every channel is the address of a subject the code publishes on.
func TestCodeSubjectsHaveChannels(t *testing.T) {
	c := load(t)
	used := map[string]bool{}
	for _, s := range codeSubjects() {
		ch, err := c.Channel(s)
		if err != nil {
			t.Errorf("the code publishes on %s: %v", s, err)
			continue
		}
		used[ch.ID] = true
	}
	for _, ch := range c.Channels {
		if !used[ch.ID] {
			t.Errorf("channel %s (%s): the code makes no subject of it", ch.ID, ch.Address)
		}
	}
}

// eventsConstants type-checks internal/events and returns its package-level
// string constants: name to value.
func eventsConstants(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "internal", "events")
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only the constants' values matter, and they need no import: the
	// errors of what cannot be imported from export data (the module's own
	// packages) are ignored, which leaves the rest type-checked, constants
	// included. Type-checking every import from source instead takes half
	// a minute under -race.
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", nil), Error: func(error) {}}
	pkg, _ := conf.Check("github.com/offerflow/offerflow/internal/events", fset, files, nil)
	out := map[string]string{}
	for _, name := range pkg.Scope().Names() {
		if k, ok := pkg.Scope().Lookup(name).(*types.Const); ok && k.Val().Kind() == constant.String {
			out[name] = constant.StringVal(k.Val())
		}
	}
	return out
}

// Every subject, prefix and wildcard internal/events defines (the
// contract's one home in the code) is covered by the document, and every
// channel's address starts with one of them; every header name it defines
// is in the header schemas, and every header the schemas name is one of
// them or JetStream's Nats-Msg-Id.
func TestEventsNamesInDocument(t *testing.T) {
	c := load(t)
	consts := eventsConstants(t)
	var prefixes []string
	for name, v := range consts {
		if !strings.HasPrefix(v, events.OutPrefix) && !strings.HasPrefix(v, events.SubjectPrefix) {
			continue
		}
		switch {
		case strings.HasSuffix(v, ">"):
			// A stream's subjects: some channel lives under it.
			base := strings.TrimSuffix(v, ">")
			if !slices.ContainsFunc(c.Channels, func(ch *contract.Channel) bool { return strings.HasPrefix(ch.Address, base) }) {
				t.Errorf("events.%s = %q: no channel under it", name, v)
			}
		case strings.HasSuffix(v, "."):
			prefixes = append(prefixes, v)
			if !slices.ContainsFunc(c.Channels, func(ch *contract.Channel) bool { return strings.HasPrefix(ch.Address, v) }) {
				t.Errorf("events.%s = %q: no channel's address starts with it", name, v)
			}
		default:
			if _, err := c.Channel(v); err != nil {
				t.Errorf("events.%s: %v", name, err)
			}
		}
	}
	if len(prefixes) < 5 {
		t.Fatalf("found %d subject prefixes in internal/events, want the access, offers, confirmations, signals and dead-letter ones at least: %v", len(prefixes), prefixes)
	}
	// The most specific prefix of each channel is a subject prefix of
	// events beyond the streams' own (offerflow., dodo.events.).
	for _, ch := range c.Channels {
		ok := slices.ContainsFunc(prefixes, func(p string) bool {
			return p != events.OutPrefix && strings.HasPrefix(ch.Address, p)
		})
		if !ok {
			t.Errorf("channel %s (%s): its address starts with no subject prefix of internal/events", ch.ID, ch.Address)
		}
	}

	inSchemas := headerNames(t)
	inCode := map[string]bool{"Nats-Msg-Id": true}
	for name, v := range consts {
		if !strings.HasPrefix(name, "Header") || strings.HasSuffix(v, "-") {
			continue // not a header, or a prefix of several
		}
		inCode[v] = true
		if !inSchemas[v] {
			t.Errorf("events.%s = %q: no header schema names it", name, v)
		}
	}
	for h := range inSchemas {
		if !inCode[h] {
			t.Errorf("schemas/headers.v1.json names header %q, which internal/events does not define", h)
		}
	}
}

// headerNames returns every property name of the header schemas.
func headerNames(t *testing.T) map[string]bool {
	t.Helper()
	data, err := fs.ReadFile(contract.Files(), "schemas/headers.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range doc.Defs {
		for p := range d.Properties {
			out[p] = true
		}
	}
	return out
}
