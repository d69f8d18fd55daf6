package dodo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
)

// CreateCheckout creates a checkout session (POST /checkouts).
//
// A request with a saved payment method (PaymentMethodID, with Confirm and
// an existing customer: the one-click form) charges the customer at once,
// and so does any confirmed request; it needs an IdempotencyKey, which the
// client writes into the metadata under IdempotencyMetadataKey. It is never
// retried blindly (Dodo has no idempotency key): when an attempt fails with
// its outcome open (a timeout, a broken connection, a 408, 429 or 5xx, or a
// 2xx whose body cannot be read), the client lists the customer's payments
// created since just before the attempt (all pages, bounded) and looks for
// one carrying the key. Found, it returns a CheckoutSession with that
// PaymentID and Recovered set. Not found, it makes one more attempt only
// after a 429 or a failed dial, where Dodo surely did not act; otherwise it
// returns an error wrapping ErrAmbiguous.
//
// A request without Confirm (the fallback form: a link to Dodo's checkout
// page) moves no money when it is created, and a duplicate session is never
// paid because only one link is handed out, so it is retried like a read.
func (c *Client) CreateCheckout(ctx context.Context, req CheckoutRequest) (CheckoutSession, error) {
	const ep = "POST /checkouts"
	var s CheckoutSession
	body, money, err := req.encode()
	if err != nil {
		return s, fault.Permanent(fmt.Errorf("dodo %s: %w", ep, err))
	}
	r := request{endpoint: ep, method: http.MethodPost, path: "/checkouts", body: body}
	if !money {
		err := c.do(ctx, r, &s)
		return s, err
	}

	since := c.now().Add(-lookupSkew)
	var hit wire.Payment
	look := func(ctx context.Context) (bool, error) {
		p, ok, err := c.findPayment(ctx, req.Customer.CustomerID, req.IdempotencyKey, since)
		hit = p
		return ok, err
	}
	resp, recovered, err := c.sendMoney(ctx, r, look)
	switch {
	case err != nil:
		return s, err
	case recovered:
		return recoveredSession(hit), nil
	}
	if derr := decode(r, resp, &s); derr != nil {
		// Dodo accepted the request but its answer is unreadable: find
		// the payment rather than report a failure that did not happen.
		found, lerr := c.lookUp(ctx, look)
		switch {
		case lerr != nil:
			return CheckoutSession{}, ambiguous(derr, fmt.Errorf("the lookup failed: %w", lerr))
		case !found:
			return CheckoutSession{}, ambiguous(derr, errors.New("the lookup found nothing"))
		}
		return recoveredSession(hit), nil
	}
	return s, nil
}

// FindPayment looks among the customer's payments created since since for
// one whose metadata carries key under IdempotencyMetadataKey: what became
// of a money-moving request whose answer this process never saw (it
// crashed, or its caller gave up). A read, retried like one.
func (c *Client) FindPayment(ctx context.Context, customerID, key string, since time.Time) (wire.Payment, bool, error) {
	if customerID == "" || key == "" {
		return wire.Payment{}, false, fault.Permanent(errors.New("dodo: find payment: customer id and key are required"))
	}
	return c.findPayment(ctx, customerID, key, since)
}

func recoveredSession(p wire.Payment) CheckoutSession {
	id := p.PaymentID
	s := CheckoutSession{CheckoutSession: wire.CheckoutSession{PaymentID: &id}, Recovered: true}
	if p.CheckoutSessionID != nil {
		s.SessionID = *p.CheckoutSessionID
	}
	return s
}

// findPayment looks among the customer's payments created since since for
// the one whose metadata carries key under IdempotencyMetadataKey.
func (c *Client) findPayment(ctx context.Context, customerID, key string, since time.Time) (wire.Payment, bool, error) {
	var hit wire.Payment
	var found bool
	p := ListPaymentsParams{CustomerID: customerID, CreatedAtGte: &since, PageSize: 100}
	_, err := c.listPages(ctx, p, lookupMaxPages, func(page []wire.Payment) bool {
		for _, p := range page {
			if v, _ := p.Metadata.Text(IdempotencyMetadataKey); v == key {
				hit, found = p, true
				return true
			}
		}
		return false
	})
	if found {
		return hit, true, nil
	}
	return wire.Payment{}, false, err
}

// encode validates the request, writes the idempotency key into the
// metadata (of a copy) and returns the JSON body, and whether the request
// can move money.
func (req CheckoutRequest) encode() (body []byte, money bool, err error) {
	if len(req.ProductCart) == 0 {
		return nil, false, errors.New("product_cart is empty")
	}
	for i, it := range req.ProductCart {
		if it.ProductID == "" || it.Quantity < 1 {
			return nil, false, fmt.Errorf("product_cart[%d]: want a product_id and a quantity of at least 1", i)
		}
		if err := checkAddons(it.Addons); err != nil {
			return nil, false, fmt.Errorf("product_cart[%d]: %w", i, err)
		}
	}
	if req.Customer != nil {
		if err := req.Customer.validate(); err != nil {
			return nil, false, err
		}
	}
	if req.BillingAddress != nil && req.BillingAddress.Country == "" {
		return nil, false, errors.New("billing_address: country is required")
	}
	if req.PaymentMethodID != "" && !req.Confirm {
		return nil, false, errors.New("payment_method_id is only allowed with confirm: true")
	}
	money = req.Confirm
	if money {
		if req.Customer == nil || req.Customer.CustomerID == "" {
			return nil, false, errors.New("a confirmed checkout needs an existing customer (customer_id): a charge whose answer is lost is found among that customer's payments")
		}
		if req.IdempotencyKey == "" {
			return nil, false, errors.New("a confirmed checkout needs an IdempotencyKey: without it a charge whose answer is lost cannot be found")
		}
	}
	if req.IdempotencyKey != "" {
		if v, ok := req.Metadata[IdempotencyMetadataKey]; ok {
			if s, isText := req.Metadata.Text(IdempotencyMetadataKey); !isText || s != req.IdempotencyKey {
				return nil, false, fmt.Errorf("metadata %q is %v, IdempotencyKey is %q", IdempotencyMetadataKey, v, req.IdempotencyKey)
			}
		}
		m := maps.Clone(req.Metadata)
		if m == nil {
			m = wire.Metadata{}
		}
		m[IdempotencyMetadataKey] = wire.StringValue(req.IdempotencyKey)
		req.Metadata = m
	}
	if err := validateMetadata(req.Metadata); err != nil {
		return nil, false, err
	}
	body, err = json.Marshal(req)
	return body, money, err
}

func checkAddons(addons []AddonRequest) error {
	for i, a := range addons {
		if a.AddonID == "" || a.Quantity < 1 {
			return fmt.Errorf("addons[%d]: want an addon_id and a quantity of at least 1", i)
		}
	}
	return nil
}

// OneClick describes a one-click charge: an existing customer's saved
// payment method charged at once, without a checkout page.
type OneClick struct {
	CustomerID      string
	PaymentMethodID string
	ProductID       string
	// Quantity defaults to 1.
	Quantity int
	// Country (ISO alpha-2) and Zipcode are the billing address: with
	// minimal_address they are all a confirmed session requires.
	Country string
	Zipcode string
	// ReturnURL is where a customer who must act (3DS) comes back to.
	ReturnURL      string
	Metadata       wire.Metadata
	IdempotencyKey string
}

// OneClickCheckout builds the one-click form of CheckoutRequest: the
// existing customer, payment_method_id, confirm: true, a minimal billing
// address (country and zipcode, minimal_address: true),
// feature_flags.redirect_immediately and the metadata.
func OneClickCheckout(o OneClick) CheckoutRequest {
	return CheckoutRequest{
		ProductCart:     []ProductItem{{ProductID: o.ProductID, Quantity: quantityOrOne(o.Quantity)}},
		Customer:        ExistingCustomer(o.CustomerID),
		PaymentMethodID: o.PaymentMethodID,
		Confirm:         true,
		BillingAddress:  &CheckoutBillingAddress{Country: o.Country, Zipcode: optional(o.Zipcode)},
		MinimalAddress:  true,
		ReturnURL:       o.ReturnURL,
		FeatureFlags:    &FeatureFlags{RedirectImmediately: true},
		Metadata:        maps.Clone(o.Metadata),
		IdempotencyKey:  o.IdempotencyKey,
	}
}

// Fallback describes a standard checkout link, for a customer without a
// usable saved method or whose one-click charge failed: the customer
// enters a payment method on Dodo's page.
type Fallback struct {
	// CustomerID attaches an existing customer; else Email (and Name)
	// identify a new one.
	CustomerID string
	Email      string
	Name       string
	ProductID  string
	// Quantity defaults to 1.
	Quantity int
	// Country and Zipcode, if known, prefill the billing address.
	Country   string
	Zipcode   string
	ReturnURL string
	CancelURL string
	// ShowSavedPaymentMethods offers the customer's saved methods on the
	// page too.
	ShowSavedPaymentMethods bool
	Metadata                wire.Metadata
	// IdempotencyKey, if set, is written into the metadata like a
	// one-click charge's, so the payment made on the page carries it.
	IdempotencyKey string
}

// FallbackCheckout builds the fallback form of CheckoutRequest: no saved
// method and no confirm, so Dodo returns a checkout_url to send the
// customer to.
func FallbackCheckout(f Fallback) CheckoutRequest {
	req := CheckoutRequest{
		ProductCart:             []ProductItem{{ProductID: f.ProductID, Quantity: quantityOrOne(f.Quantity)}},
		ReturnURL:               f.ReturnURL,
		CancelURL:               f.CancelURL,
		ShowSavedPaymentMethods: f.ShowSavedPaymentMethods,
		Metadata:                maps.Clone(f.Metadata),
		IdempotencyKey:          f.IdempotencyKey,
	}
	if f.CustomerID != "" {
		req.Customer = ExistingCustomer(f.CustomerID)
	} else if f.Email != "" {
		req.Customer = NewCustomer(f.Email, f.Name)
	}
	if f.Country != "" {
		req.BillingAddress = &CheckoutBillingAddress{Country: f.Country, Zipcode: optional(f.Zipcode)}
	}
	if f.ReturnURL != "" {
		req.FeatureFlags = &FeatureFlags{RedirectImmediately: true}
	}
	return req
}

func quantityOrOne(q int) int {
	if q == 0 {
		return 1
	}
	return q
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
