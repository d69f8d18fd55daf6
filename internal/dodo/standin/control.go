package standin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// The test-control routes live under /_standin/: they are the stand-in's,
// not Dodo's, and a Dodo client never calls them. They take the same API
// key and answer errors in Dodo's {"code","message"} shape. They make
// reachable over HTTP what a merchant's test needs and Dodo does only
// through its hosted pages or its clock: saving a card, paying a checkout
// or a payment, moving time, and breaking webhook delivery on purpose.

// testCards are the named test cards of POST
// /_standin/customers/{customer_id}/payment-methods.
var testCards = map[string]string{
	"success":            "4242424242424242",
	"decline":            "4000000000000002",
	"insufficient_funds": "4000000000009995",
	"3ds":                "4000002500003155",
	"expired":            "4242424242424242", // with an expiry in the past
}

// cardRequest is the card of the test routes: a named test card, or a full
// number with an expiry.
type cardRequest struct {
	TestCard         *string `json:"test_card"`
	CardNumber       *string `json:"card_number"`
	ExpMonth         *int    `json:"exp_month"`
	ExpYear          *int    `json:"exp_year"`
	HolderName       *string `json:"holder_name"`
	Network          *string `json:"network"`
	Type             *string `json:"type"`
	IssuingCountry   *string `json:"issuing_country"`
	RecurringEnabled *bool   `json:"recurring_enabled"`
}

// card turns the request into a Card. A named card expires at the end of
// five years from now, "expired" at the end of last year.
func (c cardRequest) card(now time.Time) (Card, error) {
	card := Card{ExpMonth: 12, ExpYear: now.Year() + 5, RecurringEnabled: c.RecurringEnabled}
	switch {
	case c.TestCard != nil && c.CardNumber != nil:
		return card, invalidf("test_card and card_number: give one")
	case c.TestCard != nil:
		n, ok := testCards[*c.TestCard]
		if !ok {
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range testCards {
					if !yield(k) {
						return
					}
				}
			})
			return card, invalidf("test_card %q: want one of %s", *c.TestCard, strings.Join(names, ", "))
		}
		card.Number = n
		if *c.TestCard == "expired" {
			card.ExpYear = now.Year() - 1
		}
	case c.CardNumber != nil:
		card.Number = strings.ReplaceAll(*c.CardNumber, " ", "")
	default:
		card.Number = testCards["success"]
	}
	if c.ExpMonth != nil {
		card.ExpMonth = *c.ExpMonth
	}
	if c.ExpYear != nil {
		card.ExpYear = *c.ExpYear
	}
	for _, f := range []struct{ src, dst *string }{
		{c.HolderName, &card.HolderName}, {c.Network, &card.Network}, {c.Type, &card.Type}, {c.IssuingCountry, &card.IssuingCountry},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if card.Type != "" && card.Type != "CREDIT" && card.Type != "DEBIT" {
		return card, invalidf("type %q: want CREDIT or DEBIT", card.Type)
	}
	return card, nil
}

// addCard is POST /_standin/customers/{customer_id}/payment-methods: saves
// a card as a customer's payment method, as paying on Dodo's hosted
// checkout would, and answers it as GET .../payment-methods lists it.
func (s *Server) addCard(r *http.Request) (any, error) {
	var req cardRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	card, err := req.card(s.now())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, known := s.customers[r.PathValue("customer_id")]
	s.mu.Unlock()
	if !known { // customers are never deleted, so it is still there below
		return nil, notFoundf("customer %s not found", r.PathValue("customer_id"))
	}
	id, err := s.AddPaymentMethod(r.PathValue("customer_id"), card)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	saved, _ := s.findCard(id)
	return paymentMethod(saved), nil
}

// payRequest says how a test pays a checkout session or a payment: a saved
// card of the customer's, or a card to save and charge.
type payRequest struct {
	PaymentMethodID *string      `json:"payment_method_id"`
	Card            *cardRequest `json:"card"`
	// Authenticated is the customer's answer to a 3-D Secure challenge
	// (POST /_standin/payments/{payment_id}/complete); default true.
	Authenticated *bool `json:"authenticated"`
}

// payingCard finds or saves the card a payRequest names for customer. The
// caller holds s.mu.
func (s *Server) payingCard(customer *customerRec, req payRequest) (*Card, error) {
	if req.PaymentMethodID != nil {
		if req.Card != nil {
			return nil, invalidf("payment_method_id and card: give one")
		}
		i := slices.IndexFunc(customer.cards, func(c *Card) bool { return c.ID == *req.PaymentMethodID })
		if i < 0 {
			return nil, invalidf("payment method %s is not a saved payment method of customer %s", *req.PaymentMethodID, customer.ID)
		}
		return customer.cards[i], nil
	}
	var cr cardRequest
	if req.Card != nil {
		cr = *req.Card
	}
	card, err := cr.card(s.now())
	if err != nil {
		return nil, err
	}
	if err := checkCard(card); err != nil {
		return nil, invalidf("card: %v", err)
	}
	card.Network = cmp.Or(card.Network, "VISA")
	card.Type = cmp.Or(card.Type, "CREDIT")
	card.ID = s.newID("pm")
	customer.cards = append(customer.cards, &card)
	s.cardOwner[card.ID] = customer
	return &card, nil
}

// completeCheckout is POST /_standin/checkouts/{id}/complete: the customer
// pays a fallback checkout session on Dodo's hosted page. The session's
// new customer, if it named one by email, is created; the card is saved
// for the customer and charged, with the session's discount, and the
// webhooks follow as for a one-click checkout (a subscription with a trial
// starts without a payment). Answers the session's status.
func (s *Server) completeCheckout(r *http.Request) (any, error) {
	var req payRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.sessions[r.PathValue("id")]
	if !ok {
		return nil, notFoundf("checkout session %s not found", r.PathValue("id"))
	}
	if cs.paymentID != "" || cs.completed {
		return nil, errorf(http.StatusConflict, "CHECKOUT_SESSION_CONSUMED", "checkout session %s is already paid", cs.id)
	}
	customer := s.customers[cs.customerID]
	if customer == nil {
		if cs.email == "" {
			return nil, invalidf("checkout session %s names no customer; the stand-in's hosted page asks for none", cs.id)
		}
		customer = s.newCustomer(customerRequest{Email: &cs.email, Name: optional(cs.name), PhoneNumber: optional(cs.phone)})
		cs.customerID = customer.ID
	}
	card, err := s.payingCard(customer, req)
	if err != nil {
		return nil, err
	}
	cs.completed = true
	s.paySession(cs, customer, card)
	return s.checkoutStatus(cs), nil
}

// completePayment is POST /_standin/payments/{payment_id}/complete: the
// customer finishes a payment that waits for them. A 3-D Secure payment
// (requires_customer_action) succeeds, or fails with
// AUTHENTICATION_FAILED when authenticated is false; a payment of POST
// /payments without a card (requires_payment_method) is charged to the
// card given. Answers the payment.
func (s *Server) completePayment(r *http.Request) (any, error) {
	var req payRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[r.PathValue("payment_id")]
	if !ok {
		return nil, notFoundf("payment %s not found", r.PathValue("payment_id"))
	}
	now := s.now()
	switch p.Status {
	case PaymentRequiresAction:
		if req.Authenticated != nil && !*req.Authenticated {
			p.Status, p.ErrorCode, p.ErrorMessage = PaymentFailed, "AUTHENTICATION_FAILED", "The customer failed 3-D Secure authentication"
			break
		}
		p.Status = PaymentSucceeded
		p.card.LastUsedAt = now
		// A one-click purchase of a subscription product starts the
		// subscription once its payment succeeds, as it does at once
		// for a card without 3-D Secure.
		if cs := s.sessions[p.CheckoutSessionID]; cs != nil && cs.recurring != nil && p.SubscriptionID == "" {
			p.updatedAt = now
			sub := s.startSubscription(p.CustomerID, cs.recurring, cs.cart[0].Quantity, p.card, p.billing, p.metadataRaw, 0)
			p.SubscriptionID = sub.ID
			s.out.enqueue([]event{s.paymentEvent(p), s.subscriptionEvent("subscription.active", sub)})
			return s.payment(p), nil
		}
	case PaymentRequiresMethod:
		card, err := s.payingCard(s.customers[p.CustomerID], req)
		if err != nil {
			return nil, err
		}
		status, code, msg := cardOutcome(card, now)
		p.Status, p.ErrorCode, p.ErrorMessage, p.card, p.PaymentMethodID = status, code, msg, card, card.ID
		if status == PaymentSucceeded {
			card.LastUsedAt = now
		}
		s.charges[p.CustomerID]++
	default:
		return nil, errorf(http.StatusConflict, "PAYMENT_NOT_PENDING", "payment %s is %s; nothing to complete", p.ID, p.Status)
	}
	p.updatedAt = now
	s.out.enqueue([]event{s.paymentEvent(p)})
	return s.payment(p), nil
}

// clockRequest moves the clock: by seconds, or to a time.
type clockRequest struct {
	Seconds *int64  `json:"seconds"`
	To      *string `json:"to"`
}

// clockAnswer is the answer of the clock routes.
type clockAnswer struct {
	Now     time.Time `json:"now"`
	Renewed int       `json:"renewed"`
}

// maxAdvance bounds one move of the clock: every daily subscription
// renews once per day moved, all within the request.
const maxAdvance = 5 * 366 * 24 * time.Hour

// advanceClock is POST /_standin/clock/advance: moves the stand-in's clock
// forward and renews the subscriptions now due (RenewDue).
func (s *Server) advanceClock(r *http.Request) (any, error) {
	var req clockRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	var d time.Duration
	switch {
	case (req.Seconds == nil) == (req.To == nil):
		return nil, invalidf("want seconds or to")
	case req.Seconds != nil:
		if *req.Seconds < 0 || *req.Seconds > int64(maxAdvance/time.Second) {
			return nil, invalidf("seconds %d: want 0 to %d (five years)", *req.Seconds, int64(maxAdvance/time.Second))
		}
		d = time.Duration(*req.Seconds) * time.Second
	default:
		t, err := time.Parse(time.RFC3339Nano, *req.To)
		if err != nil {
			return nil, invalidf("to %q: want an RFC 3339 date-time", *req.To)
		}
		if d = t.Sub(s.now()); d < 0 || d > maxAdvance {
			return nil, invalidf("to %s: want a time from the stand-in's now, %s, to five years later", t.Format(time.RFC3339), s.now().Format(time.RFC3339))
		}
	}
	n, err := s.Advance(d)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return clockAnswer{Now: s.now(), Renewed: n}, nil
}

// getClock is GET /_standin/clock.
func (s *Server) getClock(*http.Request) (any, error) { return clockAnswer{Now: s.now()}, nil }

// renewDue is POST /_standin/renew: RenewDue without moving the clock.
func (s *Server) renewDue(*http.Request) (any, error) {
	return clockAnswer{Now: s.now(), Renewed: s.RenewDue()}, nil
}

// deliveryRequest is the body of PUT /_standin/webhooks/delivery: the
// Delivery fields, delay in milliseconds.
type deliveryRequest struct {
	Duplicate     bool  `json:"duplicate"`
	DuplicateNext int   `json:"duplicate_next"`
	Reorder       bool  `json:"reorder"`
	Hold          bool  `json:"hold"`
	DelayMS       int64 `json:"delay_ms"`
	FailNext      int   `json:"fail_next"`
}

// deliveryAnswer is the delivery settings and the queue's length.
type deliveryAnswer struct {
	deliveryRequest
	Queued int `json:"queued"`
}

func (s *Server) deliveryAnswer() deliveryAnswer {
	d, n := s.out.deliverySettings()
	return deliveryAnswer{deliveryRequest{
		Duplicate: d.Duplicate, DuplicateNext: d.DuplicateNext, Reorder: d.Reorder, Hold: d.Hold,
		DelayMS: d.Delay.Milliseconds(), FailNext: d.FailNext,
	}, n}
}

// setDelivery is PUT /_standin/webhooks/delivery: replaces the delivery
// settings (SetDelivery); an empty body {} restores the default.
func (s *Server) setDelivery(r *http.Request) (any, error) {
	var req deliveryRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.DelayMS < 0 || req.DelayMS > 60_000 || req.FailNext < 0 || req.DuplicateNext < 0 {
		return nil, invalidf("delay_ms 0 to 60000, fail_next and duplicate_next >= 0")
	}
	s.SetDelivery(Delivery{
		Duplicate: req.Duplicate, DuplicateNext: req.DuplicateNext, Reorder: req.Reorder, Hold: req.Hold,
		Delay: time.Duration(req.DelayMS) * time.Millisecond, FailNext: req.FailNext,
	})
	return s.deliveryAnswer(), nil
}

// getDelivery is GET /_standin/webhooks/delivery.
func (s *Server) getDelivery(*http.Request) (any, error) { return s.deliveryAnswer(), nil }

// releaseWebhooks is POST /_standin/webhooks/release: ends a hold, in order
// or, with ?order=reverse, newest first.
func (s *Server) releaseWebhooks(r *http.Request) (any, error) {
	switch o := r.URL.Query().Get("order"); o {
	case "", "queued":
		s.Release()
	case "reverse":
		s.ReleaseReversed()
	default:
		return nil, invalidf("order %q: want queued or reverse", o)
	}
	return s.deliveryAnswer(), nil
}

// discountRequest is the body of POST /_standin/discounts.
type discountRequest struct {
	Code   string `json:"code"`
	Type   string `json:"type"`
	Amount int64  `json:"amount"`
	Name   string `json:"name"`
}

// addDiscount is POST /_standin/discounts: a discount code that checkouts
// and POST /payments honour. Answers Dodo's discount shape.
func (s *Server) addDiscount(r *http.Request) (any, error) {
	var req discountRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if _, err := s.AddDiscount(Discount{Code: req.Code, Type: req.Type, Amount: req.Amount, Name: req.Name}); err != nil {
		if errors.Is(err, errExists) {
			return nil, errorf(http.StatusConflict, "DISCOUNT_CODE_EXISTS", "%v", err)
		}
		return nil, invalidf("%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discounts[req.Code].wire(s.cfg.BusinessID), nil
}

// Ledger is what the stand-in charged and sent (GET /_standin/ledger).
type Ledger struct {
	Now time.Time `json:"now"`
	// Charges counts the charges of each customer's cards, succeeded or
	// not: what a test asserts to prove one offer charged once.
	Charges  map[string]int  `json:"charges"`
	Payments []LedgerPayment `json:"payments"`
	Webhooks LedgerWebhooks  `json:"webhooks"`
}

// LedgerPayment is one payment of the ledger.
type LedgerPayment struct {
	PaymentID      string    `json:"payment_id"`
	CustomerID     string    `json:"customer_id"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	Status         string    `json:"status"`
	TotalAmount    int64     `json:"total_amount"`
	Refunded       int64     `json:"refunded"`
	Currency       string    `json:"currency"`
	CreatedAt      time.Time `json:"created_at"`
}

// LedgerWebhooks counts the webhooks delivered (answered 2xx) by event
// type, and by customer and type; a duplicate counts twice. Attempts
// counts every delivery attempt, Failed those not answered 2xx.
type LedgerWebhooks struct {
	Delivered           map[string]int            `json:"delivered"`
	DeliveredByCustomer map[string]map[string]int `json:"delivered_by_customer"`
	Attempts            int                       `json:"attempts"`
	Failed              int                       `json:"failed"`
	Queued              int                       `json:"queued"`
}

// Ledger returns what the stand-in charged and sent so far.
func (s *Server) Ledger() Ledger {
	s.mu.Lock()
	l := Ledger{Now: s.now(), Charges: map[string]int{}, Payments: []LedgerPayment{}}
	for c, n := range s.charges {
		l.Charges[c] = n
	}
	for _, p := range s.paymentsL {
		l.Payments = append(l.Payments, LedgerPayment{
			PaymentID: p.ID, CustomerID: p.CustomerID, SubscriptionID: p.SubscriptionID, Status: p.Status,
			TotalAmount: p.TotalAmount, Refunded: p.refunded(), Currency: p.Currency, CreatedAt: p.CreatedAt,
		})
	}
	s.mu.Unlock()
	w := LedgerWebhooks{Delivered: map[string]int{}, DeliveredByCustomer: map[string]map[string]int{}}
	for _, a := range s.out.sentLog() {
		w.Attempts++
		if a.Status < 200 || a.Status > 299 {
			w.Failed++
			continue
		}
		w.Delivered[a.Type]++
		if w.DeliveredByCustomer[a.CustomerID] == nil {
			w.DeliveredByCustomer[a.CustomerID] = map[string]int{}
		}
		w.DeliveredByCustomer[a.CustomerID][a.Type]++
	}
	_, w.Queued = s.out.deliverySettings()
	l.Webhooks = w
	return l
}

func (s *Server) getLedger(*http.Request) (any, error) { return s.Ledger(), nil }

// checkoutStatus renders a session as GET /checkouts/{id} answers it. The
// caller holds s.mu.
func (s *Server) checkoutStatus(cs *sessionRec) wire.CheckoutSessionStatus {
	out := wire.CheckoutSessionStatus{ID: cs.id, CreatedAt: cs.createdAt, CustomerEmail: optional(cs.email), CustomerName: optional(cs.name)}
	if p, ok := s.payments[cs.paymentID]; ok {
		out.PaymentID, out.PaymentStatus = &p.ID, ptr(p.Status)
	}
	return out
}

// checkCard checks a card's number and expiry, as AddPaymentMethod does.
func checkCard(c Card) error {
	if len(c.Number) < 12 || len(c.Number) > 19 || strings.Trim(c.Number, "0123456789") != "" {
		return fmt.Errorf("number %q: want the full card number, 12 to 19 digits", c.Number)
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 || c.ExpYear < 1000 || c.ExpYear > 9999 {
		return fmt.Errorf("expiry %d/%d: want month 1-12 and a four-digit year", c.ExpMonth, c.ExpYear)
	}
	if c.IssuingCountry != "" && !isCountry(c.IssuingCountry) {
		return fmt.Errorf("issuing country %q: want ISO 3166-1 alpha-2", c.IssuingCountry)
	}
	return nil
}

// faultRequest is the body of POST /_standin/faults: FailNext over HTTP.
type faultRequest struct {
	Route   string `json:"route"`
	N       int    `json:"n"`
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// addFault is POST /_standin/faults: the next n requests of one of Dodo's
// routes (its pattern, e.g. "POST /checkouts") answer status with Dodo's
// error body, before the request is looked at (FailNext); n 0 clears it.
func (s *Server) addFault(r *http.Request) (any, error) {
	var req faultRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	known := slices.ContainsFunc(s.dodoRoutes(), func(rt route) bool { return rt.pattern == req.Route })
	switch {
	case !known:
		return nil, invalidf("route %q: want the pattern of one of Dodo's routes the stand-in serves, such as \"POST /checkouts\"", req.Route)
	case req.N < 0:
		return nil, invalidf("n %d: want 0 (clear) or more", req.N)
	case req.N > 0 && (req.Status < 400 || req.Status > 599):
		return nil, invalidf("status %d: want a 4xx or 5xx", req.Status)
	case req.N > 0 && !errorCode.MatchString(req.Code):
		return nil, invalidf("code %q: want Dodo's form, e.g. SERVICE_UNAVAILABLE", req.Code)
	}
	req.Message = cmp.Or(req.Message, "failed on purpose by the stand-in")
	s.FailNext(req.Route, req.N, req.Status, req.Code, req.Message)
	return req, nil
}

// errorCode is the form of Dodo's error codes.
var errorCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
