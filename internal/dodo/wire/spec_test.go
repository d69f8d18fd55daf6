package wire

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/dodospec"
)

// spec is the part of Dodo's OpenAPI spec (v1.113.0, the copy in
// internal/dodo/dodospec) these tests read.
type spec struct {
	Paths    map[string]map[string]operation `json:"paths"`
	Webhooks map[string]struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
					Schema  *schema         `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"post"`
	} `json:"webhooks"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// schema is a JSON Schema node of the spec, as far as the tests need it.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 json.RawMessage    `json:"type"` // a string or a list of strings
	Format               string             `json:"format"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	Items                *schema            `json:"items"`
	OneOf                []*schema          `json:"oneOf"`
	AllOf                []*schema          `json:"allOf"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
}

// loadSpec reads the spec and fails the test if it cannot.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	b, err := os.ReadFile(dodospec.Path())
	if err != nil {
		t.Fatalf("Dodo's OpenAPI spec is missing at %s (internal/dodo/dodospec): %v", dodospec.Path(), err)
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("read spec %s: %v", dodospec.Path(), err)
	}
	return &s
}

// refName returns the schema name of a "#/components/schemas/X" reference.
func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

// webhookData maps the data schemas of the spec's webhooks to the types
// that model them. It is written from the spec.
var webhookData = map[string]reflect.Type{
	"PaymentResponse":           reflect.TypeFor[Payment](),
	"SubscriptionResponse":      reflect.TypeFor[Subscription](),
	"RefundResponse":            reflect.TypeFor[Refund](),
	"DisputeResponse":           reflect.TypeFor[Dispute](),
	"LicenseKeyResponse":        reflect.TypeFor[LicenseKey](),
	"PayoutsResponse":           reflect.TypeFor[Payout](),
	"CreditLedgerEntryResponse": reflect.TypeFor[CreditLedgerEntry](),
	"CreditBalanceLowPayload":   reflect.TypeFor[CreditBalanceLow](),
	"AbandonedCheckoutPayload":  reflect.TypeFor[AbandonedCheckout](),
	"DunningAttemptPayload":     reflect.TypeFor[DunningAttempt](),
	"EntitlementGrantResponse":  reflect.TypeFor[EntitlementGrant](),
}

// answers maps the operations offerflow's client calls and the stand-in
// serves to the types of their 200 answers. (The client decodes the items
// of GET /payments and GET /subscriptions into Payment and Subscription.)
var answers = map[string]reflect.Type{
	"GET /customers/{customer_id}":                              reflect.TypeFor[Customer](),
	"GET /customers/{customer_id}/payment-methods":              reflect.TypeFor[List[CustomerPaymentMethod]](),
	"GET /products/{id}":                                        reflect.TypeFor[Product](),
	"GET /payments":                                             reflect.TypeFor[List[PaymentListItem]](),
	"GET /payments/{payment_id}":                                reflect.TypeFor[Payment](),
	"GET /subscriptions":                                        reflect.TypeFor[List[SubscriptionListItem]](),
	"GET /subscriptions/{subscription_id}":                      reflect.TypeFor[Subscription](),
	"POST /checkouts":                                           reflect.TypeFor[CheckoutSession](),
	"GET /checkouts/{id}":                                       reflect.TypeFor[CheckoutSessionStatus](),
	"POST /subscriptions/{subscription_id}/change-plan/preview": reflect.TypeFor[ChangePlanPreview](),
	"POST /customers":                                           reflect.TypeFor[Customer](),
	"GET /customers":                                            reflect.TypeFor[List[Customer]](),
	"GET /products":                                             reflect.TypeFor[List[ProductListItem]](),
	"POST /refunds":                                             reflect.TypeFor[Refund](),
	"GET /refunds":                                              reflect.TypeFor[List[RefundSummary]](),
	"GET /refunds/{refund_id}":                                  reflect.TypeFor[Refund](),
	"PATCH /subscriptions/{subscription_id}":                    reflect.TypeFor[Subscription](),
	"POST /subscriptions/{subscription_id}/charge":              reflect.TypeFor[SubscriptionCharge](),
	"POST /payments":                                            reflect.TypeFor[OneTimePayment](),
	"POST /customers/{customer_id}/customer-portal/session":     reflect.TypeFor[CustomerPortalSession](),
}

// extra lists the JSON fields a type has beyond its schema, and why.
var extra = map[reflect.Type][]string{
	reflect.TypeFor[Payout]():           {"additional_docs"}, // in the examples only
	reflect.TypeFor[EntitlementGrant](): {"external_id"},     // in the examples only
	// The dispute events reference the narrow DisputeResponse, but their
	// examples (and OutgoingWebhookData) use the wider GetDisputeResponse:
	// Dispute models both.
	reflect.TypeFor[Dispute](): {"customer", "brand_id", "reason", "payment_provider"},
	// Added by Dodo after v1.113.0 (docs/dodo-drift.md): TestDrift checks
	// them.
	reflect.TypeFor[Payment]():              driftFields[reflect.TypeFor[Payment]()],
	reflect.TypeFor[PaymentListItem]():      driftFields[reflect.TypeFor[PaymentListItem]()],
	reflect.TypeFor[Subscription]():         driftFields[reflect.TypeFor[Subscription]()],
	reflect.TypeFor[SubscriptionListItem](): driftFields[reflect.TypeFor[SubscriptionListItem]()],
}

// raw lists the properties a type keeps as JSON rather than modelling
// them (see the fields' comments).
var raw = map[reflect.Type][]string{
	reflect.TypeFor[Product]():         {"credit_entitlements", "entitlements"},
	reflect.TypeFor[ProductListItem](): {"entitlements"},
}

// TestSchemasModelled checks every type against the spec schema it models,
// field by field: each property of the schema is a field with its JSON
// name, of a Go type that decodes it; nullable properties are pointers and
// nothing else is; the fields of a flattened union that some variant
// lacks are left out when nil (omitempty), and no other field is. Nothing
// the package declares escapes the check: every struct type reachable from
// the webhook payloads and the API answers is checked where it is used.
func TestSchemasModelled(t *testing.T) {
	s := loadSpec(t)
	roots := map[string]struct {
		sc *schema
		gt reflect.Type
	}{}
	for name, w := range s.Webhooks {
		c, ok := w.Post.RequestBody.Content["application/json"]
		if !ok || c.Schema == nil || c.Schema.Properties["data"] == nil {
			t.Fatalf("webhook %s: no application/json schema with data", name)
		}
		ref := refName(c.Schema.Properties["data"].Ref)
		gt, ok := webhookData[ref]
		if !ok {
			t.Errorf("webhook %s: data schema %s has no type in webhookData", name, ref)
			continue
		}
		roots["data of webhooks: "+ref] = struct {
			sc *schema
			gt reflect.Type
		}{&schema{Ref: "#/components/schemas/" + ref}, gt}
	}
	roots["data of webhooks: GetDisputeResponse"] = struct {
		sc *schema
		gt reflect.Type
	}{&schema{Ref: "#/components/schemas/GetDisputeResponse"}, reflect.TypeFor[Dispute]()}
	for op, gt := range answers {
		method, path, _ := strings.Cut(op, " ")
		r, ok := s.Paths[path][strings.ToLower(method)].Responses["200"]
		if !ok || r.Content["application/json"].Schema == nil {
			t.Fatalf("%s: the spec has no 200 application/json answer", op)
		}
		roots["answer of "+op] = struct {
			sc *schema
			gt reflect.Type
		}{r.Content["application/json"].Schema, gt}
	}
	c := &checker{t: t, spec: s, seen: map[reflect.Type]bool{}}
	for _, name := range slices.Sorted(maps.Keys(roots)) {
		t.Run(name, func(t *testing.T) {
			c.t = t
			c.check(name, roots[name].sc, roots[name].gt)
		})
	}
	// Every struct type the package declares was reached.
	seen := map[string]bool{}
	for gt := range c.seen {
		name, _, _ := strings.Cut(gt.Name(), "[") // List[T] is List
		seen[name] = true
	}
	for _, name := range declaredStructs(t) {
		if !seen[name] && !slices.Contains(driftTypes, name) {
			t.Errorf("%s is not reached from any webhook payload or API answer, so nothing checks it against the spec", name)
		}
	}
}

// declaredStructs returns the names of the struct types with exported
// fields that the package's (non-test) source declares: the ones encoded
// field by field. (MetadataValue, all unexported, encodes itself.)
func declaredStructs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				if ts := s.(*ast.TypeSpec); !ts.Assign.IsValid() {
					if st, ok := ts.Type.(*ast.StructType); ok && exportsFields(st) {
						names = append(names, ts.Name.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("found no struct types in the package's source")
	}
	return names
}

func exportsFields(st *ast.StructType) bool {
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if n.IsExported() {
				return true
			}
		}
	}
	return false
}

// checker compares spec schemas with Go types.
type checker struct {
	t    testing.TB
	spec *spec
	seen map[reflect.Type]bool
}

// node is a schema resolved: $ref followed, a oneOf of null and one schema
// unwrapped (nullable), allOf merged, and a oneOf of several objects kept
// as the union's variants.
type node struct {
	kind     string // string, integer, number, boolean, array, object
	format   string
	nullable bool
	items    *schema
	isMap    bool      // a free-form object: additionalProperties, no properties
	variants []variant // an object's (one unless it is a union)
}

// variant is one object shape: its properties and the required ones.
type variant struct {
	props    map[string]*schema
	required []string
}

func (c *checker) resolve(sc *schema) node {
	c.t.Helper()
	var n node
	for sc.Ref != "" {
		next, ok := c.spec.Components.Schemas[refName(sc.Ref)]
		if !ok {
			c.t.Fatalf("unresolved $ref %s", sc.Ref)
		}
		sc = next
	}
	if len(sc.OneOf) > 0 {
		var rest []*schema
		for _, o := range sc.OneOf {
			if types(o) == "null" {
				n.nullable = true
			} else {
				rest = append(rest, o)
			}
		}
		if len(rest) == 1 {
			inner := c.resolve(rest[0])
			inner.nullable = inner.nullable || n.nullable
			return inner
		}
		n.kind = "object"
		for _, o := range rest {
			v := c.resolve(o)
			if v.kind != "object" || len(v.variants) != 1 {
				c.t.Fatalf("a union of %q: only unions of objects are modelled", v.kind)
			}
			n.variants = append(n.variants, v.variants[0])
		}
		return n
	}
	if len(sc.AllOf) > 0 {
		merged := variant{props: map[string]*schema{}}
		for _, part := range sc.AllOf {
			p := c.resolve(part)
			if p.kind != "object" || len(p.variants) != 1 {
				c.t.Fatalf("allOf of %q: only objects are merged", p.kind)
			}
			maps.Copy(merged.props, p.variants[0].props)
			merged.required = append(merged.required, p.variants[0].required...)
		}
		return node{kind: "object", variants: []variant{merged}}
	}
	t := types(sc)
	n.nullable = strings.Contains(t, "null")
	n.kind = strings.Trim(strings.ReplaceAll(t, "null", ""), ",")
	if n.kind == "" && sc.Properties != nil {
		n.kind = "object"
	}
	n.format, n.items = sc.Format, sc.Items
	if n.kind == "object" {
		n.isMap = sc.Properties == nil && len(sc.AdditionalProperties) > 0
		n.variants = []variant{{props: sc.Properties, required: sc.Required}}
	}
	return n
}

// types returns the schema's type keyword as "a,b".
func types(sc *schema) string {
	var one string
	if json.Unmarshal(sc.Type, &one) == nil {
		return one
	}
	var many []string
	_ = json.Unmarshal(sc.Type, &many)
	return strings.Join(many, ",")
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	metadataType = reflect.TypeFor[Metadata]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

// check reports where the Go type gt does not model schema sc at path.
// gt is not a pointer: the caller checked that.
func (c *checker) check(path string, sc *schema, gt reflect.Type) {
	t := c.t
	n := c.resolve(sc)
	switch n.kind {
	case "string":
		if n.format == "date-time" {
			if gt != timeType {
				t.Errorf("%s: Go type %v, want time.Time", path, gt)
			}
		} else if gt.Kind() != reflect.String {
			t.Errorf("%s: Go type %v, want string", path, gt)
		}
	case "integer":
		if gt.Kind() != reflect.Int && gt.Kind() != reflect.Int64 {
			t.Errorf("%s: Go type %v, want int or int64", path, gt)
		}
	case "number":
		if gt.Kind() != reflect.Float64 {
			t.Errorf("%s: Go type %v, want float64", path, gt)
		}
	case "boolean":
		if gt.Kind() != reflect.Bool {
			t.Errorf("%s: Go type %v, want bool", path, gt)
		}
	case "array":
		if gt.Kind() != reflect.Slice {
			t.Errorf("%s: Go type %v, want a slice", path, gt)
			return
		}
		if n.items == nil {
			return
		}
		elem := gt.Elem()
		if item := c.resolve(n.items); (elem.Kind() == reflect.Pointer) != item.nullable {
			t.Errorf("%s[]: Go type %v, want a pointer: %v (nullable items %v)", path, elem, item.nullable, item.nullable)
		}
		if elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		c.check(path+"[]", n.items, elem)
	case "object":
		if n.isMap {
			if gt != metadataType {
				t.Errorf("%s: Go type %v, want Metadata (the only free-form object in the schemas modelled)", path, gt)
			}
			return
		}
		c.object(path, n.variants, gt)
	default:
		t.Errorf("%s: schema type %q not modelled by these tests", path, n.kind)
	}
}

// object checks struct type gt against an object schema or a union of
// them, flattened.
func (c *checker) object(path string, variants []variant, gt reflect.Type) {
	t := c.t
	if gt.Kind() != reflect.Struct {
		t.Errorf("%s: Go type %v, want a struct", path, gt)
		return
	}
	c.seen[gt] = true
	fields := jsonFields(gt)
	props := map[string][]*schema{}
	for _, v := range variants {
		for name, p := range v.props {
			props[name] = append(props[name], p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		at := path + "." + name
		f, ok := fields[name]
		if !ok {
			t.Errorf("%s: no field of %v has json tag %q", at, gt, name)
			continue
		}
		ft := f.Type
		if slices.Contains(raw[gt], name) {
			if ft != rawType && ft != reflect.SliceOf(rawType) {
				t.Errorf("%s: listed as raw, but Go type %v is not json.RawMessage or a slice of it", at, ft)
			}
			continue
		}
		inAll := len(props[name]) == len(variants)
		nullable, kind := false, ""
		for _, p := range props[name] {
			n := c.resolve(p)
			nullable = nullable || n.nullable
			kind = n.kind
		}
		isMap := kind == "object" && c.resolve(props[name][0]).isMap
		wantPtr := (nullable || !inAll) && kind != "array" && !isMap
		if (ft.Kind() == reflect.Pointer) != wantPtr {
			t.Errorf("%s: Go type %v, want a pointer: %v (nullable %v, in every variant %v, type %s)", at, ft, wantPtr, nullable, inAll, kind)
		}
		if omit := hasOmitempty(f); omit != !inAll {
			t.Errorf("%s: omitempty %v, want %v (only a field some variant of a union lacks is left out)", at, omit, !inAll)
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		for _, p := range props[name] {
			c.check(at, p, ft)
		}
	}
	for name, f := range fields {
		if _, ok := props[name]; ok {
			continue
		}
		switch {
		case name == "payload_type":
			if !hasOmitempty(f) {
				t.Errorf("%s.payload_type: want omitempty (webhooks carry it, API answers do not)", path)
			}
		case slices.Contains(extra[gt], name):
		default:
			t.Errorf("%s: %v has field %q, which the schema does not have", path, gt, name)
		}
	}
}

// jsonFields returns the fields of struct type st by JSON name.
func jsonFields(st reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range st.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f
	}
	return out
}

func hasOmitempty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return slices.Contains(strings.Split(opts, ","), "omitempty")
}

// TestSpecExamplesDecode decodes the data of the spec's webhook examples
// (the fullest payment and subscription objects the spec has) into
// Payment and Subscription: the same objects GET /payments/{id} and GET
// /subscriptions/{id} answer.
func TestSpecExamplesDecode(t *testing.T) {
	s := loadSpec(t)
	var payments, subs int
	for name, wh := range s.Webhooks {
		ex := wh.Post.RequestBody.Content["application/json"].Example
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		var kind struct {
			PayloadType string `json:"payload_type"`
		}
		if json.Unmarshal(ex, &env) != nil || json.Unmarshal(env.Data, &kind) != nil {
			t.Fatalf("webhook %s: example is not an envelope", name)
		}
		switch kind.PayloadType {
		case "Payment":
			payments++
			var p Payment
			if err := json.Unmarshal(env.Data, &p); err != nil || p.PaymentID == "" || p.Customer.CustomerID == "" || p.Currency == "" || p.CreatedAt.IsZero() || p.Billing.Country == "" {
				t.Errorf("webhook %s: Payment: got %+v, %v", name, p, err)
			}
		case "Subscription":
			subs++
			var s Subscription
			if err := json.Unmarshal(env.Data, &s); err != nil || s.SubscriptionID == "" || s.ProductID == "" || s.Status == "" || s.NextBillingDate.IsZero() {
				t.Errorf("webhook %s: Subscription: got %+v, %v", name, s, err)
			}
		}
	}
	if payments == 0 || subs == 0 {
		t.Fatalf("decoded %d payment and %d subscription examples, want some of each", payments, subs)
	}
}

// recorder is a testing.TB that records the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckerRejects is the checker's negative control: types that break
// each rule must fail, so that a pass means something.
func TestCheckerRejects(t *testing.T) {
	var s spec
	if err := json.Unmarshal([]byte(`{"components":{"schemas":{
		"X": {"type":"object","required":["id","n"],"properties":{
			"id":{"type":"string"},
			"n":{"type":"integer"},
			"note":{"type":["string","null"]},
			"at":{"type":"string","format":"date-time"},
			"tags":{"type":"array","items":{"type":"string"}},
			"metadata":{"type":"object","additionalProperties":{"type":"string"}}}},
		"U": {"oneOf":[
			{"type":"object","required":["type","a"],"properties":{"type":{"type":"string"},"a":{"type":"integer"}}},
			{"type":"object","required":["type","b"],"properties":{"type":{"type":"string"},"b":{"type":"string"}}}]}
	}}}`), &s); err != nil {
		t.Fatal(err)
	}
	type good struct {
		ID       string    `json:"id"`
		N        int       `json:"n"`
		Note     *string   `json:"note"`
		At       time.Time `json:"at"`
		Tags     []string  `json:"tags"`
		Metadata Metadata  `json:"metadata"`
	}
	type goodUnion struct {
		Type string  `json:"type"`
		A    *int    `json:"a,omitempty"`
		B    *string `json:"b,omitempty"`
	}
	tests := []struct {
		name   string
		schema string
		gt     reflect.Type
		want   string // a substring of an error; "" for none
	}{
		{"good", "X", reflect.TypeFor[good](), ""},
		{"good union", "U", reflect.TypeFor[goodUnion](), ""},
		{"property missing", "X", reflect.TypeFor[struct {
			ID       string    `json:"id"`
			Note     *string   `json:"note"`
			At       time.Time `json:"at"`
			Tags     []string  `json:"tags"`
			Metadata Metadata  `json:"metadata"`
		}](), `json tag "n"`},
		{"field beyond the schema", "X", reflect.TypeFor[struct {
			good
			Extra string `json:"extra"`
		}](), `has field "extra"`},
		{"nullable not a pointer", "X", reflect.TypeFor[struct {
			ID       string    `json:"id"`
			N        int       `json:"n"`
			Note     string    `json:"note"`
			At       time.Time `json:"at"`
			Tags     []string  `json:"tags"`
			Metadata Metadata  `json:"metadata"`
		}](), "note: Go type string, want a pointer: true"},
		{"a pointer not nullable", "X", reflect.TypeFor[struct {
			ID       string    `json:"id"`
			N        *int      `json:"n"`
			Note     *string   `json:"note"`
			At       time.Time `json:"at"`
			Tags     []string  `json:"tags"`
			Metadata Metadata  `json:"metadata"`
		}](), "n: Go type *int, want a pointer: false"},
		{"wrong type", "X", reflect.TypeFor[struct {
			ID       string    `json:"id"`
			N        string    `json:"n"`
			Note     *string   `json:"note"`
			At       time.Time `json:"at"`
			Tags     []string  `json:"tags"`
			Metadata Metadata  `json:"metadata"`
		}](), "want int or int64"},
		{"date-time not a time.Time", "X", reflect.TypeFor[struct {
			ID       string   `json:"id"`
			N        int      `json:"n"`
			Note     *string  `json:"note"`
			At       string   `json:"at"`
			Tags     []string `json:"tags"`
			Metadata Metadata `json:"metadata"`
		}](), "want time.Time"},
		{"free-form object not Metadata", "X", reflect.TypeFor[struct {
			ID       string            `json:"id"`
			N        int               `json:"n"`
			Note     *string           `json:"note"`
			At       time.Time         `json:"at"`
			Tags     []string          `json:"tags"`
			Metadata map[string]string `json:"metadata"`
		}](), "want Metadata"},
		{"omitempty outside a union", "X", reflect.TypeFor[struct {
			ID       string    `json:"id,omitempty"`
			N        int       `json:"n"`
			Note     *string   `json:"note"`
			At       time.Time `json:"at"`
			Tags     []string  `json:"tags"`
			Metadata Metadata  `json:"metadata"`
		}](), "id: omitempty true, want false"},
		{"a variant's field without omitempty", "U", reflect.TypeFor[struct {
			Type string  `json:"type"`
			A    *int    `json:"a"`
			B    *string `json:"b,omitempty"`
		}](), "a: omitempty false, want true"},
		{"a variant's field not a pointer", "U", reflect.TypeFor[struct {
			Type string  `json:"type"`
			A    int     `json:"a,omitempty"`
			B    *string `json:"b,omitempty"`
		}](), "a: Go type int, want a pointer: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			c := &checker{t: r, spec: &s, seen: map[reflect.Type]bool{}}
			c.check(tt.schema, &schema{Ref: "#/components/schemas/" + tt.schema}, tt.gt)
			got := strings.Join(r.errs, "; ")
			switch {
			case tt.want == "" && got != "":
				t.Errorf("check: got %q, want no errors", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("check: got %q, want an error containing %q", got, tt.want)
			}
		})
	}
}
