// Package contract is offerflow's published contract with downstream
// services, as files: the AsyncAPI 3.0 document (asyncapi.yaml) naming
// every subject offerflow publishes or consumes, with its headers and
// payload, and the JSON Schemas (schemas/*.json, draft 2020-12) it points
// to. The files are the contract; this package embeds them and checks
// messages against them, so that the tests hold the code to what the
// document promises (docs/contract.md says how the contract may change).
//
// Load reads the document and compiles its schemas; Contract.Validate
// checks one message: its subject must be the address of exactly one
// channel, its headers must match the channel's header schema, and its
// payload the payload schema (a channel whose content type is not JSON,
// dead letters for instance, carries bytes that have no schema).
//
// The package reads only what it embeds and imports no package of
// offerflow's: the contract does not depend on the code it describes.
package contract

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

//go:embed asyncapi.yaml schemas/*.json
var files embed.FS

// DocumentPath is the AsyncAPI document's path in Files.
const DocumentPath = "asyncapi.yaml"

// SchemaDir is the directory of the schema files in Files.
const SchemaDir = "schemas"

// SchemaBaseURL is the base of every schema file's $id: the file
// schemas/x.v1.json has the $id SchemaBaseURL + "x.v1.json". The $ids are
// names, not addresses anything is fetched from.
const SchemaBaseURL = "https://github.com/offerflow/offerflow/contract/schemas/"

// JSON is the content type of a message whose payload has a schema.
const JSON = "application/json"

// Files returns the embedded document and schema files.
func Files() fs.FS { return files }

// ErrNoChannel means no channel of the document has the subject.
var ErrNoChannel = errors.New("no channel of the contract has this subject")

// Channel is one channel of the document with its one message.
type Channel struct {
	// ID is the channel's key in the document, e.g. "accessGranted".
	ID string
	// Address is the subject with its parameters, e.g.
	// "offerflow.access.granted.{customer}".
	Address string
	// Stream is the JetStream stream that stores it (x-nats-stream).
	Stream string
	// Message is the component name of the channel's message.
	Message string
	// ContentType is the message's content type; only JSON payloads have
	// a schema.
	ContentType string
	// Headers and Payload are the schema references of the message, as
	// the document writes them ("./schemas/x.v1.json#/$defs/y"); Payload
	// is "" for a payload without a schema.
	Headers, Payload string
	// Examples are the message's examples.
	Examples []Example

	tokens   []token
	literals int
	headers  *jsonschema.Schema
	payload  *jsonschema.Schema
}

// Example is one example of a message, as the document gives it.
type Example struct {
	Name    string
	Headers map[string]string
	// Payload is the example payload as JSON.
	Payload []byte
}

// token is one element of an address: a literal subject token, or a
// parameter standing for one token (or one or more, the last).
type token struct {
	literal string
	param   string
	many    bool
}

// Contract is the loaded document: its channels, with compiled schemas.
type Contract struct {
	// Channels are the document's channels in the order of its keys.
	Channels []*Channel
	// Schemas are the schema files' names, e.g. "offer.v1.json".
	Schemas []string
	// Refs counts the document's references to each schema file.
	Refs map[string]int
}

// document is the part of the AsyncAPI document Load reads. Load refuses
// a document whose channels and messages are not written the one way this
// package reads them: a reference it skipped would be a channel checked
// against nothing.
type document struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address    string               `yaml:"address"`
		Stream     string               `yaml:"x-nats-stream"`
		Parameters map[string]reference `yaml:"parameters"`
		Messages   map[string]reference `yaml:"messages"`
	} `yaml:"channels"`
	Components struct {
		Parameters map[string]struct {
			Tokens string `yaml:"x-subject-tokens"`
		} `yaml:"parameters"`
		Messages map[string]struct {
			ContentType string    `yaml:"contentType"`
			Headers     reference `yaml:"headers"`
			Payload     reference `yaml:"payload"`
			Examples    []struct {
				Name    string            `yaml:"name"`
				Headers map[string]string `yaml:"headers"`
				Payload any               `yaml:"payload"`
			} `yaml:"examples"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

type reference struct {
	Ref string `yaml:"$ref"`
}

// Load reads the embedded document and compiles every schema it points to.
func Load() (*Contract, error) {
	return load(files)
}

func load(fsys fs.FS) (*Contract, error) {
	data, err := fs.ReadFile(fsys, DocumentPath)
	if err != nil {
		return nil, err
	}
	var doc document
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", DocumentPath, err)
	}
	if !strings.HasPrefix(doc.AsyncAPI, "3.") {
		return nil, fmt.Errorf("%s: asyncapi %q, want 3.x", DocumentPath, doc.AsyncAPI)
	}
	comp, schemas, err := compiler(fsys)
	if err != nil {
		return nil, err
	}
	c := &Contract{Schemas: schemas, Refs: map[string]int{}}
	ids := make([]string, 0, len(doc.Channels))
	for id := range doc.Channels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var errs []error
	for _, id := range ids {
		ch, err := c.channel(&doc, id, comp)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", id, err))
			continue
		}
		c.Channels = append(c.Channels, ch)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", DocumentPath, err)
	}
	return c, nil
}

// compiler returns a schema compiler holding every schema file under its
// $id, and the files' names. It loads nothing else: a reference to a
// schema that is not among the files fails to compile.
func compiler(fsys fs.FS) (*jsonschema.Compiler, []string, error) {
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	comp.UseLoader(noLoader{})
	entries, err := fs.ReadDir(fsys, SchemaDir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(SchemaDir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		obj, _ := doc.(map[string]any)
		if id, _ := obj["$id"].(string); id != SchemaBaseURL+e.Name() {
			return nil, nil, fmt.Errorf("%s: $id %q, want %q", e.Name(), id, SchemaBaseURL+e.Name())
		}
		if s, _ := obj["$schema"].(string); s != "https://json-schema.org/draft/2020-12/schema" {
			return nil, nil, fmt.Errorf("%s: $schema %q, want draft 2020-12", e.Name(), s)
		}
		if err := comp.AddResource(SchemaBaseURL+e.Name(), doc); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		names = append(names, e.Name())
	}
	return comp, names, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is not one of the contract's schema files", url)
}

// channel reads channel id of doc and compiles its message's schemas.
func (c *Contract) channel(doc *document, id string, comp *jsonschema.Compiler) (*Channel, error) {
	dc := doc.Channels[id]
	ch := &Channel{ID: id, Address: dc.Address, Stream: dc.Stream}
	if ch.Stream == "" {
		return nil, errors.New("no x-nats-stream")
	}
	if len(dc.Messages) != 1 {
		return nil, fmt.Errorf("%d messages, want 1 (the subject alone must say which message it is)", len(dc.Messages))
	}
	for _, ref := range dc.Messages {
		name, ok := strings.CutPrefix(ref.Ref, "#/components/messages/")
		if !ok {
			return nil, fmt.Errorf("message %q: want a $ref to #/components/messages/", ref.Ref)
		}
		ch.Message = name
	}
	var err error
	if ch.tokens, err = parseAddress(dc.Address, func(name string) (bool, error) {
		ref, ok := dc.Parameters[name]
		if !ok {
			return false, fmt.Errorf("parameter {%s} is not declared", name)
		}
		pname, ok := strings.CutPrefix(ref.Ref, "#/components/parameters/")
		p, found := doc.Components.Parameters[pname]
		if !ok || !found {
			return false, fmt.Errorf("parameter %s: want a $ref to one of #/components/parameters/", name)
		}
		switch p.Tokens {
		case "":
			return false, nil
		case "one-or-more":
			return true, nil
		}
		return false, fmt.Errorf("parameter %s: x-subject-tokens %q, want one-or-more or none", name, p.Tokens)
	}); err != nil {
		return nil, err
	}
	if len(dc.Parameters) != strings.Count(dc.Address, "{") {
		return nil, errors.New("declares parameters its address does not use")
	}
	for _, t := range ch.tokens {
		if t.param == "" {
			ch.literals++
		}
	}
	m, ok := doc.Components.Messages[ch.Message]
	if !ok {
		return nil, fmt.Errorf("message %s is not in components.messages", ch.Message)
	}
	ch.ContentType, ch.Headers, ch.Payload = m.ContentType, m.Headers.Ref, m.Payload.Ref
	if ch.ContentType == "" {
		return nil, fmt.Errorf("message %s: no contentType", ch.Message)
	}
	if ch.Headers == "" {
		return nil, fmt.Errorf("message %s: no headers: every message carries at least Nats-Msg-Id", ch.Message)
	}
	if ch.headers, err = c.compile(comp, ch.Headers); err != nil {
		return nil, fmt.Errorf("message %s headers: %w", ch.Message, err)
	}
	switch {
	case ch.ContentType == JSON && ch.Payload == "":
		return nil, fmt.Errorf("message %s: a JSON payload without a schema", ch.Message)
	case ch.ContentType != JSON && ch.Payload != "":
		return nil, fmt.Errorf("message %s: a schema for a %s payload", ch.Message, ch.ContentType)
	case ch.Payload != "":
		if ch.payload, err = c.compile(comp, ch.Payload); err != nil {
			return nil, fmt.Errorf("message %s payload: %w", ch.Message, err)
		}
	}
	for _, ex := range m.Examples {
		payload, err := json.Marshal(ex.Payload)
		if err != nil {
			return nil, fmt.Errorf("message %s example %s: %w", ch.Message, ex.Name, err)
		}
		ch.Examples = append(ch.Examples, Example{Name: ex.Name, Headers: ex.Headers, Payload: payload})
	}
	return ch, nil
}

// compile compiles the schema ref points to: a file of SchemaDir, with or
// without a fragment, written relative to the document.
func (c *Contract) compile(comp *jsonschema.Compiler, ref string) (*jsonschema.Schema, error) {
	file, frag, _ := strings.Cut(ref, "#")
	name, ok := strings.CutPrefix(file, "./"+SchemaDir+"/")
	if !ok || strings.Contains(name, "/") {
		return nil, fmt.Errorf("$ref %q: want ./%s/<file>[#<pointer>]", ref, SchemaDir)
	}
	c.Refs[name]++
	loc := SchemaBaseURL + name
	if frag != "" {
		loc += "#" + frag
	}
	return comp.Compile(loc)
}

// parseAddress splits a channel address into tokens. many reports whether
// a parameter stands for one or more tokens; only the last may.
func parseAddress(address string, many func(param string) (bool, error)) ([]token, error) {
	if address == "" {
		return nil, errors.New("no address")
	}
	parts := strings.Split(address, ".")
	out := make([]token, 0, len(parts))
	for i, p := range parts {
		name, isParam := strings.CutPrefix(p, "{")
		if !isParam {
			if p == "" || strings.ContainsAny(p, "{}*> \t") {
				return nil, fmt.Errorf("address %q: token %q is not a literal subject token", address, p)
			}
			out = append(out, token{literal: p})
			continue
		}
		name, ok := strings.CutSuffix(name, "}")
		if !ok || name == "" || strings.ContainsAny(name, "{}") {
			return nil, fmt.Errorf("address %q: token %q: a parameter is a whole token, {name}", address, p)
		}
		m, err := many(name)
		if err != nil {
			return nil, err
		}
		if m && i != len(parts)-1 {
			return nil, fmt.Errorf("address %q: parameter {%s} of one or more tokens must be last", address, name)
		}
		out = append(out, token{param: name, many: m})
	}
	return out, nil
}

// matches reports whether subject is an address of ch.
func (ch *Channel) matches(subject string) bool {
	parts := strings.Split(subject, ".")
	for i, t := range ch.tokens {
		if i >= len(parts) || parts[i] == "" {
			return false
		}
		switch {
		case t.many:
			for _, p := range parts[i:] {
				if p == "" {
					return false
				}
			}
			return true
		case t.param != "":
		case t.literal != parts[i]:
			return false
		}
	}
	return len(parts) == len(ch.tokens)
}

// Channel returns the channel whose address subject is. Where addresses
// overlap (offerflow.deadletter.{event_type} and
// offerflow.deadletter.offerflow.signals.{customer}), the one with more
// literal tokens is the subject's; two equally literal ones are an error.
func (c *Contract) Channel(subject string) (*Channel, error) {
	var best []*Channel
	for _, ch := range c.Channels {
		if !ch.matches(subject) {
			continue
		}
		switch {
		case len(best) == 0 || ch.literals > best[0].literals:
			best = []*Channel{ch}
		case ch.literals == best[0].literals:
			best = append(best, ch)
		}
	}
	switch len(best) {
	case 0:
		return nil, fmt.Errorf("%s: %w", subject, ErrNoChannel)
	case 1:
		return best[0], nil
	}
	ids := make([]string, len(best))
	for i, ch := range best {
		ids[i] = ch.ID
	}
	return nil, fmt.Errorf("%s: the address of channels %s alike", subject, strings.Join(ids, ", "))
}

// Validate checks one message against the contract: its subject is one
// channel's, its headers (names as stored, each with one value) match the
// channel's header schema, and a JSON payload matches its payload schema.
// The error names the channel and every violation.
func (c *Contract) Validate(subject string, header map[string][]string, data []byte) error {
	ch, err := c.Channel(subject)
	if err != nil {
		return err
	}
	return ch.Validate(header, data)
}

// Validate checks a message of ch's: see Contract.Validate.
func (ch *Channel) Validate(header map[string][]string, data []byte) error {
	var errs []error
	h := make(map[string]any, len(header))
	for k, v := range header {
		switch len(v) {
		case 1:
			h[k] = v[0]
		default:
			// Zero or several values: offerflow sends one. As a list,
			// the string the schema wants fails to match.
			vs := make([]any, len(v))
			for i, s := range v {
				vs[i] = s
			}
			h[k] = vs
		}
	}
	if err := ch.headers.Validate(h); err != nil {
		errs = append(errs, fmt.Errorf("headers: %w", err))
	}
	if ch.payload != nil {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("payload is not JSON: %w", err))
		default:
			if err := ch.payload.Validate(inst); err != nil {
				errs = append(errs, fmt.Errorf("payload: %w", err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("channel %s (%s), message %s: %w", ch.ID, ch.Address, ch.Message, err)
	}
	return nil
}
