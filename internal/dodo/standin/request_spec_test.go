package standin

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestRequestTypesAreTheSpecs checks the stand-in's own request types
// against the spec's request schemas. They are private copies on purpose
// (docs/dodo.md says why): a server must accept every field the spec
// allows and tell an absent field from a zero one, which offerflow's
// client types (what it sends, with omitempty) do not model. decodeBody
// refuses fields a type lacks, so each must list exactly the schema's
// properties, and each modelled field must decode the property's JSON
// type; the fields held as json.RawMessage are accepted and ignored.
func TestRequestTypesAreTheSpecs(t *testing.T) {
	s := loadSpec(t)
	tests := []struct {
		gt     reflect.Type
		schema string
	}{
		{reflect.TypeFor[checkoutRequest](), "CreateCheckoutSessionRequest"},
		{reflect.TypeFor[cartRequest](), "ProductItemReq"},
		{reflect.TypeFor[billingRequest](), "CheckoutSessionBillingAddress"},
		{reflect.TypeFor[customerRequest](), "CustomerRequest"},
		{reflect.TypeFor[changePlanRequest](), "UpdateSubscriptionPlanReq"},
		{reflect.TypeFor[subscriptionData](), "SubscriptionData"},
		{reflect.TypeFor[createCustomerRequest](), "CreateCustomerRequest"},
		{reflect.TypeFor[createRefundRequest](), "CreateRefundRequest"},
		{reflect.TypeFor[refundItemRequest](), "PartialRefundItem"},
		{reflect.TypeFor[patchSubscriptionRequest](), "PatchSubscriptionRequest"},
		{reflect.TypeFor[billingRequest](), "BillingAddress"},
		{reflect.TypeFor[subscriptionChargeRequest](), "CreateSubscriptionChargeRequest"},
		{reflect.TypeFor[createPaymentRequest](), "CreateOneTimePaymentRequest"},
		{reflect.TypeFor[paymentCartRequest](), "OneTimeProductCartItemReq"},
	}
	for _, tt := range tests {
		t.Run(tt.gt.Name(), func(t *testing.T) {
			ref, ok := s.doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("spec has no schema %s", tt.schema)
			}
			props := properties(ref.Value)
			fields := map[string]reflect.Type{}
			for f := range tt.gt.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				fields[name] = f.Type
			}
			if got, want := slices.Sorted(maps.Keys(fields)), slices.Sorted(maps.Keys(props)); !slices.Equal(got, want) {
				t.Fatalf("%v fields %q, want the properties of %s: %q", tt.gt, got, tt.schema, want)
			}
			for name, ft := range fields {
				if ft == reflect.TypeFor[json.RawMessage]() || ft == reflect.TypeFor[*json.RawMessage]() {
					continue // accepted, not read
				}
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if want := goKind(props[name]); ft.Kind() != want {
					t.Errorf("%v.%s: Go type %v, want a %v for the spec's %v", tt.gt, name, ft, want, props[name].Type.Slice())
				}
			}
		})
	}
}

// properties returns a schema's properties by name, through allOf and
// oneOf (the union of the variants: a request type reads every variant's
// fields and checks which form it got).
func properties(sc *openapi3.Schema) map[string]*openapi3.Schema {
	out := map[string]*openapi3.Schema{}
	for name, p := range sc.Properties {
		out[name] = resolveNullable(p.Value)
	}
	for _, group := range [][]*openapi3.SchemaRef{sc.AllOf, sc.OneOf} {
		for _, part := range group {
			maps.Copy(out, properties(part.Value))
		}
	}
	return out
}

// resolveNullable unwraps a oneOf of null and one schema.
func resolveNullable(sc *openapi3.Schema) *openapi3.Schema {
	var rest []*openapi3.Schema
	for _, o := range sc.OneOf {
		if !o.Value.Type.Is(openapi3.TypeNull) {
			rest = append(rest, o.Value)
		}
	}
	if len(sc.OneOf) > 0 && len(rest) == 1 {
		return rest[0]
	}
	return sc
}

// goKind is the Go kind that decodes a schema's JSON type.
func goKind(sc *openapi3.Schema) reflect.Kind {
	switch {
	case sc.Type.Includes(openapi3.TypeString):
		return reflect.String
	case sc.Type.Includes(openapi3.TypeInteger):
		return reflect.Int
	case sc.Type.Includes(openapi3.TypeBoolean):
		return reflect.Bool
	case sc.Type.Includes(openapi3.TypeArray):
		return reflect.Slice
	}
	return reflect.Struct
}
