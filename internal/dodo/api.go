package dodo

import "context"

// API is what offerflow's worker needs from Dodo. The worker owns this
// contract (it lives here until the worker takes it); *Client implements it
// over HTTP, and tests or the stand-in can implement it in memory.
type API interface {
	// ListPaymentMethods returns a customer's saved payment methods.
	ListPaymentMethods(ctx context.Context, customerID string) ([]PaymentMethod, error)
	// GetProduct returns a product; its currency is Price.Currency.
	GetProduct(ctx context.Context, productID string) (Product, error)
	// GetCustomer returns a customer.
	GetCustomer(ctx context.Context, customerID string) (Customer, error)
	// GetPayment returns a payment.
	GetPayment(ctx context.Context, paymentID string) (Payment, error)
	// GetSubscription returns a subscription.
	GetSubscription(ctx context.Context, subscriptionID string) (Subscription, error)
	// ListPayments returns one page of payments.
	ListPayments(ctx context.Context, p ListPaymentsParams) ([]Payment, error)
	// ListAllPayments returns every page of payments from p.PageNumber on,
	// within a bound.
	ListAllPayments(ctx context.Context, p ListPaymentsParams) ([]Payment, error)
	// CreateCheckout creates a checkout session; with a saved payment
	// method it charges it at once, and is never retried blindly.
	CreateCheckout(ctx context.Context, req CheckoutRequest) (CheckoutSession, error)
	// PreviewChangePlan returns what a plan change would charge.
	PreviewChangePlan(ctx context.Context, subscriptionID string, req ChangePlanRequest) (ChangePlanPreview, error)
	// ChangePlan changes a subscription's plan; it is never retried
	// blindly.
	ChangePlan(ctx context.Context, subscriptionID string, req ChangePlanRequest) error
}
