package dodo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/offerflow/offerflow/internal/dodo/wire"
	"github.com/offerflow/offerflow/internal/fault"
	"github.com/offerflow/offerflow/internal/offers"
)

// PreviewChangePlan returns what ChangePlan with the same request would do
// (POST /subscriptions/{subscription_id}/change-plan/preview). It changes
// nothing, so it is retried like a read.
func (c *Client) PreviewChangePlan(ctx context.Context, subscriptionID string, req ChangePlanRequest) (wire.ChangePlanPreview, error) {
	const ep = "POST /subscriptions/{subscription_id}/change-plan/preview"
	var out wire.ChangePlanPreview
	r, err := changePlanRequest(ep, subscriptionID, "/change-plan/preview", req)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, r, &out)
	return out, err
}

// ChangePlan changes a subscription's plan (POST
// /subscriptions/{subscription_id}/change-plan). Any 2xx is success. The
// spec (v1.113.0) documents no body; Dodo has since answered one
// (wire.ChangePlanResult: the payment that settles the change, or a page
// to pay it on). A body is read when it is that JSON object; an empty one,
// or one that is not, gives the zero result: the change was accepted all
// the same. The charge, if any, arrives as payment.* webhooks with the
// subscription_id, and the change as subscription.plan_changed.
//
// It can charge, so it is never retried blindly, by the same rules as
// CreateCheckout: when an attempt fails with its outcome open (a timeout, a
// broken connection, a 408, 429 or 5xx), the client reads the subscription
// and counts the change as applied if product_id and quantity equal the
// request's (for EffectiveNextBillingDate: those of scheduled_change).
// Found, ChangePlan returns the zero result and no error. Not found, it
// makes one more attempt only after a 429 or a failed dial, and otherwise
// returns an error wrapping ErrAmbiguous. Two limits of the check: a
// change to the plan the subscription is already on counts as applied,
// and a PreventChange change still pending on its payment does not show,
// so it ends as ErrAmbiguous.
func (c *Client) ChangePlan(ctx context.Context, subscriptionID string, req ChangePlanRequest) (wire.ChangePlanResult, error) {
	const ep = "POST /subscriptions/{subscription_id}/change-plan"
	r, err := changePlanRequest(ep, subscriptionID, "/change-plan", req)
	if err != nil {
		return wire.ChangePlanResult{}, err
	}
	look := func(ctx context.Context) (bool, error) {
		s, err := c.GetSubscription(ctx, subscriptionID)
		if err != nil {
			return false, err
		}
		return planApplied(s, req), nil
	}
	resp, recovered, err := c.sendMoney(ctx, r, look)
	if err != nil || recovered {
		return wire.ChangePlanResult{}, err
	}
	return changePlanResult(resp.body), nil
}

// changePlanResult reads a change-plan answer's body, leniently: anything
// but a JSON object, or an object whose known fields have the wrong types,
// is the zero result.
func changePlanResult(body []byte) wire.ChangePlanResult {
	var out wire.ChangePlanResult
	if err := json.Unmarshal(body, &out); err != nil {
		return wire.ChangePlanResult{}
	}
	return out
}

// planApplied reports whether s shows the change req asked for.
func planApplied(s wire.Subscription, req ChangePlanRequest) bool {
	if req.EffectiveAt == EffectiveNextBillingDate {
		sc := s.ScheduledChange
		return sc != nil && sc.ProductID == req.ProductID && sc.Quantity == req.Quantity
	}
	return s.ProductID == req.ProductID && s.Quantity == req.Quantity
}

func changePlanRequest(ep, subscriptionID, suffix string, req ChangePlanRequest) (request, error) {
	id, err := pathID(ep, "subscription_id", subscriptionID)
	if err != nil {
		return request{}, err
	}
	body, err := req.encode()
	if err != nil {
		return request{}, fault.Permanent(fmt.Errorf("dodo %s: %w", ep, err))
	}
	return request{endpoint: ep, method: http.MethodPost, path: "/subscriptions/" + id + suffix, body: body}, nil
}

// encode validates the request and returns its JSON body.
func (req ChangePlanRequest) encode() ([]byte, error) {
	var errs []error
	if req.ProductID == "" {
		errs = append(errs, errors.New("product_id is empty"))
	}
	if req.Quantity < 1 {
		errs = append(errs, fmt.Errorf("quantity %d: want at least 1", req.Quantity))
	}
	switch req.ProrationBillingMode {
	case offers.ProratedImmediately, offers.FullImmediately, offers.DifferenceImmediately, offers.DoNotBill:
	default:
		errs = append(errs, fmt.Errorf("proration_billing_mode %q: want %s, %s, %s or %s",
			req.ProrationBillingMode, offers.ProratedImmediately, offers.FullImmediately, offers.DifferenceImmediately, offers.DoNotBill))
	}
	switch req.EffectiveAt {
	case EffectiveImmediately, EffectiveNextBillingDate:
	default:
		errs = append(errs, fmt.Errorf("effective_at %q: want %s or %s (sent explicitly, never left to a default)",
			req.EffectiveAt, EffectiveImmediately, EffectiveNextBillingDate))
	}
	switch req.OnPaymentFailure {
	case PreventChange, ApplyChange:
	default:
		errs = append(errs, fmt.Errorf("on_payment_failure %q: want %s or %s (sent explicitly, never left to the business default)",
			req.OnPaymentFailure, PreventChange, ApplyChange))
	}
	if err := checkAddons(req.Addons); err != nil {
		errs = append(errs, err)
	}
	if err := validateMetadata(req.Metadata); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return json.Marshal(req)
}
