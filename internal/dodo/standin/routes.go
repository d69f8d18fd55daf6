package standin

import "net/http"

// Handler returns the stand-in's HTTP API: Dodo's routes, then the
// stand-in's own test-control routes under /_standin/ (control.go), which
// are not Dodo's. Every route needs the bearer API key; anything else is
// 404 NOT_FOUND, as JSON.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /customers", s.api(s.createCustomer))
	mux.Handle("GET /customers", s.api(s.listCustomers))
	mux.Handle("GET /customers/{customer_id}", s.api(s.getCustomer))
	mux.Handle("GET /customers/{customer_id}/payment-methods", s.api(s.listPaymentMethods))
	mux.Handle("POST /customers/{customer_id}/customer-portal/session", s.api(s.createPortalSession))
	mux.Handle("GET /products", s.api(s.listProducts))
	mux.Handle("GET /products/{id}", s.api(s.getProduct))
	mux.Handle("POST /payments", s.api(s.createPayment))
	mux.Handle("GET /payments", s.api(s.listPayments))
	mux.Handle("GET /payments/{payment_id}", s.api(s.getPayment))
	mux.Handle("POST /refunds", s.api(s.createRefund))
	mux.Handle("GET /subscriptions", s.api(s.listSubscriptions))
	mux.Handle("GET /subscriptions/{subscription_id}", s.api(s.getSubscription))
	mux.Handle("PATCH /subscriptions/{subscription_id}", s.api(s.patchSubscription))
	mux.Handle("POST /subscriptions/{subscription_id}/charge", s.api(s.chargeSubscription))
	mux.Handle("POST /checkouts", s.api(s.createCheckout))
	mux.Handle("GET /checkouts/{id}", s.api(s.getCheckout))
	mux.Handle("POST /subscriptions/{subscription_id}/change-plan/preview", s.api(s.previewChangePlan))
	mux.Handle("POST /subscriptions/{subscription_id}/change-plan", s.api(s.changePlan))
	mux.Handle("DELETE /subscriptions/{subscription_id}/change-plan/scheduled", s.api(s.cancelScheduledChange))

	mux.Handle("POST /_standin/customers/{customer_id}/payment-methods", s.api(s.addCard))
	mux.Handle("POST /_standin/checkouts/{id}/complete", s.api(s.completeCheckout))
	mux.Handle("POST /_standin/payments/{payment_id}/complete", s.api(s.completePayment))
	mux.Handle("POST /_standin/discounts", s.api(s.addDiscount))
	mux.Handle("GET /_standin/clock", s.api(s.getClock))
	mux.Handle("POST /_standin/clock/advance", s.api(s.advanceClock))
	mux.Handle("POST /_standin/renew", s.api(s.renewDue))
	mux.Handle("GET /_standin/webhooks/delivery", s.api(s.getDelivery))
	mux.Handle("PUT /_standin/webhooks/delivery", s.api(s.setDelivery))
	mux.Handle("POST /_standin/webhooks/release", s.api(s.releaseWebhooks))
	mux.Handle("GET /_standin/ledger", s.api(s.getLedger))
	mux.Handle("/", s.api(notFound))
	return s.requireAPIKey(mux)
}
