package dodo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/offerflow/offerflow/internal/fault"
)

// Requests that can move money (a confirmed checkout, which charges a saved
// payment method; a plan change, which may charge the difference) are
// never retried blindly. Dodo's API has no idempotency key, so a repeated
// POST can charge twice, and Dodo's own SDKs do retry POSTs on timeouts and
// 5xx. When such a request fails in a way that leaves its outcome open, the
// client looks for its effect instead of repeating it (CreateCheckout: a
// payment carrying the idempotency key; ChangePlan: the subscription on the
// target plan).
//
// A second attempt is made only when Dodo surely did not act on the first:
//   - the dial failed (connection refused, DNS failure, unreachable network,
//     dial timeout) and no connection was handed to the request, so not a
//     byte of it left this process; or
//   - Dodo answered 429, and the lookup agrees that nothing happened (a
//     rate limiter refuses a request before it is processed; that this
//     holds for Dodo is inferred, hence the lookup first).
//
// A timeout, a broken connection, a 408 or a 5xx after the request was sent
// may come after Dodo acted; if the lookup finds nothing the error wraps
// ErrAmbiguous.
const (
	// maxMoneyAttempts is the first attempt plus the one allowed above.
	maxMoneyAttempts = 2
	// lookupDelay lets an attempt that is still running at Dodo (the
	// timeout was ours, not theirs) finish before the client looks.
	lookupDelay = time.Second
	// lookupBudget bounds a lookup. The lookup runs even when the caller's
	// ctx has ended: a charge may have happened, and knowing is worth a few
	// seconds of a shutdown.
	lookupBudget = 30 * time.Second
	// lookupSkew widens the lookup window before the first attempt, for
	// clock skew between this host and Dodo.
	lookupSkew = 10 * time.Minute
	// lookupMaxPages bounds the payments read by a lookup (100 a page).
	lookupMaxPages = 10
)

// lookup looks for the effect of a money-moving request whose answer was
// lost, and reports whether it happened.
type lookup func(ctx context.Context) (found bool, err error)

// sendMoney sends r, which can move money, following the rules above. It
// returns the 2xx response; or recovered true (and no response) when an
// attempt failed but look found its effect; or an error: Dodo's 4xx
// (permanent), a transient error when Dodo surely did not act and no further
// attempt is allowed, or an error wrapping ErrAmbiguous, marked permanent.
func (c *Client) sendMoney(ctx context.Context, r request, look lookup) (resp *response, recovered bool, err error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.send(ctx, r)
		if err == nil {
			return resp, false, nil
		}
		var te *transportError
		var apiErr *APIError
		switch {
		case errors.As(err, &te) && te.notSent:
			// Not a byte left: another attempt is safe.
		case errors.As(err, &apiErr) && !apiErr.Transient():
			return nil, false, err // Dodo refused the request.
		case apiErr != nil || te != nil:
			found, lerr := c.lookUp(ctx, look)
			switch {
			case lerr != nil:
				return nil, false, ambiguous(err, fmt.Errorf("the lookup failed: %w", lerr))
			case found:
				return nil, true, nil
			case apiErr == nil || apiErr.StatusCode != http.StatusTooManyRequests:
				return nil, false, ambiguous(err, errors.New("the lookup found nothing"))
			}
			// A 429, and nothing happened: another attempt is safe.
		default:
			return nil, false, err // ctx ended before sending, or the request is invalid.
		}
		if attempt >= maxMoneyAttempts || ctx.Err() != nil {
			return nil, false, err
		}
		wait, ok := c.retryWait(ctx, attempt-1, err)
		if !ok || c.sleep(ctx, wait) != nil {
			return nil, false, err
		}
	}
}

// lookUp runs look after lookupDelay, within lookupBudget, detached from the
// cancellation of ctx.
func (c *Client) lookUp(ctx context.Context, look lookup) (bool, error) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupBudget)
	defer cancel()
	if err := c.sleep(lctx, lookupDelay); err != nil {
		return false, err
	}
	return look(lctx)
}

// ambiguous is the error of a money-moving request whose outcome is
// unknown: it wraps ErrAmbiguous and the failure, and is marked permanent
// so that the worker does not redeliver it into a second charge.
func ambiguous(failure, why error) error {
	return fault.Permanent(fmt.Errorf("%w: %w; %w", ErrAmbiguous, failure, why))
}
