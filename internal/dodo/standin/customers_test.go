package standin

import (
	"slices"
	"testing"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// TestCreateCustomer: POST /customers with good and bad bodies; a created
// customer is read back by GET /customers/{id}.
func TestCreateCustomer(t *testing.T) {
	tests := []struct {
		name     string
		body     any
		want     int
		wantCode string
	}{
		{"email and name", map[string]any{"email": "cy@example.com", "name": "Cy"}, 200, ""},
		{"with phone and metadata", map[string]any{"email": "cy@example.com", "name": "Cy", "phone_number": "+15550100", "metadata": map[string]any{"crm": "7"}}, 200, ""},
		{"null phone", map[string]any{"email": "cy@example.com", "name": "Cy", "phone_number": nil}, 200, ""},
		{"malformed JSON", `{"email":`, 400, "INVALID_REQUEST_BODY"},
		{"not an email", map[string]any{"email": "cy", "name": "Cy"}, 422, "INVALID_REQUEST_BODY"},
		{"no name", map[string]any{"email": "cy@example.com"}, 422, "INVALID_REQUEST_BODY"},
		{"blank name", map[string]any{"email": "cy@example.com", "name": "  "}, 422, "INVALID_REQUEST_BODY"},
		{"unknown field", map[string]any{"email": "cy@example.com", "name": "Cy", "customer_id": "cus_x"}, 422, "INVALID_REQUEST_BODY"},
		{"metadata value an object", map[string]any{"email": "cy@example.com", "name": "Cy", "metadata": map[string]any{"k": map[string]any{}}}, 422, "INVALID_REQUEST_BODY"},
		{"name a number", map[string]any{"email": "cy@example.com", "name": 7}, 422, "INVALID_REQUEST_BODY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			if tt.want != 200 {
				e.wantError(tt.want, tt.wantCode, "POST", "/customers", tt.body)
				return
			}
			got := decode[wire.Customer](t, e.mustDo(200, "POST", "/customers", tt.body))
			if got.Email != "cy@example.com" || got.Name != "Cy" || got.BusinessID != "bus_test" || !got.CreatedAt.Equal(date(2026, 4, 16)) {
				t.Errorf("created %+v, want cy@example.com, Cy, bus_test, created now", got)
			}
			again := decode[wire.Customer](t, e.mustDo(200, "GET", "/customers/"+got.CustomerID, nil))
			if again.CustomerID != got.CustomerID || again.Email != got.Email || len(again.Metadata) != len(got.Metadata) {
				t.Errorf("GET = %+v, want %+v", again, got)
			}
			// A new customer has no cards until a test saves one.
			if pms := decode[wire.List[wire.CustomerPaymentMethod]](t, e.mustDo(200, "GET", "/customers/"+got.CustomerID+"/payment-methods", nil)); len(pms.Items) != 0 {
				t.Errorf("payment methods = %+v, want none", pms.Items)
			}
		})
	}
}

func customerIDs(l wire.List[wire.Customer]) []string {
	var out []string
	for _, c := range l.Items {
		out = append(out, c.CustomerID)
	}
	return out
}

// TestListCustomers: GET /customers filters by email and name (partial,
// any case) and created_at, and pages.
func TestListCustomers(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	e.clock.Set(date(2026, 4, 20))
	cy := decode[wire.Customer](t, e.mustDo(200, "POST", "/customers", map[string]any{"email": "cy@shop.example", "name": "Cy Ana"})).CustomerID
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{custAna, custBo, cy}},
		{"?email=EXAMPLE.com", []string{custAna, custBo}},
		{"?name=ana", []string{custAna, cy}},
		{"?name=ana&email=shop", []string{cy}},
		{"?created_at_gte=2026-04-18T00:00:00Z", []string{cy}},
		{"?created_at_lte=2026-04-18T00:00:00Z", []string{custAna, custBo}},
		{"?page_size=2", []string{custAna, custBo}},
		{"?page_size=2&page_number=1", []string{cy}},
		{"?page_size=2&page_number=2", nil},
		{"?email=nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if got := customerIDs(decode[wire.List[wire.Customer]](t, e.mustDo(200, "GET", "/customers"+tt.query, nil))); !slices.Equal(got, tt.want) {
				t.Errorf("GET /customers%s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
	for _, q := range []string{"?page_size=x", "?page_number=-1", "?created_at_gte=yesterday", "?page_size=99999999999"} {
		e.wantError(422, "INVALID_REQUEST_BODY", "GET", "/customers"+q, nil)
	}
}

// TestListProducts: GET /products lists the catalogue, filtered by
// recurring and brand, and pages.
func TestListProducts(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	all := []string{pdtBasic, pdtEbook, pdtGuide, pdtPro, pdtProEUR, pdtStart, pdtYearly}
	ids := func(q string) []string {
		t.Helper()
		var out []string
		for _, p := range decode[wire.List[wire.ProductListItem]](t, e.mustDo(200, "GET", "/products"+q, nil)).Items {
			out = append(out, p.ProductID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"?page_size=100", all},
		{"?recurring=true&page_size=100", []string{pdtBasic, pdtPro, pdtProEUR, pdtStart, pdtYearly}},
		{"?recurring=false", []string{pdtEbook, pdtGuide}},
		{"?brand_id=bus_test&recurring=false", []string{pdtEbook, pdtGuide}},
		{"?brand_id=bus_other", nil},
		{"?archived=true", nil},
	}
	for _, tt := range tests {
		if got := ids(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("GET /products%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	if got := ids("?page_size=3&page_number=2"); len(got) != 1 {
		t.Errorf("third page of 3 = %v, want the seventh product alone", got)
	}
	guide := decode[wire.List[wire.ProductListItem]](t, e.mustDo(200, "GET", "/products?recurring=false", nil)).Items
	for _, p := range guide {
		if p.ProductID == pdtGuide && (deref(p.Price) != 1900 || deref(p.Currency) != "USD" || p.PriceDetail == nil) {
			t.Errorf("guide = %+v, want price 1900 USD with its price_detail", p)
		}
	}
	for _, q := range []string{"?recurring=1", "?archived=no", "?page_size=-1"} {
		e.wantError(422, "INVALID_REQUEST_BODY", "GET", "/products"+q, nil)
	}
}

// TestPortalSession: POST /customers/{id}/customer-portal/session answers
// a link for a known customer.
func TestPortalSession(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	got := decode[wire.CustomerPortalSession](t, e.mustDo(200, "POST", "/customers/"+custAna+"/customer-portal/session?return_url=https://m.example/back", nil))
	if want := testHost + "/customer-portal/" + custAna + "?session=cps_0000000001&return_url=https%3A%2F%2Fm.example%2Fback"; got.Link != want {
		t.Errorf("link = %q, want %q", got.Link, want)
	}
	e.wantError(404, "NOT_FOUND", "POST", "/customers/cus_nobody/customer-portal/session", nil)
	e.wantError(422, "INVALID_REQUEST_BODY", "POST", "/customers/"+custAna+"/customer-portal/session?send_email=1", nil)
}

// TestAddCard: POST /_standin/customers/{id}/payment-methods saves the
// named test cards and full numbers, and refuses bad ones.
func TestAddCard(t *testing.T) {
	tests := []struct {
		name      string
		customer  string
		body      any
		want      int
		wantLast4 string
		wantExp   string // MM/YYYY
	}{
		{"default is 4242", custAna, map[string]any{}, 200, "4242", "12/2031"},
		{"success", custAna, map[string]any{"test_card": "success"}, 200, "4242", "12/2031"},
		{"decline", custAna, map[string]any{"test_card": "decline"}, 200, "0002", "12/2031"},
		{"insufficient funds", custAna, map[string]any{"test_card": "insufficient_funds"}, 200, "9995", "12/2031"},
		{"3ds", custAna, map[string]any{"test_card": "3ds"}, 200, "3155", "12/2031"},
		{"expired", custAna, map[string]any{"test_card": "expired"}, 200, "4242", "12/2025"},
		{"full number", custBo, map[string]any{"card_number": "5555 5555 5555 4444", "exp_month": 3, "exp_year": 2030, "network": "MASTERCARD", "type": "DEBIT", "holder_name": "Bo Chen", "issuing_country": "DE", "recurring_enabled": true}, 200, "4444", "03/2030"},
		{"unknown test card", custAna, map[string]any{"test_card": "gold"}, 422, "", ""},
		{"both", custAna, map[string]any{"test_card": "success", "card_number": "4242424242424242"}, 422, "", ""},
		{"short number", custAna, map[string]any{"card_number": "4242"}, 422, "", ""},
		{"letters", custAna, map[string]any{"card_number": "4242abcd42424242"}, 422, "", ""},
		{"month 13", custAna, map[string]any{"exp_month": 13}, 422, "", ""},
		{"bad type", custAna, map[string]any{"type": "PREPAID"}, 422, "", ""},
		{"bad country", custAna, map[string]any{"issuing_country": "usa"}, 422, "", ""},
		{"unknown field", custAna, map[string]any{"cvc": "123"}, 422, "", ""},
		{"malformed JSON", custAna, "{", 400, "", ""},
		{"unknown customer", "cus_nobody", map[string]any{}, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			status, body := e.do("POST", "/_standin/customers/"+tt.customer+"/payment-methods", tt.body)
			if status != tt.want {
				t.Fatalf("status = %d %s, want %d", status, body, tt.want)
			}
			if status != 200 {
				return
			}
			pm := decode[wire.CustomerPaymentMethod](t, body)
			if got := deref(pm.Card.Last4Digits); got != tt.wantLast4 {
				t.Errorf("last4 = %q, want %q", got, tt.wantLast4)
			}
			if got := deref(pm.Card.ExpiryMonth) + "/" + deref(pm.Card.ExpiryYear); got != tt.wantExp {
				t.Errorf("expiry = %s, want %s", got, tt.wantExp)
			}
			list := decode[wire.List[wire.CustomerPaymentMethod]](t, e.mustDo(200, "GET", "/customers/"+tt.customer+"/payment-methods", nil))
			if !slices.ContainsFunc(list.Items, func(p wire.CustomerPaymentMethod) bool { return p.PaymentMethodID == pm.PaymentMethodID }) {
				t.Errorf("GET payment-methods = %+v, want it to list %s", list.Items, pm.PaymentMethodID)
			}
		})
	}
}

// TestTestCards: a one-click checkout with each named test card ends as
// Dodo's test mode would end it.
func TestTestCards(t *testing.T) {
	tests := []struct {
		card       string
		wantStatus string
		wantCode   string
		wantEvent  string
	}{
		{"success", PaymentSucceeded, "", "payment.succeeded"},
		{"decline", PaymentFailed, "CARD_DECLINED", "payment.failed"},
		{"insufficient_funds", PaymentFailed, "INSUFFICIENT_FUNDS", "payment.failed"},
		{"expired", PaymentFailed, "EXPIRED_CARD", "payment.failed"},
		{"3ds", PaymentRequiresAction, "", "payment.processing"},
	}
	for _, tt := range tests {
		t.Run(tt.card, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			pm := decode[wire.CustomerPaymentMethod](t, e.mustDo(200, "POST", "/_standin/customers/"+custBo+"/payment-methods", map[string]any{"test_card": tt.card})).PaymentMethodID
			cs := decode[session](t, e.mustDo(200, "POST", "/checkouts", oneClick(custBo, pm, item(pdtGuide, 1))))
			p := decode[payment](t, e.mustDo(200, "GET", "/payments/"+deref(cs.PaymentID), nil))
			if p.Status != tt.wantStatus || deref(p.ErrorCode) != tt.wantCode {
				t.Errorf("payment %s %q, want %s %q", p.Status, deref(p.ErrorCode), tt.wantStatus, tt.wantCode)
			}
			if got := e.webhooks(); !slices.Equal(got, []string{tt.wantEvent}) {
				t.Errorf("webhooks = %v, want [%s]", got, tt.wantEvent)
			}
		})
	}
}

// TestAnotherCustomersCard: a payment method of customer A never pays for
// customer B, on any route that takes one.
func TestAnotherCustomersCard(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	fallback := decode[session](t, e.mustDo(200, "POST", "/checkouts", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custBo}}))
	link := decode[wire.OneTimePayment](t, e.mustDo(200, "POST", "/payments", map[string]any{
		"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custBo}, "billing": map[string]any{"country": "DE"},
	}))
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"one-click checkout", "POST", "/checkouts", oneClick(custBo, pmVisa, item(pdtGuide, 1))},
		{"one-time payment", "POST", "/payments", map[string]any{"product_cart": []any{item(pdtGuide, 1)}, "customer": map[string]any{"customer_id": custBo}, "payment_method_id": pmVisa, "billing": map[string]any{"country": "DE"}}},
		{"completing a checkout", "POST", "/_standin/checkouts/" + fallback.SessionID + "/complete", map[string]any{"payment_method_id": pmVisa}},
		{"completing a payment", "POST", "/_standin/payments/" + link.PaymentID + "/complete", map[string]any{"payment_method_id": pmVisa}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(422, "INVALID_REQUEST_BODY", tt.method, tt.path, tt.body)
		})
	}
	if n := e.s.Charges(custBo); n != 0 {
		t.Errorf("Charges(%s) = %d, want 0", custBo, n)
	}
	if got := e.webhooks(); len(got) != 0 {
		t.Errorf("webhooks = %v, want none", got)
	}
}

// TestGeneratedIDsSkipGivenOnes: an id given to AddCustomer (or any Add)
// is never generated again for a new object.
func TestGeneratedIDsSkipGivenOnes(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	if _, err := e.s.AddCustomer(Customer{ID: "cus_0000000001", Email: "given@example.com", Name: "Given"}); err != nil {
		t.Fatal(err)
	}
	got := decode[wire.Customer](t, e.mustDo(200, "POST", "/customers", map[string]any{"email": "new@example.com", "name": "New"}))
	if got.CustomerID != "cus_0000000002" {
		t.Errorf("new customer id = %s, want cus_0000000002", got.CustomerID)
	}
	if c := decode[wire.Customer](t, e.mustDo(200, "GET", "/customers/cus_0000000001", nil)); c.Email != "given@example.com" {
		t.Errorf("the given customer became %+v", c)
	}
}
