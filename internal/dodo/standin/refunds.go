package standin

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/wire"
)

// refundRec is a refund of (part of) a payment. Refunds in the stand-in
// succeed at once.
type refundRec struct {
	id        string
	payment   *payRec
	amount    int64
	partial   bool
	reason    string
	metadata  json.RawMessage
	createdAt time.Time
}

// createRefundRequest is the spec's CreateRefundRequest.
type createRefundRequest struct {
	PaymentID *string             `json:"payment_id"`
	Items     []refundItemRequest `json:"items"`
	Reason    *string             `json:"reason"`
	Metadata  json.RawMessage     `json:"metadata"`
}

// refundItemRequest is the spec's PartialRefundItem.
type refundItemRequest struct {
	ItemID       string `json:"item_id"`
	Amount       *int   `json:"amount"`
	TaxInclusive *bool  `json:"tax_inclusive"`
}

// createRefund is POST /refunds. Without items it refunds what is left of
// the payment; with items, each names a product of the payment's cart
// (item_id) and an amount, by default the line's price. A payment without
// a cart (a subscription charge) takes items with an amount and any
// item_id (judgement: Dodo does not document the item ids of a
// subscription payment). The refund succeeds at once and sends
// refund.succeeded.
func (s *Server) createRefund(r *http.Request) (any, error) {
	var req createRefundRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.PaymentID == nil || *req.PaymentID == "" {
		return nil, invalidf("payment_id is required")
	}
	meta, err := parseMetadata(req.Metadata)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[*req.PaymentID]
	if !ok {
		return nil, notFoundf("payment %s not found", *req.PaymentID)
	}
	if p.Status != PaymentSucceeded {
		return nil, invalidf("payment %s is %s; only a succeeded payment can be refunded", p.ID, p.Status)
	}
	left := p.TotalAmount - p.refunded()
	if left <= 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "REFUND_AMOUNT_EXCEEDED", "payment %s is refunded in full", p.ID)
	}
	amount := left
	if len(req.Items) > 0 {
		if amount, err = s.refundItems(p, req.Items); err != nil {
			return nil, err
		}
		if amount > left {
			return nil, errorf(http.StatusUnprocessableEntity, "REFUND_AMOUNT_EXCEEDED",
				"refund of %d exceeds the %d left to refund on payment %s", amount, left, p.ID)
		}
	}
	rf := &refundRec{
		id: s.newID("ref"), payment: p, amount: amount, partial: amount < p.TotalAmount,
		metadata: meta, createdAt: s.now(),
	}
	if req.Reason != nil {
		rf.reason = *req.Reason
	}
	p.refunds = append(p.refunds, rf)
	p.updatedAt = rf.createdAt
	s.refunds[rf.id] = rf
	s.refundsL = append(s.refundsL, rf)
	data := s.refund(rf)
	data.PayloadType = "Refund"
	s.out.enqueue([]event{s.event("refund.succeeded", p.CustomerID, data)})
	return s.refund(rf), nil
}

// refundItems sums the amounts of a partial refund's items. The caller
// holds s.mu.
func (s *Server) refundItems(p *payRec, items []refundItemRequest) (int64, error) {
	var sum int64
	for i, it := range items {
		var line int64 = -1
		if j := slices.IndexFunc(p.ProductCart, func(c CartItem) bool { return c.ProductID == it.ItemID }); j >= 0 {
			line = s.products[it.ItemID].Price * int64(p.ProductCart[j].Quantity)
		} else if p.ProductCart != nil {
			return 0, invalidf("items[%d].item_id %q: not a product of payment %s", i, it.ItemID, p.ID)
		}
		amount := line
		if it.Amount != nil {
			amount = int64(*it.Amount)
		}
		switch {
		case amount < 0 && line < 0:
			return 0, invalidf("items[%d].amount is required: payment %s has no product cart", i, p.ID)
		case amount <= 0:
			return 0, invalidf("items[%d].amount %d: want more than 0", i, amount)
		case line >= 0 && amount > line:
			return 0, invalidf("items[%d].amount %d exceeds the line's %d", i, amount, line)
		}
		sum += amount
	}
	return sum, nil
}

// getRefund is GET /refunds/{refund_id}.
func (s *Server) getRefund(r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.refunds[r.PathValue("refund_id")]
	if !ok {
		return nil, notFoundf("refund %s not found", r.PathValue("refund_id"))
	}
	return s.refund(rf), nil
}

// refundStatuses is the spec's RefundStatus.
var refundStatuses = []string{"succeeded", "failed", "pending", "review"}

// listRefunds is GET /refunds: filters customer_id, subscription_id (of
// the refunded payment), status and created_at; newest first (judgement,
// as for payments).
func (s *Server) listRefunds(r *http.Request) (any, error) {
	q := r.URL.Query()
	gte, lte, size, number, err := parseListQuery(q)
	if err != nil {
		return nil, err
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(refundStatuses, status) {
		return nil, invalidf("status %q: want one of %v", status, refundStatuses)
	}
	customer, subscription := q.Get("customer_id"), q.Get("subscription_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*refundRec
	for _, rf := range slices.Backward(s.refundsL) {
		switch {
		case customer != "" && rf.payment.CustomerID != customer,
			subscription != "" && rf.payment.SubscriptionID != subscription,
			status != "" && status != "succeeded", // every refund of the stand-in succeeds
			gte != nil && rf.createdAt.Before(*gte),
			lte != nil && rf.createdAt.After(*lte):
			continue
		}
		matched = append(matched, rf)
	}
	out := wire.List[wire.RefundSummary]{Items: []wire.RefundSummary{}}
	from, to := page{size, number}.of(len(matched))
	for _, rf := range matched[from:to] {
		full := s.refund(rf)
		out.Items = append(out.Items, wire.RefundSummary{
			RefundID: full.RefundID, PaymentID: full.PaymentID, BusinessID: full.BusinessID, Status: full.Status,
			IsPartial: full.IsPartial, Amount: full.Amount, Currency: full.Currency, Reason: full.Reason, CreatedAt: full.CreatedAt,
		})
	}
	return out, nil
}
