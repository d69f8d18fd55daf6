package wire

// CustomerLimitedDetails is the customer embedded in a payment,
// subscription, refund or dispute (spec CustomerLimitedDetailsResponse).
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
