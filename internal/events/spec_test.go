package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/dodospec"
)

// specPath is Dodo's OpenAPI spec, v1.113.0 (the copy in internal/dodo/dodospec).
var specPath = dodospec.Path()

// spec is the part of Dodo's OpenAPI spec these tests read.
type spec struct {
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

// schema is a JSON Schema node of the spec, as far as the tests need it.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 json.RawMessage    `json:"type"` // a string or a list of strings
	Format               string             `json:"format"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	OneOf                []*schema          `json:"oneOf"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
}

// webhook is one entry of the spec's webhooks.
type webhook struct {
	example json.RawMessage // the full envelope
	dataRef string          // the component schema name of data
}

// readSpec reads the spec, or returns fs.ErrNotExist if it is absent.
func readSpec() (*spec, error) {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// loadSpec reads the spec and fails the test if it cannot.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	s, err := readSpec()
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dodo's OpenAPI spec is missing at %s (internal/dodo/dodospec): %v", specPath, err)
	}
	if err != nil {
		t.Fatalf("read spec %s: %v", specPath, err)
	}
	return s
}

// webhooks returns the spec's webhooks by event type.
func (s *spec) webhooks(t testing.TB) map[string]webhook {
	t.Helper()
	out := make(map[string]webhook, len(s.Webhooks))
	for name, w := range s.Webhooks {
		c, ok := w.Post.RequestBody.Content["application/json"]
		if !ok || c.Example == nil || c.Schema == nil {
			t.Fatalf("webhook %s: no application/json example and schema", name)
		}
		data := c.Schema.Properties["data"]
		if data == nil || data.Ref == "" {
			t.Fatalf("webhook %s: schema has no data $ref", name)
		}
		out[name] = webhook{example: c.Example, dataRef: refName(data.Ref)}
	}
	return out
}

// refName returns the schema name of a "#/components/schemas/X" reference.
func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

// payloadFor maps the spec's data schemas to the payload type Decode must
// produce. It is written from the spec, independently of knownTypes.
var payloadFor = map[string]reflect.Type{
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

// keyIDs returns the identifiers a payload must carry, by JSON name.
func keyIDs(p any) map[string]string {
	switch p := p.(type) {
	case *Payment:
		return map[string]string{"payment_id": p.PaymentID, "customer.customer_id": p.Customer.CustomerID}
	case *Subscription:
		return map[string]string{"subscription_id": p.SubscriptionID, "product_id": p.ProductID, "customer.customer_id": p.Customer.CustomerID}
	case *Refund:
		return map[string]string{"refund_id": p.RefundID, "payment_id": p.PaymentID, "customer.customer_id": p.Customer.CustomerID}
	case *Dispute:
		return map[string]string{"dispute_id": p.DisputeID, "payment_id": p.PaymentID, "amount": p.Amount, "customer.customer_id": p.Customer.CustomerID}
	case *LicenseKey:
		return map[string]string{"id": p.ID, "key": p.Key, "customer_id": p.CustomerID}
	case *Payout:
		return map[string]string{"payout_id": p.PayoutID}
	case *CreditLedgerEntry:
		return map[string]string{"id": p.ID, "credit_entitlement_id": p.CreditEntitlementID, "customer_id": p.CustomerID}
	case *CreditBalanceLow:
		return map[string]string{"credit_entitlement_id": p.CreditEntitlementID, "subscription_id": p.SubscriptionID, "customer_id": p.CustomerID}
	case *AbandonedCheckout:
		return map[string]string{"payment_id": p.PaymentID, "customer_id": p.CustomerID}
	case *DunningAttempt:
		return map[string]string{"subscription_id": p.SubscriptionID, "customer_id": p.CustomerID}
	case *EntitlementGrant:
		return map[string]string{"id": p.ID, "entitlement_id": p.EntitlementID, "customer_id": p.CustomerID}
	}
	return nil
}

func TestDecodeSpecExamples(t *testing.T) {
	s := loadSpec(t)
	hooks := s.webhooks(t)
	if len(hooks) != 47 {
		t.Errorf("spec has %d webhooks, want 47 (spec v1.113.0)", len(hooks))
	}

	for _, name := range slices.Sorted(maps.Keys(hooks)) {
		w := hooks[name]
		t.Run(name, func(t *testing.T) {
			want, ok := payloadFor[w.dataRef]
			if !ok {
				t.Fatalf("data schema %s: no payload type in payloadFor", w.dataRef)
			}
			ev, err := Decode(w.example)
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if ev.Type != name {
				t.Errorf("Type: got %q, want %q", ev.Type, name)
			}
			if got := reflect.TypeOf(ev.Payload); got != reflect.PointerTo(want) {
				t.Fatalf("Payload: got %v, want *%v", got, want)
			}
			if ev.Timestamp.IsZero() {
				t.Error("Timestamp: got zero, want the example's")
			}
			if ev.BusinessID == "" {
				t.Error("BusinessID: got empty, want the example's")
			}
			for field, v := range keyIDs(ev.Payload) {
				if v == "" {
					t.Errorf("%s: got empty, want the example's", field)
				}
			}
			wantCustomer := w.dataRef != "PayoutsResponse"
			if got := ev.CustomerID(); (got != "") != wantCustomer {
				t.Errorf("CustomerID(): got %q, want a customer id: %v", got, wantCustomer)
			}

			// Every field of the example is modelled: a strict decode of
			// data into the same type succeeds. (Decode itself is lenient.)
			var env struct {
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(w.example, &env); err != nil {
				t.Fatalf("example data: %v", err)
			}
			dec := json.NewDecoder(bytes.NewReader(env.Data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(reflect.New(want).Interface()); err != nil {
				t.Errorf("strict decode of data into %v: got %v, want nil (a field of the example is not modelled)", want, err)
			}

			// The ingest routes the example the same way.
			if got, err := PeekType(w.example); err != nil || got != name {
				t.Errorf("PeekType: got %q, %v, want %q, nil", got, err, name)
			}
			if !ValidType(name) {
				t.Errorf("ValidType(%q): got false, want true", name)
			}
			if got, want := Subject(name), "dodo.events."+name; got != want {
				t.Errorf("Subject: got %q, want %q", got, want)
			}
		})
	}

	if got, want := KnownTypes(), slices.Sorted(maps.Keys(hooks)); !slices.Equal(got, want) {
		t.Errorf("KnownTypes():\ngot  %q\nwant %q", got, want)
	}
}

func TestSchemasModelled(t *testing.T) {
	s := loadSpec(t)
	roots := map[string]reflect.Type{}
	for _, w := range s.webhooks(t) {
		roots[w.dataRef] = payloadFor[w.dataRef]
	}
	// The dispute examples (and OutgoingWebhookData) use the wider
	// GetDisputeResponse; Dispute must cover both.
	roots["GetDisputeResponse"] = reflect.TypeFor[Dispute]()

	// extra lists the JSON fields a Go type has beyond its schema, and why.
	extra := map[reflect.Type][]string{
		reflect.TypeFor[Payout]():           {"additional_docs"}, // in the examples only
		reflect.TypeFor[EntitlementGrant](): {"external_id"},     // in the examples only
		// The narrow schema the dispute events reference.
		reflect.TypeFor[Dispute](): {"customer", "brand_id", "reason", "payment_provider"},
	}
	for _, name := range slices.Sorted(maps.Keys(roots)) {
		t.Run(name, func(t *testing.T) {
			c := schemaChecker{t: t, spec: s, extra: extra}
			c.check(name, &schema{Ref: "#/components/schemas/" + name}, roots[name], true)
		})
	}
}

// schemaChecker compares spec schemas with Go types.
type schemaChecker struct {
	t     *testing.T
	spec  *spec
	extra map[reflect.Type][]string
}

// resolve follows $ref and unwraps a oneOf of null and one schema. It
// reports whether null is allowed.
func (c schemaChecker) resolve(sc *schema) (*schema, bool) {
	nullable := false
	for {
		switch {
		case sc.Ref != "":
			next, ok := c.spec.Components.Schemas[refName(sc.Ref)]
			if !ok {
				c.t.Fatalf("unresolved $ref %s", sc.Ref)
			}
			sc = next
			continue
		case len(sc.OneOf) > 0:
			var rest []*schema
			for _, o := range sc.OneOf {
				if o.types()[0] == "null" && len(o.types()) == 1 {
					nullable = true
				} else {
					rest = append(rest, o)
				}
			}
			if len(rest) != 1 {
				c.t.Fatalf("oneOf with %d non-null schemas: not modelled by these tests", len(rest))
			}
			sc = rest[0]
			continue
		}
		return sc, nullable || slices.Contains(sc.types(), "null")
	}
}

// types returns the schema's type keyword as a list.
func (sc *schema) types() []string {
	var one string
	if json.Unmarshal(sc.Type, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(sc.Type, &many)
	if len(many) == 0 {
		return []string{""}
	}
	return many
}

// mainType returns the schema's type other than null.
func (sc *schema) mainType() string {
	for _, t := range sc.types() {
		if t != "null" {
			return t
		}
	}
	return ""
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	metadataType = reflect.TypeFor[Metadata]()
)

// check reports where the Go type gt does not model schema sc at path.
// Nullable scalars and objects must be pointers and nothing else may be
// (arrays and maps decode null as nil), so the package keeps one rule.
func (c schemaChecker) check(path string, sc *schema, gt reflect.Type, root bool) {
	t := c.t
	sc, nullable := c.resolve(sc)
	kind := sc.mainType()
	if kind == "" && sc.Properties != nil {
		kind = "object"
	}

	isMap := kind == "object" && sc.Properties == nil
	wantPtr := nullable && kind != "array" && !isMap && !root
	if (gt.Kind() == reflect.Pointer) != wantPtr {
		t.Errorf("%s: Go type %v, want a pointer: %v (nullable %v, type %s)", path, gt, wantPtr, nullable, kind)
	}
	if gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}

	switch kind {
	case "string":
		want := reflect.String
		if sc.Format == "date-time" {
			if gt != timeType {
				t.Errorf("%s: Go type %v, want time.Time", path, gt)
			}
			return
		}
		if gt.Kind() != want {
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
		if sc.Items != nil {
			c.check(path+"[]", sc.Items, gt.Elem(), false)
		}
	case "object":
		if isMap {
			if gt != metadataType {
				t.Errorf("%s: Go type %v, want Metadata (the only free-form object in the webhook schemas)", path, gt)
			}
			return
		}
		if gt.Kind() != reflect.Struct {
			t.Errorf("%s: Go type %v, want a struct", path, gt)
			return
		}
		fields := jsonFields(gt)
		for _, name := range slices.Sorted(maps.Keys(sc.Properties)) {
			f, ok := fields[name]
			if !ok {
				t.Errorf("%s.%s: no field of %v has json tag %q", path, name, gt, name)
				continue
			}
			c.check(path+"."+name, sc.Properties[name], f.Type, false)
		}
		for name := range fields {
			if _, ok := sc.Properties[name]; !ok && name != "payload_type" && !slices.Contains(c.extra[gt], name) {
				t.Errorf("%s: %v has field %q, which the schema does not have", path, gt, name)
			}
		}
	default:
		t.Errorf("%s: schema type %q not modelled by these tests", path, kind)
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

// specExamples returns the spec's 47 example bodies sorted by type, or nil
// if the spec is absent (the fuzz targets then run on their own seeds).
func specExamples(t testing.TB) [][]byte {
	s, err := readSpec()
	if err != nil {
		return nil
	}
	hooks := s.webhooks(t)
	out := make([][]byte, 0, len(hooks))
	for _, n := range slices.Sorted(maps.Keys(hooks)) {
		out = append(out, hooks[n].example)
	}
	return out
}
