package standin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// createPaymentRequest is the spec's CreateOneTimePaymentRequest (POST
// /payments, deprecated in the spec in favour of checkout sessions).
type createPaymentRequest struct {
	ProductCart             []paymentCartRequest `json:"product_cart"`
	Customer                *customerRequest     `json:"customer"`
	Billing                 *billingRequest      `json:"billing"`
	PaymentMethodID         *string              `json:"payment_method_id"`
	Metadata                json.RawMessage      `json:"metadata"`
	ReturnURL               *string              `json:"return_url"`
	PaymentLink             *bool                `json:"payment_link"`
	BillingCurrency         *string              `json:"billing_currency"`
	DiscountCode            *string              `json:"discount_code"`
	DiscountCodes           []string             `json:"discount_codes"`
	AdaptiveCurrencyFees    json.RawMessage      `json:"adaptive_currency_fees_inclusive"`
	AllowedPaymentMethods   json.RawMessage      `json:"allowed_payment_method_types"`
	CustomerBusinessName    json.RawMessage      `json:"customer_business_name"`
	Force3DS                json.RawMessage      `json:"force_3ds"`
	RedirectImmediately     json.RawMessage      `json:"redirect_immediately"`
	RequirePhoneNumber      json.RawMessage      `json:"require_phone_number"`
	ShortLink               json.RawMessage      `json:"short_link"`
	ShowSavedPaymentMethods json.RawMessage      `json:"show_saved_payment_methods"`
	TaxID                   json.RawMessage      `json:"tax_id"`
}

// paymentCartRequest is the spec's OneTimeProductCartItemReq.
type paymentCartRequest struct {
	ProductID string          `json:"product_id"`
	Quantity  *int            `json:"quantity"`
	Amount    json.RawMessage `json:"amount"`
}

// createPayment is POST /payments, a one-time payment. With
// payment_method_id (a saved card of the existing customer named) the
// card is charged at once, as a one-click checkout is, and
// payment.succeeded or payment.failed follows. Without it the payment
// waits for the customer, requires_payment_method, behind payment_link,
// until POST /_standin/payments/{payment_id}/complete pays it. A new
// customer ({email, name}) is created. Subscription products are refused:
// POST /subscriptions is their route, which the stand-in does not serve.
func (s *Server) createPayment(r *http.Request) (any, error) {
	var req createPaymentRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	meta, err := parseMetadata(req.Metadata)
	if err != nil {
		return nil, err
	}
	if req.Customer == nil || (req.Customer.CustomerID == nil) == (req.Customer.Email == nil) {
		return nil, invalidf("customer: want either {customer_id} or {email, name?, phone_number?}")
	}
	if req.Billing == nil || !isCountry(req.Billing.Country) {
		return nil, invalidf("billing.country: want ISO 3166-1 alpha-2")
	}
	if req.PaymentMethodID != nil && req.Customer.CustomerID == nil {
		return nil, invalidf("payment_method_id needs an existing customer: customer {customer_id}")
	}
	items := make([]cartRequest, 0, len(req.ProductCart))
	for _, it := range req.ProductCart {
		items = append(items, cartRequest{ProductID: it.ProductID, Quantity: it.Quantity, Amount: it.Amount})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cart, currency, recurring, err := s.checkCart(items)
	if err != nil {
		return nil, err
	}
	if recurring != nil {
		return nil, invalidf("product %s is a subscription product; POST /payments takes one-time products", recurring.ID)
	}
	if req.BillingCurrency != nil && *req.BillingCurrency != currency {
		return nil, invalidf("billing_currency %s: the products are priced in %s", *req.BillingCurrency, currency)
	}
	discount, err := s.discountFor(req.DiscountCode, req.DiscountCodes)
	if err != nil {
		return nil, err
	}
	customer, card, err := s.checkoutPayer(*req.Customer, req.PaymentMethodID)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, it := range cart {
		total += s.products[it.ProductID].Price * int64(it.Quantity)
	}
	if total > maxAmount {
		return nil, invalidf("total %d exceeds the largest amount, %d", total, maxAmount)
	}
	if customer == nil {
		customer = s.newCustomer(*req.Customer)
	}
	b := req.Billing
	c := charge{
		customerID: customer.ID, card: card, amount: discount.apply(total), currency: currency, cart: cart,
		billing:  wire.BillingAddress{Country: b.Country, State: b.State, City: b.City, Street: b.Street, Zipcode: b.Zipcode},
		metadata: meta, discount: discount,
	}
	var p *payRec
	if card != nil {
		p = s.charge(c)
		s.out.enqueue([]event{s.paymentEvent(p)})
	} else {
		p = s.pendingPayment(c)
	}
	out := wire.OneTimePayment{
		PaymentID: p.ID, TotalAmount: p.TotalAmount, Customer: s.customerLimited(customer.ID), Metadata: metadataOf(meta),
		ClientSecret: "pi_secret_" + p.ID, ProductCart: []wire.OneTimeCartItemReq{},
	}
	for _, it := range cart {
		out.ProductCart = append(out.ProductCart, wire.OneTimeCartItemReq{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	if card == nil {
		out.PaymentLink = ptr("https://test.checkout.dodopayments.com/pay/" + p.ID)
		out.ExpiresOn = ptr(p.CreatedAt.Add(24 * time.Hour))
	}
	if discount != nil {
		out.DiscountIDs, out.DiscountID = []string{discount.ID}, &discount.ID
	}
	return out, nil
}

// pendingPayment records a payment that waits for the customer to pay
// (requires_payment_method): no card, no charge yet, no webhook. The caller
// holds s.mu.
func (s *Server) pendingPayment(c charge) *payRec {
	now := s.now()
	p := &payRec{
		Payment: Payment{
			ID: s.newID("pay"), Status: PaymentRequiresMethod, CustomerID: c.customerID, TotalAmount: c.amount,
			Currency: c.currency, ProductCart: c.cart, CreatedAt: now,
		},
		billing: c.billing, metadataRaw: c.metadata, updatedAt: now, discount: c.discount,
	}
	s.payments[p.ID] = p
	s.paymentsL = append(s.paymentsL, p)
	return p
}

// newCustomer creates the new customer a request describes
// ({email, name?, phone_number?}). The caller holds s.mu.
func (s *Server) newCustomer(req customerRequest) *customerRec {
	c := &customerRec{Customer: Customer{ID: s.newID("cus"), Email: *req.Email, Country: "US", CreatedAt: s.now()}}
	c.Name = c.Email
	if req.Name != nil && *req.Name != "" {
		c.Name = *req.Name
	}
	if req.PhoneNumber != nil {
		c.Phone = *req.PhoneNumber
	}
	s.customers[c.ID] = c
	return c
}
