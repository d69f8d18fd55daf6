package wire

import "time"

// Customer is a customer as GET /customers/{customer_id} answers it (spec
// CustomerResponse).
type Customer struct {
	CustomerID  string    `json:"customer_id"`
	BusinessID  string    `json:"business_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	PhoneNumber *string   `json:"phone_number"`
	Metadata    Metadata  `json:"metadata"`
	CreatedAt   time.Time `json:"created_at"`
}

// CustomerLimitedDetails is the customer embedded in a payment,
// subscription, refund or dispute (spec CustomerLimitedDetailsResponse):
// a Customer without business_id and created_at.
type CustomerLimitedDetails struct {
	CustomerID  string   `json:"customer_id"`
	Email       string   `json:"email"`
	Name        string   `json:"name"`
	PhoneNumber *string  `json:"phone_number"`
	Metadata    Metadata `json:"metadata"`
}

// BillingAddress is a billing address (spec BillingAddress). Country is an
// ISO 3166-1 alpha-2 code.
type BillingAddress struct {
	Country string  `json:"country"`
	State   *string `json:"state"`
	City    *string `json:"city"`
	Street  *string `json:"street"`
	Zipcode *string `json:"zipcode"`
}

// CustomerPaymentMethod is one saved payment method of a customer, as GET
// /customers/{customer_id}/payment-methods lists it (spec
// CustomerPaymentMethodItem). The spec's own PaymentMethod schema is the
// enum in the PaymentMethod field, hence the longer name.
type CustomerPaymentMethod struct {
	PaymentMethodID string `json:"payment_method_id"`
	// PaymentMethod is the family: card, wallet, upi, bank_debit, ...
	PaymentMethod string `json:"payment_method"`
	// PaymentMethodType is the precise kind: credit, debit, apple_pay, ...
	PaymentMethodType *string      `json:"payment_method_type"`
	Card              *CardSummary `json:"card"`
	LastUsedAt        *time.Time   `json:"last_used_at"`
	// RecurringEnabled is whether the method may be charged off-session;
	// nil when Dodo does not say (open question Q3 of api-facts.md).
	RecurringEnabled *bool `json:"recurring_enabled"`
}

// CardSummary describes a saved card (spec
// CustomerPaymentMethodCardSummary); every field may be null.
type CardSummary struct {
	CardHolderName     *string `json:"card_holder_name"`
	CardIssuingCountry *string `json:"card_issuing_country"`
	CardNetwork        *string `json:"card_network"`
	CardType           *string `json:"card_type"`
	// ExpiryMonth and ExpiryYear are strings in the spec.
	ExpiryMonth *string `json:"expiry_month"`
	ExpiryYear  *string `json:"expiry_year"`
	Last4Digits *string `json:"last4_digits"`
}

// CustomerPortalSession is the answer to POST
// /customers/{customer_id}/customer-portal/session (spec
// CreateCustomerPortalSessionResponse): a link to the hosted portal.
type CustomerPortalSession struct {
	Link string `json:"link"`
}
