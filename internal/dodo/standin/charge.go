package standin

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/events"
)

// cardOutcome decides a charge on a saved card as Dodo's test mode does
// for its test cards, and returns the payment's status (an IntentStatus)
// with the error of a failed one. An expired card is declined like any
// other charge on it would be (judgement: Dodo could also refuse the
// request; a failed payment is what a charge on an expired card gets from
// the card networks). A card that asks for 3-D Secure leaves the payment
// requires_customer_action: nobody is there to authenticate an off-session
// charge (judgement; Dodo does not document it, api-facts Q13).
func cardOutcome(c *Card, now time.Time) (status, code, message string) {
	// A card is valid through the last day of its expiry month.
	if !now.Before(time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)) {
		return PaymentFailed, "EXPIRED_CARD", "The card has expired"
	}
	switch {
	case strings.HasSuffix(c.Number, "0002"):
		return PaymentFailed, "CARD_DECLINED", "The card was declined by the issuing bank"
	case strings.HasSuffix(c.Number, "9995"):
		return PaymentFailed, "INSUFFICIENT_FUNDS", "The account has insufficient funds to complete the transaction"
	case strings.HasSuffix(c.Number, "3155"):
		return PaymentRequiresAction, "", ""
	}
	return PaymentSucceeded, "", ""
}

// charge is one attempt to take money from a saved card.
type charge struct {
	customerID     string
	subscriptionID string
	sessionID      string
	card           *Card
	amount         int64
	currency       string
	cart           []CartItem // nil for subscription charges (renewals, plan changes)
	billing        wire.BillingAddress
	metadata       json.RawMessage
	discount       *Discount
}

// charge creates the payment for c, succeeded or failed by the card, and
// counts it for the customer. The caller holds s.mu.
func (s *Server) charge(c charge) *payRec {
	now := s.now()
	status, code, msg := cardOutcome(c.card, now)
	p := &payRec{
		Payment: Payment{
			ID: s.newID("pay"), Status: status, CustomerID: c.customerID, SubscriptionID: c.subscriptionID,
			CheckoutSessionID: c.sessionID, PaymentMethodID: c.card.ID, TotalAmount: c.amount, Currency: c.currency,
			ProductCart: c.cart, ErrorCode: code, ErrorMessage: msg, CreatedAt: now,
		},
		card: c.card, billing: c.billing, metadataRaw: c.metadata, updatedAt: now, discount: c.discount,
	}
	if status == PaymentSucceeded {
		c.card.LastUsedAt = now
	}
	s.payments[p.ID] = p
	s.paymentsL = append(s.paymentsL, p)
	s.charges[c.customerID]++
	return p
}

// event is one webhook: its type and its signed body.
type event struct {
	typ      string
	customer string // whom it is about, for the counts of GET /_standin/ledger
	body     []byte
}

// event renders a webhook of type typ about data, timestamped now.
// Judgement: data is the state at the event; Dodo sends the state at
// delivery, which only differs for a webhook delivered late.
func (s *Server) event(typ, customerID string, data any) event {
	d, err := json.Marshal(data)
	if err != nil {
		panic("standin: encode webhook: " + err.Error()) // only wire types the stand-in filled, which always encode
	}
	b, err := json.Marshal(events.Envelope{BusinessID: s.cfg.BusinessID, Type: typ, Timestamp: s.now(), Data: d})
	if err != nil {
		panic("standin: encode webhook: " + err.Error())
	}
	return event{typ: typ, customer: customerID, body: b}
}

func (s *Server) paymentEvent(p *payRec) event {
	data := s.payment(p)
	data.PayloadType = "Payment"
	typ := "payment.succeeded"
	switch p.Status {
	case PaymentFailed:
		typ = "payment.failed"
	case PaymentRequiresAction:
		// Judgement: a payment waiting for the customer is "processing"
		// to the merchant; Dodo documents no webhook for the wait.
		typ = "payment.processing"
	}
	return s.event(typ, p.CustomerID, data)
}

func (s *Server) subscriptionEvent(typ string, sub *subRec) event {
	data := s.subscription(sub, s.products[sub.ProductID], sub.Quantity)
	data.PayloadType = "Subscription"
	return s.event(typ, sub.CustomerID, data)
}

// subBilling is a subscription's billing address: the one of the checkout
// that created it, or its customer's.
func (s *Server) subBilling(sub *subRec) wire.BillingAddress {
	if sub.billing != nil {
		return *sub.billing
	}
	c := s.customers[sub.CustomerID]
	return wire.BillingAddress{Country: c.Country, Zipcode: optional(c.Zipcode)}
}
