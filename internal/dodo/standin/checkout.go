package standin

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// checkoutRequest is the spec's CreateCheckoutSessionRequest. Every field
// is listed so that decodeBody refuses only fields the spec does not have;
// the ones held as raw JSON are accepted and ignored.
type checkoutRequest struct {
	ProductCart             []cartRequest     `json:"product_cart"`
	Customer                json.RawMessage   `json:"customer"`
	PaymentMethodID         *string           `json:"payment_method_id"`
	Confirm                 bool              `json:"confirm"`
	BillingAddress          *billingRequest   `json:"billing_address"`
	MinimalAddress          bool              `json:"minimal_address"`
	BillingCurrency         *string           `json:"billing_currency"`
	Metadata                json.RawMessage   `json:"metadata"`
	FeatureFlags            *json.RawMessage  `json:"feature_flags"`
	ReturnURL               *string           `json:"return_url"`
	CancelURL               json.RawMessage   `json:"cancel_url"`
	AllowedPaymentMethods   json.RawMessage   `json:"allowed_payment_method_types"`
	CustomFields            json.RawMessage   `json:"custom_fields"`
	CustomerBusinessName    json.RawMessage   `json:"customer_business_name"`
	Customization           json.RawMessage   `json:"customization"`
	DiscountCode            *string           `json:"discount_code"`
	DiscountCodes           []string          `json:"discount_codes"`
	Force3DS                json.RawMessage   `json:"force_3ds"`
	MandateMinAmountINR     json.RawMessage   `json:"mandate_min_amount_inr_paise"`
	ProductCollectionID     json.RawMessage   `json:"product_collection_id"`
	ShortLink               json.RawMessage   `json:"short_link"`
	ShowSavedPaymentMethods json.RawMessage   `json:"show_saved_payment_methods"`
	SubscriptionData        *subscriptionData `json:"subscription_data"`
	TaxID                   json.RawMessage   `json:"tax_id"`
}

// subscriptionData is the spec's SubscriptionData.
type subscriptionData struct {
	TrialPeriodDays *int            `json:"trial_period_days"`
	OnDemand        json.RawMessage `json:"on_demand"`
}

// cartRequest is the spec's ProductItemReq.
type cartRequest struct {
	ProductID          string          `json:"product_id"`
	Quantity           *int            `json:"quantity"`
	Addons             json.RawMessage `json:"addons"`
	Amount             json.RawMessage `json:"amount"`
	CreditEntitlements json.RawMessage `json:"credit_entitlements"`
}

// billingRequest is the spec's CheckoutSessionBillingAddress.
type billingRequest struct {
	Country string  `json:"country"`
	State   *string `json:"state"`
	City    *string `json:"city"`
	Street  *string `json:"street"`
	Zipcode *string `json:"zipcode"`
}

// customerRequest is the spec's CustomerRequest: AttachExistingCustomer
// ({customer_id}) or NewCustomer ({email, name?, phone_number?}).
type customerRequest struct {
	CustomerID  *string `json:"customer_id"`
	Email       *string `json:"email"`
	Name        *string `json:"name"`
	PhoneNumber *string `json:"phone_number"`
}

// createCheckout is POST /checkouts.
//
// With payment_method_id (which needs confirm: true and an existing
// customer) it is a one-click charge: the payment is created at once and
// succeeds or fails by the card, the answer has payment_id and no
// checkout_url, and payment.succeeded or payment.failed is sent. A
// succeeded payment for a recurring product also creates the subscription
// and sends subscription.active (judgement: Dodo's exact events for a
// one-click subscription are not documented). Without payment_method_id it
// only hands out a checkout_url: nobody in the stand-in fills the form, so
// no payment follows.
func (s *Server) createCheckout(r *http.Request) (any, error) {
	req, cust, metadata, err := readCheckout(r)
	if err != nil {
		return nil, err
	}
	oneClick := req.PaymentMethodID != nil

	s.mu.Lock()
	defer s.mu.Unlock()
	cart, currency, recurring, err := s.checkCart(req.ProductCart)
	if err != nil {
		return nil, err
	}
	if req.BillingCurrency != nil && *req.BillingCurrency != currency {
		// Judgement: the stand-in has no adaptive pricing, so a billing
		// currency other than the products' is refused.
		return nil, invalidf("billing_currency %s: the products are priced in %s", *req.BillingCurrency, currency)
	}
	customer, card, err := s.checkoutPayer(cust, req.PaymentMethodID)
	if err != nil {
		return nil, err
	}
	discount, err := s.discountFor(req.DiscountCode, req.DiscountCodes)
	if err != nil {
		return nil, err
	}
	trial := 0
	if d := req.SubscriptionData; d != nil && d.TrialPeriodDays != nil {
		if *d.TrialPeriodDays < 0 || *d.TrialPeriodDays > 10000 {
			return nil, invalidf("subscription_data.trial_period_days %d: want 0 to 10000", *d.TrialPeriodDays)
		}
		trial = *d.TrialPeriodDays
	}
	var total int64
	for _, it := range cart {
		total += s.products[it.ProductID].Price * int64(it.Quantity)
	}
	if total > maxAmount {
		return nil, invalidf("total %d exceeds the largest amount, %d", total, maxAmount)
	}
	cs := s.newSession(customer, cust)
	cs.cart, cs.currency, cs.recurring, cs.metadata, cs.discount, cs.trialDays = cart, currency, recurring, metadata, discount, trial
	if b := req.BillingAddress; b != nil {
		cs.billing = &wire.BillingAddress{Country: b.Country, State: b.State, City: b.City, Street: b.Street, Zipcode: b.Zipcode}
	}
	out := wire.CheckoutSession{SessionID: cs.id}
	if !oneClick {
		out.CheckoutURL = ptr("https://test.checkout.dodopayments.com/session/" + cs.id)
		return out, nil
	}
	if p := s.paySession(cs, customer, card); p != nil {
		out.PaymentID = &p.ID
	}
	return out, nil
}

// paySession pays a checkout session with a card of customer: a one-click
// checkout at once, a fallback one when a test completes it. The discount
// comes off the total; a subscription with a trial starts without a
// payment (judgement: Dodo's checkout takes a mandate then, which the
// stand-in does not model) and paySession returns nil. The caller holds s.mu.
func (s *Server) paySession(cs *sessionRec, customer *customerRec, card *Card) *payRec {
	billing := wire.BillingAddress{Country: customer.Country, Zipcode: optional(customer.Zipcode)}
	if cs.billing != nil {
		billing = *cs.billing
	}
	if cs.recurring != nil && cs.trialDays > 0 {
		sub := s.startSubscription(customer.ID, cs.recurring, cs.cart[0].Quantity, card, billing, cs.metadata, cs.trialDays)
		s.out.enqueue([]event{s.subscriptionEvent("subscription.active", sub)})
		return nil
	}
	var total int64
	for _, it := range cs.cart {
		total += s.products[it.ProductID].Price * int64(it.Quantity)
	}
	p := s.chargeOneClick(charge{
		customerID: customer.ID, sessionID: cs.id, card: card, amount: cs.discount.apply(total), currency: cs.currency,
		cart: cs.cart, billing: billing, metadata: cs.metadata, discount: cs.discount,
	}, cs.recurring)
	cs.paymentID = p.ID
	return p
}

// readCheckout decodes and checks a POST /checkouts body: what can be
// refused before the stand-in's state is read.
func readCheckout(r *http.Request) (checkoutRequest, customerRequest, json.RawMessage, error) {
	var req checkoutRequest
	var cust customerRequest
	if err := decodeBody(r, &req); err != nil {
		return req, cust, nil, err
	}
	metadata, err := parseMetadata(req.Metadata)
	if err != nil {
		return req, cust, nil, err
	}
	if len(req.Customer) > 0 && string(req.Customer) != "null" {
		if err := json.Unmarshal(req.Customer, &cust); err != nil {
			return req, cust, nil, invalidf("customer: %v", err)
		}
		if (cust.CustomerID == nil) == (cust.Email == nil) {
			return req, cust, nil, invalidf("customer: want either {customer_id} or {email, name?, phone_number?}")
		}
	}
	oneClick := req.PaymentMethodID != nil
	if oneClick && !req.Confirm {
		return req, cust, nil, invalidf("payment_method_id is only allowed when confirm is true")
	}
	if oneClick && cust.CustomerID == nil {
		return req, cust, nil, invalidf("payment_method_id needs an existing customer: customer {customer_id}")
	}
	if req.Confirm {
		if err := checkBilling(req.BillingAddress, req.MinimalAddress); err != nil {
			return req, cust, nil, err
		}
	}
	return req, cust, metadata, nil
}

// checkoutPayer finds the existing customer a checkout names (nil for a
// new one) and, for a one-click checkout (pmID set), the saved card it
// charges. The caller holds s.mu.
func (s *Server) checkoutPayer(cust customerRequest, pmID *string) (*customerRec, *Card, error) {
	if cust.CustomerID == nil {
		return nil, nil, nil
	}
	customer, ok := s.customers[*cust.CustomerID]
	if !ok {
		return nil, nil, notFoundf("customer %s not found", *cust.CustomerID)
	}
	if pmID == nil {
		return customer, nil, nil
	}
	i := slices.IndexFunc(customer.cards, func(c *Card) bool { return c.ID == *pmID })
	if i < 0 {
		return nil, nil, invalidf("payment method %s is not a saved payment method of customer %s", *pmID, customer.ID)
	}
	card := customer.cards[i]
	if card.RecurringEnabled != nil && !*card.RecurringEnabled {
		// Judgement: a card saved without recurring consent cannot be
		// charged off-session; Dodo does not say what it answers.
		return nil, nil, errorf(http.StatusUnprocessableEntity, "NO_ELIGIBLE_PAYMENT_METHODS",
			"payment method %s is not enabled for off-session charges (recurring_enabled is false)", card.ID)
	}
	return customer, card, nil
}

// newSession records a checkout session for an existing customer or the
// new one the request describes. The caller holds s.mu.
func (s *Server) newSession(customer *customerRec, cust customerRequest) *sessionRec {
	cs := &sessionRec{id: s.newID("cks"), createdAt: s.now()}
	s.sessions[cs.id] = cs
	if customer != nil {
		cs.customerID, cs.email, cs.name = customer.ID, customer.Email, customer.Name
	} else if cust.Email != nil {
		cs.email = *cust.Email
		if cust.Name != nil {
			cs.name = *cust.Name
		}
		if cust.PhoneNumber != nil {
			cs.phone = *cust.PhoneNumber
		}
	}
	return cs
}

// chargeOneClick charges the saved card and queues the webhooks: a
// succeeded payment for a recurring product also creates the subscription
// and sends subscription.active. The caller holds s.mu.
func (s *Server) chargeOneClick(c charge, recurring *Product) *payRec {
	p := s.charge(c)
	if recurring == nil || p.Status != PaymentSucceeded {
		s.out.enqueue([]event{s.paymentEvent(p)})
		return p
	}
	sub := s.startSubscription(c.customerID, recurring, c.cart[0].Quantity, c.card, c.billing, c.metadata, 0)
	p.SubscriptionID = sub.ID
	s.out.enqueue([]event{s.paymentEvent(p), s.subscriptionEvent("subscription.active", sub)})
	return p
}

// startSubscription creates an active subscription whose first period
// starts now, or whose trial of trialDays does (next_billing_date ends
// it). The caller holds s.mu.
func (s *Server) startSubscription(customerID string, p *Product, qty int, card *Card, billing wire.BillingAddress, metadata json.RawMessage, trialDays int) *subRec {
	now := s.now()
	end := addInterval(now, p.Interval, p.IntervalCount)
	if trialDays > 0 {
		end = now.AddDate(0, 0, trialDays)
	}
	sub := &subRec{Subscription: Subscription{
		ID: s.newID("sub"), CustomerID: customerID, ProductID: p.ID, Quantity: qty,
		PaymentMethodID: card.ID, PeriodStart: now, PeriodEnd: end, Status: StatusActive, CreatedAt: now,
	}, metadata: metadata, billing: &billing, trialDays: trialDays}
	s.subs[sub.ID] = sub
	return sub
}

// checkBilling checks the billing address a confirmed checkout needs: every
// field, or with minimal_address only country and zipcode (the docs'
// checkout-session guide).
func checkBilling(b *billingRequest, minimal bool) error {
	if b == nil {
		return invalidf("billing_address is required when confirm is true")
	}
	if !isCountry(b.Country) {
		return invalidf("billing_address.country %q: want ISO 3166-1 alpha-2", b.Country)
	}
	missing := func(p *string) bool { return p == nil || *p == "" }
	if missing(b.Zipcode) {
		return invalidf("billing_address.zipcode is required when confirm is true")
	}
	if !minimal && (missing(b.Street) || missing(b.City) || missing(b.State)) {
		return invalidf("billing_address needs street, city, state and zipcode when confirm is true, unless minimal_address is true")
	}
	return nil
}

// checkCart checks a product cart and returns it with its currency and its
// recurring product, if it has one. The caller holds s.mu.
//
// Judgement: a cart holds one-time products, or exactly one recurring
// product (Dodo allows mixing them; the stand-in does not model it), all in
// one currency (there is no adaptive pricing here).
func (s *Server) checkCart(items []cartRequest) (cart []CartItem, currency string, recurring *Product, err error) {
	if len(items) == 0 {
		return nil, "", nil, invalidf("product_cart is empty")
	}
	var total int64
	for i, it := range items {
		p, ok := s.products[it.ProductID]
		if !ok {
			return nil, "", nil, notFoundf("product %s not found", it.ProductID)
		}
		if it.Quantity == nil || *it.Quantity < 1 || *it.Quantity > maxAmount {
			return nil, "", nil, invalidf("product_cart[%d].quantity: want 1 to %d", i, maxAmount)
		}
		// Summed as it goes, so that no total overflows: each line is at
		// most maxAmount², the running total at most maxAmount.
		if total += p.Price * int64(*it.Quantity); total > maxAmount {
			return nil, "", nil, invalidf("total exceeds the largest amount, %d", maxAmount)
		}
		if len(it.Addons) > 0 && string(it.Addons) != "null" && string(it.Addons) != "[]" {
			return nil, "", nil, invalidf("product_cart[%d].addons: product %s has no addons", i, p.ID)
		}
		if currency != "" && p.Currency != currency {
			return nil, "", nil, invalidf("product_cart mixes currencies: %s and %s", currency, p.Currency)
		}
		currency = p.Currency
		if p.Recurring {
			if len(items) > 1 {
				return nil, "", nil, invalidf("product_cart: a subscription product must be alone in the stand-in's cart")
			}
			recurring = p
		}
		cart = append(cart, CartItem{ProductID: p.ID, Quantity: *it.Quantity})
	}
	return cart, currency, recurring, nil
}
