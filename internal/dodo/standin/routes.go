package standin

import "net/http"

// route is one route: a pattern of http.ServeMux and its handler.
type route struct {
	pattern string
	handle  func(*http.Request) (any, error)
}

// dodoRoutes are the routes of Dodo's API the stand-in serves.
func (s *Server) dodoRoutes() []route {
	return []route{
		{"POST /customers", s.createCustomer},
		{"GET /customers", s.listCustomers},
		{"GET /customers/{customer_id}", s.getCustomer},
		{"GET /customers/{customer_id}/payment-methods", s.listPaymentMethods},
		{"POST /customers/{customer_id}/customer-portal/session", s.createPortalSession},
		{"GET /products", s.listProducts},
		{"GET /products/{id}", s.getProduct},
		{"POST /payments", s.createPayment},
		{"GET /payments", s.listPayments},
		{"GET /payments/{payment_id}", s.getPayment},
		{"POST /refunds", s.createRefund},
		{"GET /refunds", s.listRefunds},
		{"GET /refunds/{refund_id}", s.getRefund},
		{"GET /subscriptions", s.listSubscriptions},
		{"GET /subscriptions/{subscription_id}", s.getSubscription},
		{"PATCH /subscriptions/{subscription_id}", s.patchSubscription},
		{"POST /subscriptions/{subscription_id}/charge", s.chargeSubscription},
		{"POST /checkouts", s.createCheckout},
		{"GET /checkouts/{id}", s.getCheckout},
		{"POST /subscriptions/{subscription_id}/change-plan/preview", s.previewChangePlan},
		{"POST /subscriptions/{subscription_id}/change-plan", s.changePlan},
		{"DELETE /subscriptions/{subscription_id}/change-plan/scheduled", s.cancelScheduledChange},
	}
}

// controlRoutes are the stand-in's own test-control routes (control.go):
// not Dodo's, and under /_standin/ to keep them apart.
func (s *Server) controlRoutes() []route {
	return []route{
		{"POST /_standin/customers/{customer_id}/payment-methods", s.addCard},
		{"POST /_standin/checkouts/{id}/complete", s.completeCheckout},
		{"POST /_standin/payments/{payment_id}/complete", s.completePayment},
		{"POST /_standin/discounts", s.addDiscount},
		{"GET /_standin/clock", s.getClock},
		{"POST /_standin/clock/advance", s.advanceClock},
		{"POST /_standin/renew", s.renewDue},
		{"POST /_standin/subscriptions/{subscription_id}/past_due", s.putPastDue},
		{"POST /_standin/subscriptions/{subscription_id}/recover", s.recoverSubscription},
		{"GET /_standin/webhooks/delivery", s.getDelivery},
		{"PUT /_standin/webhooks/delivery", s.setDelivery},
		{"POST /_standin/webhooks/release", s.releaseWebhooks},
		{"POST /_standin/faults", s.addFault},
		{"GET /_standin/ledger", s.getLedger},
		{"GET /_standin/calls", s.getCalls},
	}
}

// Handler returns the stand-in's HTTP API: Dodo's routes and the
// stand-in's own under /_standin/. Every route needs the bearer API key;
// anything else is 404 NOT_FOUND, as JSON.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range append(s.dodoRoutes(), s.controlRoutes()...) {
		mux.Handle(rt.pattern, s.api(rt.handle))
	}
	mux.Handle("/", s.api(notFound))
	return s.requireAPIKey(mux)
}
