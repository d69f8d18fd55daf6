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
// The field-by-field check of the payload types against the spec's
// schemas is internal/dodo/wire's TestSchemasModelled.
type schema struct {
	Ref        string             `json:"$ref"`
	Properties map[string]*schema `json:"properties"`
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

	if got, want := KnownTypes(), slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(hooks)), DriftTypes()...))); !slices.Equal(got, want) {
		t.Errorf("KnownTypes():\ngot  %q\nwant %q", got, want)
	}
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
