package dodo

import (
	"github.com/offerflow/offerflow/internal/dodo/dodospec"

	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// specPath is Dodo's OpenAPI spec, v1.113.0 (the copy in internal/dodo/dodospec).
var specPath = dodospec.Path()

// openAPI is the part of the spec these tests read.
type openAPI struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]*jsonSchema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	RequestBody struct {
		Content map[string]struct {
			Schema *jsonSchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema *jsonSchema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// jsonSchema is a JSON Schema node, as far as checkValue needs it.
type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Type                 json.RawMessage        `json:"type"` // a string or a list
	Enum                 []any                  `json:"enum"`
	Properties           map[string]*jsonSchema `json:"properties"`
	Required             []string               `json:"required"`
	Items                *jsonSchema            `json:"items"`
	OneOf                []*jsonSchema          `json:"oneOf"`
	AnyOf                []*jsonSchema          `json:"anyOf"`
	AllOf                []*jsonSchema          `json:"allOf"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
}

// loadSpec reads the spec, failing the test with where CI keeps it.
func loadSpec(t testing.TB) (*openAPI, string) {
	t.Helper()
	abs, err := filepath.Abs(specPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		t.Fatalf("Dodo's OpenAPI spec is missing at %s (internal/dodo/dodospec): %v", abs, err)
	}
	var s openAPI
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode %s: %v", abs, err)
	}
	return &s, abs
}

// schema returns the named component schema.
func (s *openAPI) schema(t testing.TB, name string) *jsonSchema {
	t.Helper()
	sc, ok := s.Components.Schemas[name]
	if !ok {
		t.Fatalf("spec has no component schema %q", name)
	}
	return sc
}

// requestSchema returns the JSON request body schema of an operation.
func (s *openAPI) requestSchema(method, path string) *jsonSchema {
	op, ok := s.Paths[path][strings.ToLower(method)]
	if !ok {
		return nil
	}
	return op.RequestBody.Content["application/json"].Schema
}

// resolve follows $ref.
func (s *openAPI) resolve(sc *jsonSchema) *jsonSchema {
	for i := 0; sc != nil && sc.Ref != "" && i < 32; i++ {
		sc = s.Components.Schemas[strings.TrimPrefix(sc.Ref, "#/components/schemas/")]
	}
	return sc
}

// checkValue returns what in v the schema does not allow: a key the schema
// does not define (Steady accepts those where the spec is silent on
// additionalProperties, so a misspelt optional field would pass it), a
// missing required key, a value outside an enum, or the wrong JSON type. A
// oneOf or anyOf is satisfied by its best-matching variant. Formats,
// lengths and ranges are left to Steady.
func (s *openAPI) checkValue(sc *jsonSchema, v any, at string) []string {
	sc = s.resolve(sc)
	if sc == nil {
		return nil
	}
	if alts := append(slices.Clone(sc.OneOf), sc.AnyOf...); len(alts) > 0 {
		var best []string
		for i, alt := range alts {
			p := s.checkValue(alt, v, at)
			if i == 0 || len(p) < len(best) {
				best = p
			}
		}
		if len(best) > 0 {
			return best
		}
	}
	for _, part := range sc.AllOf {
		if p := s.checkScalarAndItems(part, v, at); len(p) > 0 {
			return p
		}
	}
	if p := s.checkScalarAndItems(sc, v, at); len(p) > 0 {
		return p
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	props, required, extra := s.objectShape(sc)
	if props == nil && extra == nil && len(required) == 0 {
		return nil // not an object schema (or free-form)
	}
	var problems []string
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			problems = append(problems, at+"."+k+": required by the spec, missing")
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch p, ok := props[k]; {
		case ok:
			problems = append(problems, s.checkValue(p, obj[k], at+"."+k)...)
		case extra != nil:
			problems = append(problems, s.checkValue(extra, obj[k], at+"."+k)...)
		default:
			problems = append(problems, at+"."+k+": not in the spec")
		}
	}
	return problems
}

// objectShape merges the properties and required keys of sc and its allOf
// parts; extra is the additionalProperties schema, if one is given.
func (s *openAPI) objectShape(sc *jsonSchema) (props map[string]*jsonSchema, required []string, extra *jsonSchema) {
	parts := append([]*jsonSchema{sc}, sc.AllOf...)
	for _, p := range parts {
		p = s.resolve(p)
		if p == nil {
			continue
		}
		for k, v := range p.Properties {
			if props == nil {
				props = map[string]*jsonSchema{}
			}
			props[k] = v
		}
		required = append(required, p.Required...)
		if len(p.AdditionalProperties) > 0 && !bytes.Equal(p.AdditionalProperties, []byte("false")) {
			var ap jsonSchema
			if json.Unmarshal(p.AdditionalProperties, &ap) == nil {
				extra = &ap
			} else {
				extra = &jsonSchema{} // true: anything
			}
		}
	}
	return props, required, extra
}

// checkScalarAndItems checks the JSON type, the enum, and array items.
func (s *openAPI) checkScalarAndItems(sc *jsonSchema, v any, at string) []string {
	sc = s.resolve(sc)
	if sc == nil {
		return nil
	}
	if types := schemaTypes(sc.Type); len(types) > 0 && !slices.Contains(types, jsonKind(v)) &&
		!(jsonKind(v) == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: a JSON %s, the spec wants %s", at, jsonKind(v), strings.Join(types, " or "))}
	}
	if len(sc.Enum) > 0 && v != nil && !slices.ContainsFunc(sc.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return []string{fmt.Sprintf("%s: %v is not in the spec's enum", at, v)}
	}
	if arr, ok := v.([]any); ok && sc.Items != nil {
		var problems []string
		for i, it := range arr {
			problems = append(problems, s.checkValue(sc.Items, it, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return problems
	}
	return nil
}

func schemaTypes(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestCheckValueCatchesWhatSteadyLetsThrough proves the spec checker that
// backs the contract tests: it must reject a misspelt optional field, which
// Steady accepts because the spec does not forbid additional properties.
func TestCheckValueCatchesWhatSteadyLetsThrough(t *testing.T) {
	spec, _ := loadSpec(t)
	sc := spec.requestSchema("POST", "/subscriptions/{subscription_id}/change-plan")
	tests := []struct {
		name string
		body string
		want string // a substring of the first problem; "" for none
	}{
		{name: "valid", body: `{"product_id":"p","quantity":1,"proration_billing_mode":"do_not_bill","effective_at":"immediately","on_payment_failure":"apply_change","discount_codes":null}`},
		{name: "misspelt optional field", body: `{"product_id":"p","quantity":1,"proration_billing_mode":"do_not_bill","on_payment_failur":"apply_change"}`, want: "on_payment_failur: not in the spec"},
		{name: "missing required field", body: `{"product_id":"p","proration_billing_mode":"do_not_bill"}`, want: "quantity: required"},
		{name: "enum", body: `{"product_id":"p","quantity":1,"proration_billing_mode":"sometimes"}`, want: "not in the spec's enum"},
		{name: "type", body: `{"product_id":"p","quantity":"1","proration_billing_mode":"do_not_bill"}`, want: "a JSON string, the spec wants integer"},
		{name: "metadata value of a kind the spec forbids", body: `{"product_id":"p","quantity":1,"proration_billing_mode":"do_not_bill","metadata":{"a":{"b":1}}}`, want: "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			got := spec.checkValue(sc, v, "body")
			switch {
			case tt.want == "" && len(got) > 0:
				t.Fatalf("checkValue: got %q, want no problems", got)
			case tt.want != "" && (len(got) == 0 || !strings.Contains(strings.Join(got, "; "), tt.want)):
				t.Fatalf("checkValue: got %q, want a problem containing %q", got, tt.want)
			}
		})
	}
}

// specProps returns the property names of the named schemas, through $ref,
// allOf, oneOf and anyOf (the union of the variants: several Go types
// flatten a union).
func (s *openAPI) specProps(names ...string) map[string]bool {
	props := map[string]bool{}
	var walk func(sc *jsonSchema, depth int)
	walk = func(sc *jsonSchema, depth int) {
		sc = s.resolve(sc)
		if sc == nil || depth > 8 {
			return
		}
		for k := range sc.Properties {
			props[k] = true
		}
		for _, group := range [][]*jsonSchema{sc.AllOf, sc.OneOf, sc.AnyOf} {
			for _, p := range group {
				walk(p, depth+1)
			}
		}
	}
	for _, n := range names {
		walk(s.Components.Schemas[n], 0)
	}
	return props
}

// TestFieldNamesAreTheSpecs checks every JSON tag of the client's request
// types against the spec's schemas: Steady accepts a misspelt optional
// field (the spec does not forbid additional properties), and Dodo may
// ignore it. The answers are wire types, which internal/dodo/wire's
// TestSchemasModelled checks field by field.
func TestFieldNamesAreTheSpecs(t *testing.T) {
	spec, _ := loadSpec(t)
	tests := []struct {
		v       any
		schemas []string
	}{
		{CheckoutRequest{}, []string{"CreateCheckoutSessionRequest"}},
		{CheckoutBillingAddress{}, []string{"CheckoutSessionBillingAddress"}},
		{ProductItem{}, []string{"ProductItemReq"}},
		{AddonRequest{}, []string{"AttachAddonReq"}},
		{CustomerRequest{}, []string{"CustomerRequest"}},
		{FeatureFlags{}, []string{"CheckoutSessionFlags"}},
		{ChangePlanRequest{}, []string{"UpdateSubscriptionPlanReq"}},
	}
	for _, tt := range tests {
		typ := reflect.TypeOf(tt.v)
		t.Run(typ.Name(), func(t *testing.T) {
			props := spec.specProps(tt.schemas...)
			if len(props) == 0 {
				t.Fatalf("spec schemas %v have no properties", tt.schemas)
			}
			for f := range typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" || name == "" {
					continue
				}
				if !props[name] {
					t.Errorf("%s.%s: json %q is not a property of %v", typ.Name(), f.Name, name, tt.schemas)
				}
			}
		})
	}
}
