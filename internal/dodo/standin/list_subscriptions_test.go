package standin

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func TestListSubscriptions(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	must := func(id string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Created on the 1st, 10th and 16th of April, in several states.
	old := must(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), Status: StatusCancelled}))
	held := must(e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 10), Status: StatusOnHold, CancelAtNextBillingDate: true}))
	// A one-click checkout creates the third, through the API.
	e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pmBo, item(pdtStart, 1)))
	e.flush()
	var bo string
	for _, p := range e.s.Payments() {
		if p.SubscriptionID != "" {
			bo = p.SubscriptionID
		}
	}
	if bo == "" {
		t.Fatal("the one-click checkout created no subscription")
	}

	list := func(query string) []string {
		t.Helper()
		body := e.mustDo(200, "GET", "/subscriptions"+query, nil)
		var out struct {
			Items []struct {
				SubscriptionID string `json:"subscription_id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, it := range out.Items {
			ids = append(ids, it.SubscriptionID)
		}
		return ids
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"all, newest first", "", []string{bo, held, old}},
		{"customer", "?customer_id=" + custAna, []string{held, old}},
		{"status", "?status=on_hold", []string{held}},
		{"product", "?product_id=" + pdtStart, []string{bo}},
		{"brand", "?brand_id=bus_test", []string{bo, held, old}},
		{"other brand", "?brand_id=brd_other", []string{}},
		{"cancelling", "?cancel_at_next_billing_date=true", []string{held}},
		{"not cancelling", "?cancel_at_next_billing_date=false", []string{bo, old}},
		{"created since", "?created_at_gte=2026-04-10T00:00:00Z", []string{bo, held}},
		{"created until", "?created_at_lte=2026-04-10T00:00:00Z", []string{held, old}},
		{"first page", "?page_size=2", []string{bo, held}},
		{"second page", "?page_size=2&page_number=1", []string{old}},
		{"past the end", "?page_size=2&page_number=2", []string{}},
		{"everything", "?customer_id=" + custAna + "&status=cancelled&product_id=" + pdtBasic + "&brand_id=bus_test&cancel_at_next_billing_date=false&created_at_gte=2026-03-01T00:00:00Z&created_at_lte=2026-05-01T00:00:00Z&page_size=10&page_number=0", []string{old}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.query); !slices.Equal(got, tt.want) {
				t.Fatalf("GET /subscriptions%s: got %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	for _, q := range []string{"?status=live", "?cancel_at_next_billing_date=yes", "?page_size=many", "?created_at_gte=yesterday"} {
		e.wantError(422, "INVALID_REQUEST_BODY", "GET", "/subscriptions"+q, nil)
	}
	if got := e.doKeyStatus("", "GET", "/subscriptions"); got != 401 {
		t.Errorf("GET /subscriptions without the API key = %d, want 401", got)
	}
}

// TestListSubscriptionsMatchesGet checks that a list item says what GET
// /subscriptions/{id} says, field for field, where both have the field.
func TestListSubscriptionsMatchesGet(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	id, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtPro, PaymentMethodID: pmVisa, Quantity: 2, Metadata: map[string]any{"plan": "pro"},
		ScheduledChange: &PlanChange{ID: "spc_1", ProductID: pdtBasic, Quantity: 1, EffectiveAt: date(2026, 5, 16), CreatedAt: date(2026, 4, 16)}})
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(e.mustDo(200, "GET", "/subscriptions?customer_id="+custAna, nil), &list); err != nil {
		t.Fatal(err)
	}
	var one map[string]any
	if err := json.Unmarshal(e.mustDo(200, "GET", "/subscriptions/"+id, nil), &one); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("got %d items, want 1", len(list.Items))
	}
	item := list.Items[0]
	for k, v := range item {
		if k == "product_name" || k == "discounts" {
			continue
		}
		if fmt.Sprint(one[k]) != fmt.Sprint(v) {
			t.Errorf("%s: list says %v, GET says %v", k, v, one[k])
		}
	}
	if item["product_name"] != "Pro" {
		t.Errorf("product_name: got %v, want Pro", item["product_name"])
	}
	if d, ok := item["discounts"].([]any); !ok || len(d) != 0 {
		t.Errorf("discounts: got %v, want []", item["discounts"])
	}
}
