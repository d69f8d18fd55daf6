package standin

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// applyDrift adds to the loaded spec (v1.113.0) what Dodo's API has since,
// as the types of its TypeScript SDK 2.52.0 give it (docs/dodo-drift.md),
// so that the stand-in's answers and webhooks are validated in Dodo's
// current shape, the new fields by their types, rather than let through as
// unknown: the past_due status and its webhook, has_payment_method and
// past_due_ends_at on subscriptions, is_multi_subscription and
// subscription_ids on payments, and change-plan's answer body.
func applyDrift(doc *openapi3.T) error {
	sch := doc.Components.Schemas
	str := func() *openapi3.Schema { return &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}} }
	nullable := func(format string) *openapi3.SchemaRef {
		return openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString, openapi3.TypeNull}, Format: format})
	}
	boolean := openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeBoolean}})
	ids := openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{openapi3.TypeArray}, Items: openapi3.NewSchemaRef("", str())})

	// SubscriptionStatus: the loader copies the enum where a reference
	// has siblings, and the list's query parameter has its own; every
	// enum of exactly these values is the status.
	statuses := slices.Clone(sch["SubscriptionStatus"].Value.Enum)
	walkSchemas(doc, func(v *openapi3.Schema) {
		if slices.Equal(v.Enum, statuses) {
			v.Enum = append(slices.Clone(v.Enum), "past_due")
		}
	})
	add := func(schema, name string, ref *openapi3.SchemaRef, required bool) {
		v := sch[schema].Value
		v.Properties[name] = ref
		if required {
			v.Required = append(v.Required, name)
		}
	}
	for _, name := range []string{"PaymentResponse", "GetPaymentsListResponseItem"} {
		add(name, "is_multi_subscription", boolean, true)
		add(name, "subscription_ids", ids, true)
	}
	for _, name := range []string{"SubscriptionResponse", "SubscriptionListResponseItem"} {
		add(name, "has_payment_method", boolean, true)
	}
	add("SubscriptionResponse", "past_due_ends_at", nullable("date-time"), false)

	// subscription.past_due: subscription.on_hold's payload, type
	// past_due.
	onHold, ok := doc.Webhooks["subscription.on_hold"]
	if !ok || onHold.Post == nil || onHold.Post.RequestBody == nil {
		return errNoOnHold
	}
	body := onHold.Post.RequestBody.Value.Content.Get("application/json")
	if body == nil || body.Schema == nil || body.Schema.Value.Properties["type"] == nil {
		return errNoOnHold
	}
	payload := *body.Schema.Value
	payload.Properties = maps.Clone(payload.Properties)
	typ := *payload.Properties["type"].Value
	typ.Enum = []any{"subscription.past_due"}
	payload.Properties["type"] = openapi3.NewSchemaRef("", &typ)
	op := *onHold.Post
	op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithJSONSchema(&payload)}
	doc.Webhooks["subscription.past_due"] = &openapi3.PathItem{Post: &op}

	answer := &openapi3.Schema{
		Type: &openapi3.Types{openapi3.TypeObject},
		Properties: openapi3.Schemas{
			"payment_id": nullable(""), "payment_link": nullable(""), "client_secret": nullable(""), "expires_on": nullable("date-time"),
		},
		AdditionalProperties: openapi3.AdditionalProperties{Has: ptr(false)},
	}
	ok200 := doc.Paths.Value("/subscriptions/{subscription_id}/change-plan").Post.Responses.Status(http.StatusOK).Value
	ok200.Content = openapi3.NewContentWithJSONSchema(answer)
	return nil
}

// walkSchemas calls f once for every schema the document reaches: the
// components, the operations' parameters, bodies and answers, and the
// webhooks.
func walkSchemas(doc *openapi3.T, f func(*openapi3.Schema)) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(r *openapi3.SchemaRef)
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		v := r.Value
		seen[v] = true
		f(v)
		for _, p := range v.Properties {
			walk(p)
		}
		walk(v.Items)
		walk(v.Not)
		walk(v.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{v.OneOf, v.AnyOf, v.AllOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	for _, r := range doc.Components.Schemas {
		walk(r)
	}
	ops := func(item *openapi3.PathItem) {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			if op.Responses == nil {
				continue
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						walk(mt.Schema)
					}
				}
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		ops(item)
	}
	for _, item := range doc.Webhooks {
		ops(item)
	}
}

var errNoOnHold = errors.New("the spec has no subscription.on_hold webhook to model subscription.past_due on")

// TestDriftValidated is the drift overlay's negative control: a
// subscription, payment or change-plan answer that breaks the SDK's shape
// fails validation, so a pass means the new fields were checked.
func TestDriftValidated(t *testing.T) {
	s := loadSpec(t)
	e := newEnv(t, date(2026, 4, 16))
	subID, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.PastDue(subID, DefaultPastDueGrace); err != nil {
		t.Fatal(err)
	}
	e.flush()
	var good []byte
	for _, r := range e.recv.received() {
		if r.Type == "subscription.past_due" {
			good = r.Body
		}
	}
	if good == nil {
		t.Fatal("no subscription.past_due webhook")
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if err := s.validateWebhook("subscription.past_due", h, good); err != nil {
		t.Fatalf("the stand-in's own past_due webhook: %v", err)
	}
	mutate := func(f func(data map[string]any)) []byte {
		var env map[string]any
		if err := json.Unmarshal(good, &env); err != nil {
			t.Fatal(err)
		}
		f(env["data"].(map[string]any))
		b, _ := json.Marshal(env)
		return b
	}
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"status not a status", mutate(func(d map[string]any) { d["status"] = "past_dew" })},
		{"has_payment_method missing", mutate(func(d map[string]any) { delete(d, "has_payment_method") })},
		{"has_payment_method a string", mutate(func(d map[string]any) { d["has_payment_method"] = "yes" })},
		{"past_due_ends_at not a date-time", mutate(func(d map[string]any) { d["past_due_ends_at"] = "soon" })},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.validateWebhook("subscription.past_due", h, tt.body); err == nil {
				t.Errorf("validateWebhook accepted %s", tt.body)
			}
		})
	}
	// Old and new shapes of a payment: the overlay requires the new
	// fields of the stand-in (which always writes them).
	e.mustDo(200, "POST", "/checkouts", oneClick(custAna, pmVisa, item(pdtGuide, 1)))
	e.flush()
	var pay []byte
	for _, r := range e.recv.received() {
		if r.Type == "payment.succeeded" {
			pay = r.Body
		}
	}
	var env map[string]any
	if err := json.Unmarshal(pay, &env); err != nil {
		t.Fatal(err)
	}
	data := env["data"].(map[string]any)
	if data["is_multi_subscription"] != false || !slices.Equal(toStrings(data["subscription_ids"]), []string{}) {
		t.Errorf("one-time payment: is_multi_subscription %v subscription_ids %v, want false []", data["is_multi_subscription"], data["subscription_ids"])
	}
	data["subscription_ids"] = []any{1}
	bad, _ := json.Marshal(env)
	if err := s.validateWebhook("payment.succeeded", h, bad); err == nil {
		t.Errorf("validateWebhook accepted subscription_ids [1]")
	}
}

func toStrings(v any) []string {
	out := []string{}
	xs, _ := v.([]any)
	for _, x := range xs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
