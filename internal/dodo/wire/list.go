package wire

// List is one page of a page-number list endpoint (spec
// GetPaymentsListResponse, GetSubscriptionsListResponse,
// ListCustomerPaymentMethodsResponse, ...): an object wrapping the items,
// with no total and no has-more flag. An empty page ends the list.
type List[T any] struct {
	Items []T `json:"items"`
}
