package standin

import "net/http"

// Handler returns the stand-in's HTTP API. Every route needs the bearer API
// key; anything else is 404 NOT_FOUND, as JSON.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /customers/{customer_id}", s.api(s.getCustomer))
	mux.Handle("GET /customers/{customer_id}/payment-methods", s.api(s.listPaymentMethods))
	mux.Handle("GET /products/{id}", s.api(s.getProduct))
	mux.Handle("GET /payments", s.api(s.listPayments))
	mux.Handle("GET /payments/{payment_id}", s.api(s.getPayment))
	mux.Handle("GET /subscriptions", s.api(s.listSubscriptions))
	mux.Handle("GET /subscriptions/{subscription_id}", s.api(s.getSubscription))
	mux.Handle("POST /checkouts", s.api(s.createCheckout))
	mux.Handle("GET /checkouts/{id}", s.api(s.getCheckout))
	mux.Handle("POST /subscriptions/{subscription_id}/change-plan/preview", s.api(s.previewChangePlan))
	mux.Handle("POST /subscriptions/{subscription_id}/change-plan", s.api(s.changePlan))
	mux.Handle("DELETE /subscriptions/{subscription_id}/change-plan/scheduled", s.api(s.cancelScheduledChange))
	mux.Handle("/", s.api(notFound))
	return s.requireAPIKey(mux)
}
