package standin

import (
	"math/big"
	"time"
)

// Proration billing modes (the spec's ProrationBillingMode).
const (
	ProratedImmediately   = "prorated_immediately"
	DifferenceImmediately = "difference_immediately"
	FullImmediately       = "full_immediately"
	DoNotBill             = "do_not_bill"
)

// proration is what a plan change costs now, as Dodo documents the modes
// (subscription-upgrade-downgrade): amounts are per period, price ×
// quantity, in the currency's smallest unit.
type proration struct {
	// Factor is the part of the current period left: (next_billing_date −
	// now) / (next_billing_date − previous_billing_date), in [0, 1].
	Factor float64
	// Charge is due now, before credits; Credit is added to the
	// subscription's credit balance. At most one of them is positive.
	Charge int64
	Credit int64
	// ResetCycle starts a new billing period now (full_immediately).
	ResetCycle bool
	// OldFactor and NewFactor weigh the old and the new plan's price in the
	// preview's line items: Charge − Credit = new × NewFactor − old × OldFactor.
	OldFactor float64
	NewFactor float64
}

// prorate computes a plan change from a period price of oldAmount to one of
// newAmount, at now, within the period [start, end):
//
//   - prorated_immediately: the time-prorated difference (new − old) × f,
//     where f is the part of the period left; the billing date stays. A
//     negative difference is a credit.
//   - difference_immediately: new − old, wherever in the period; the billing
//     date stays. A negative difference is a credit.
//   - full_immediately: the full new price; the period restarts now and the
//     unused part of the old one is forfeited (no credit).
//   - do_not_bill: nothing now (Dodo does not document it; judgement: the
//     plan switches, the billing date stays, the next renewal bills the new
//     price).
//
// f is a ratio of durations (days, to the nanosecond), and the amount is
// rounded once, half away from zero, to the smallest unit.
func prorate(mode string, oldAmount, newAmount int64, start, end, now time.Time) proration {
	total := end.Sub(start)
	left := min(max(end.Sub(now), 0), total)
	p := proration{Factor: float64(left) / float64(total)}
	var net int64
	switch mode {
	case ProratedImmediately:
		net = mulDivRound(newAmount-oldAmount, int64(left), int64(total))
		p.OldFactor, p.NewFactor = p.Factor, p.Factor
	case DifferenceImmediately:
		net = newAmount - oldAmount
		p.OldFactor, p.NewFactor = 1, 1
	case FullImmediately:
		net = newAmount
		p.NewFactor, p.ResetCycle = 1, true
	case DoNotBill:
	}
	if net >= 0 {
		p.Charge = net
	} else {
		p.Credit = -net
	}
	return p
}

// mulDivRound returns a × b / c rounded half away from zero, exactly (the
// product of an amount and a duration in nanoseconds overflows int64).
func mulDivRound(a, b, c int64) int64 {
	num := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	den := big.NewInt(c)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// |r| * 2 >= c rounds away from zero; QuoRem truncates toward zero.
	if r.Abs(r).Lsh(r, 1).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}
