package standin

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// preview is the part of ChangePlanPreviewResponse the tests read.
type preview struct {
	NewPlan struct {
		ProductID           string    `json:"product_id"`
		Quantity            int       `json:"quantity"`
		PreviousBillingDate time.Time `json:"previous_billing_date"`
		NextBillingDate     time.Time `json:"next_billing_date"`
		ScheduledChange     *struct {
			ProductID   string    `json:"product_id"`
			EffectiveAt time.Time `json:"effective_at"`
		} `json:"scheduled_change"`
	} `json:"new_plan"`
	ImmediateCharge struct {
		EffectiveAt time.Time `json:"effective_at"`
		Summary     struct {
			TotalAmount     int64  `json:"total_amount"`
			Currency        string `json:"currency"`
			CustomerCredits int64  `json:"customer_credits"`
		} `json:"summary"`
		LineItems []struct {
			ProductID       string  `json:"product_id"`
			UnitPrice       int64   `json:"unit_price"`
			Quantity        int     `json:"quantity"`
			ProrationFactor float64 `json:"proration_factor"`
		} `json:"line_items"`
	} `json:"immediate_charge"`
}

// TestProrationTable reproduces the proration of Dodo's plan-change guide
// (and anchors/offers.md 3b): Basic $30 -> Pro $80, and Pro $80 -> Starter
// $20, exactly halfway through a 30-day period (April 1 to May 1, change on
// April 16), in every mode, through the preview and then the change itself.
func TestProrationTable(t *testing.T) {
	start, end, half := date(2026, 4, 1), date(2026, 5, 1), date(2026, 4, 16)
	upgrade := []string{"payment.succeeded", "subscription.plan_changed", "subscription.active"}
	noCharge := []string{"subscription.plan_changed", "subscription.active"}
	tests := []struct {
		name        string
		from, to    string
		mode        string
		effectiveAt string
		// What the preview shows and the change does.
		wantCharge  int64 // summary.total_amount, and the payment's amount
		wantCredits int64 // summary.customer_credits
		wantBalance int64 // the subscription's credit balance afterwards
		wantProduct string
		wantStart   time.Time
		wantEnd     time.Time
		wantFactor  float64 // proration_factor of the new plan's line item
		wantEvents  []string
	}{
		{"upgrade prorated_immediately", pdtBasic, pdtPro, ProratedImmediately, "", 2500, 0, 0, pdtPro, start, end, 0.5, upgrade},
		{"upgrade difference_immediately", pdtBasic, pdtPro, DifferenceImmediately, "", 5000, 0, 0, pdtPro, start, end, 1, upgrade},
		{"upgrade full_immediately resets the cycle", pdtBasic, pdtPro, FullImmediately, "", 8000, 0, 0, pdtPro, half, date(2026, 5, 16), 1, upgrade},
		{"upgrade do_not_bill", pdtBasic, pdtPro, DoNotBill, "", 0, 0, 0, pdtPro, start, end, -1, noCharge},
		{"downgrade prorated_immediately credits", pdtPro, pdtStart, ProratedImmediately, "", 0, 3000, 3000, pdtStart, start, end, 0.5, noCharge},
		{"downgrade difference_immediately credits", pdtPro, pdtStart, DifferenceImmediately, "", 0, 6000, 6000, pdtStart, start, end, 1, noCharge},
		{"downgrade full_immediately charges the new price", pdtPro, pdtStart, FullImmediately, "", 2000, 0, 0, pdtStart, half, date(2026, 5, 16), 1, upgrade},
		{"downgrade do_not_bill", pdtPro, pdtStart, DoNotBill, "", 0, 0, 0, pdtStart, start, end, -1, noCharge},
		{"upgrade at next_billing_date charges nothing now", pdtBasic, pdtPro, FullImmediately, "next_billing_date", 0, 0, 0, pdtBasic, start, end, -1, []string{"subscription.updated"}},
		{"downgrade at next_billing_date", pdtPro, pdtStart, FullImmediately, "next_billing_date", 0, 0, 0, pdtPro, start, end, -1, []string{"subscription.updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, half)
			sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: tt.from, PaymentMethodID: pmVisa, PeriodStart: start, PeriodEnd: end})
			if err != nil {
				t.Fatal(err)
			}
			body := map[string]any{"product_id": tt.to, "quantity": 1, "proration_billing_mode": tt.mode, "on_payment_failure": PreventChange}
			if tt.effectiveAt != "" {
				body["effective_at"] = tt.effectiveAt
			}

			p := decode[preview](t, e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan/preview", body))
			sum := p.ImmediateCharge.Summary
			if sum.TotalAmount != tt.wantCharge || sum.CustomerCredits != tt.wantCredits || sum.Currency != "USD" {
				t.Errorf("preview summary = total %d, credits %d, %s; want total %d, credits %d, USD",
					sum.TotalAmount, sum.CustomerCredits, sum.Currency, tt.wantCharge, tt.wantCredits)
			}
			wantEffective := half
			if tt.effectiveAt == "next_billing_date" {
				wantEffective = end
				if sc := p.NewPlan.ScheduledChange; sc == nil || sc.ProductID != tt.to || !sc.EffectiveAt.Equal(end) {
					t.Errorf("preview new_plan.scheduled_change = %+v, want %s at %s", sc, tt.to, end)
				}
			}
			if !p.ImmediateCharge.EffectiveAt.Equal(wantEffective) {
				t.Errorf("preview effective_at = %s, want %s", p.ImmediateCharge.EffectiveAt, wantEffective)
			}
			if p.NewPlan.ProductID != tt.wantProduct || !p.NewPlan.PreviousBillingDate.Equal(tt.wantStart) || !p.NewPlan.NextBillingDate.Equal(tt.wantEnd) {
				t.Errorf("preview new_plan = %s %s..%s, want %s %s..%s", p.NewPlan.ProductID,
					p.NewPlan.PreviousBillingDate, p.NewPlan.NextBillingDate, tt.wantProduct, tt.wantStart, tt.wantEnd)
			}
			// The line items add up to the charge before credits.
			var sumLines float64
			gotFactor := -1.0
			for _, li := range p.ImmediateCharge.LineItems {
				sumLines += float64(li.UnitPrice*int64(li.Quantity)) * li.ProrationFactor
				if li.ProductID == tt.to {
					gotFactor = li.ProrationFactor
				}
			}
			if gotFactor != tt.wantFactor {
				t.Errorf("proration_factor of the %s line = %v, want %v (-1: no line)", tt.to, gotFactor, tt.wantFactor)
			}
			if want := float64(tt.wantCharge - tt.wantCredits); sumLines != want {
				t.Errorf("line items add up to %v, want %v", sumLines, want)
			}

			e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", body)
			wantCharges := 0
			if tt.wantCharge > 0 {
				wantCharges = 1
			}
			if got := e.s.Charges(custAna); got != wantCharges {
				t.Errorf("Charges(%s) = %d, want %d", custAna, got, wantCharges)
			}
			if pays := e.s.Payments(); wantCharges == 1 && (len(pays) != 1 || pays[0].TotalAmount != tt.wantCharge || pays[0].SubscriptionID != sub || pays[0].Status != PaymentSucceeded) {
				t.Errorf("payments = %+v, want one succeeded of %d for %s", pays, tt.wantCharge, sub)
			}
			got, _ := e.s.Subscription(sub)
			if got.ProductID != tt.wantProduct || got.Credit != tt.wantBalance || !got.PeriodStart.Equal(tt.wantStart) || !got.PeriodEnd.Equal(tt.wantEnd) {
				t.Errorf("subscription = %s credit %d %s..%s, want %s credit %d %s..%s", got.ProductID, got.Credit, got.PeriodStart, got.PeriodEnd,
					tt.wantProduct, tt.wantBalance, tt.wantStart, tt.wantEnd)
			}
			if got := e.webhooks(); !slices.Equal(got, tt.wantEvents) {
				t.Errorf("webhooks = %v, want %v", got, tt.wantEvents)
			}
		})
	}
}

// TestNextBillingDateNeedsFullImmediately: with effective_at
// next_billing_date only full_immediately is allowed, in the preview too.
func TestNextBillingDateNeedsFullImmediately(t *testing.T) {
	e := newEnv(t, date(2026, 4, 16))
	sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtBasic, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{ProratedImmediately, DifferenceImmediately, DoNotBill} {
		for _, path := range []string{"/change-plan/preview", "/change-plan"} {
			t.Run(mode+path, func(t *testing.T) {
				body := map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": mode, "effective_at": "next_billing_date"}
				e.wantError(http.StatusUnprocessableEntity, "INVALID_PRORATION_MODE_WITH_NEXT_BILLING_DATE", "POST", "/subscriptions/"+sub+path, body)
			})
		}
	}
	if got, _ := e.s.Subscription(sub); got.ProductID != pdtBasic || got.ScheduledChange != nil || e.s.Charges(custAna) != 0 {
		t.Errorf("after refusals: product %s, scheduled %+v, %d charges; want %s, none, 0", got.ProductID, got.ScheduledChange, e.s.Charges(custAna), pdtBasic)
	}
}

// TestCreditAppliedAtRenewal follows a downgrade's credit through the
// renewals (anchors/offers.md 3b: Pro $80 -> Starter $20 on the 16th,
// prorated_immediately: $30 credit, renewals $0 then $10; difference: $60
// credit, three $0 renewals), a scheduled change taking effect, and a
// credit paying part of a later upgrade.
func TestCreditAppliedAtRenewal(t *testing.T) {
	tests := []struct {
		name         string
		from, to     string
		mode         string
		effectiveAt  string
		wantRenewals []int64 // charged on May 1, Jun 1, Jul 1, Aug 1 (0: no payment)
		wantProduct  string  // after the renewals
	}{
		{"prorated downgrade", pdtPro, pdtStart, ProratedImmediately, "", []int64{0, 1000, 2000, 2000}, pdtStart},
		{"difference downgrade", pdtPro, pdtStart, DifferenceImmediately, "", []int64{0, 0, 0, 2000}, pdtStart},
		{"do_not_bill downgrade", pdtPro, pdtStart, DoNotBill, "", []int64{2000, 2000, 2000, 2000}, pdtStart},
		{"scheduled upgrade", pdtBasic, pdtPro, FullImmediately, "next_billing_date", []int64{8000, 8000, 8000, 8000}, pdtPro},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, date(2026, 4, 16))
			sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: tt.from, PaymentMethodID: pmVisa, PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1)})
			if err != nil {
				t.Fatal(err)
			}
			body := map[string]any{"product_id": tt.to, "quantity": 1, "proration_billing_mode": tt.mode}
			if tt.effectiveAt != "" {
				body["effective_at"] = tt.effectiveAt
			}
			e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", body)
			e.webhooks()
			var got []int64
			for i, month := range []time.Month{time.May, time.June, time.July, time.August} {
				before := len(e.s.Payments())
				e.clock.Set(date(2026, month, 1))
				if n := e.s.RenewDue(); n != 1 {
					t.Fatalf("RenewDue() on %s 1 = %d, want 1", month, n)
				}
				charged := int64(0)
				if pays := e.s.Payments(); len(pays) > before {
					charged = pays[len(pays)-1].TotalAmount
				}
				got = append(got, charged)
				want := []string{"subscription.renewed"}
				if charged > 0 {
					want = []string{"payment.succeeded", "subscription.renewed"}
				}
				if i == 0 && tt.effectiveAt != "" {
					want = slices.Insert(want, len(want)-1, "subscription.plan_changed")
				}
				if w := e.webhooks(); !slices.Equal(w, want) {
					t.Errorf("webhooks of the %s renewal = %v, want %v", month, w, want)
				}
			}
			if !slices.Equal(got, tt.wantRenewals) {
				t.Errorf("renewals charged %v, want %v", got, tt.wantRenewals)
			}
			s, _ := e.s.Subscription(sub)
			if s.ProductID != tt.wantProduct || s.Credit != 0 || !s.PeriodEnd.Equal(date(2026, 9, 1)) || s.ScheduledChange != nil {
				t.Errorf("subscription after renewals = %s, credit %d, ends %s, scheduled %+v; want %s, 0, 2026-09-01, none",
					s.ProductID, s.Credit, s.PeriodEnd, s.ScheduledChange, tt.wantProduct)
			}
		})
	}

	t.Run("credit pays part of an upgrade", func(t *testing.T) {
		e := newEnv(t, date(2026, 4, 16))
		sub, err := e.s.AddSubscription(Subscription{CustomerID: custAna, ProductID: pdtStart, PaymentMethodID: pmVisa,
			PeriodStart: date(2026, 4, 1), PeriodEnd: date(2026, 5, 1), Credit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"product_id": pdtPro, "quantity": 1, "proration_billing_mode": DifferenceImmediately}
		p := decode[preview](t, e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan/preview", body))
		if s := p.ImmediateCharge.Summary; s.TotalAmount != 5000 || s.CustomerCredits != -1000 {
			t.Errorf("preview = total %d, credits %d; want 5000, -1000 (credits taken from the balance)", s.TotalAmount, s.CustomerCredits)
		}
		e.mustDo(200, "POST", "/subscriptions/"+sub+"/change-plan", body)
		if pays := e.s.Payments(); len(pays) != 1 || pays[0].TotalAmount != 5000 {
			t.Errorf("payments = %+v, want one of 5000", pays)
		}
		if s, _ := e.s.Subscription(sub); s.Credit != 0 {
			t.Errorf("credit after the upgrade = %d, want 0", s.Credit)
		}
	})
}

// TestProrate checks the arithmetic away from the halfway point.
func TestProrate(t *testing.T) {
	start, end := date(2026, 4, 1), date(2026, 5, 1)
	tests := []struct {
		name       string
		mode       string
		old, new   int64
		now        time.Time
		wantCharge int64
		wantCredit int64
		wantFactor float64
	}{
		{"a third left rounds half up", ProratedImmediately, 3000, 8000, date(2026, 4, 21), 1667, 0, 1.0 / 3},
		{"a third left credit rounds away from zero", ProratedImmediately, 8000, 3000, date(2026, 4, 21), 0, 1667, 1.0 / 3},
		{"at the start, all of it", ProratedImmediately, 3000, 8000, start, 5000, 0, 1},
		{"at the end, nothing", ProratedImmediately, 3000, 8000, end, 0, 0, 0},
		{"after the end, nothing", ProratedImmediately, 3000, 8000, end.Add(time.Hour), 0, 0, 0},
		{"one day left", ProratedImmediately, 0, 3000, date(2026, 4, 30), 100, 0, 1.0 / 30},
		{"seats: 3 x Basic from 1", ProratedImmediately, 3000, 9000, date(2026, 4, 16), 3000, 0, 0.5},
		{"same price", DifferenceImmediately, 3000, 3000, date(2026, 4, 16), 0, 0, 0.5},
		{"full ignores the time left", FullImmediately, 3000, 8000, date(2026, 4, 29), 8000, 0, 2.0 / 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prorate(tt.mode, tt.old, tt.new, start, end, tt.now)
			if p.Charge != tt.wantCharge || p.Credit != tt.wantCredit || fmt.Sprintf("%.9f", p.Factor) != fmt.Sprintf("%.9f", tt.wantFactor) {
				t.Errorf("prorate(%s, %d, %d, %s) = charge %d credit %d factor %v, want %d, %d, %v",
					tt.mode, tt.old, tt.new, tt.now, p.Charge, p.Credit, p.Factor, tt.wantCharge, tt.wantCredit, tt.wantFactor)
			}
		})
	}
}

func TestMulDivRound(t *testing.T) {
	tests := []struct{ a, b, c, want int64 }{
		{5000, 1, 2, 2500},
		{5, 1, 2, 3},
		{-5, 1, 2, -3},
		{4, 1, 3, 1},
		{-4, 1, 3, -1},
		{2147483647, int64(30 * 24 * time.Hour), int64(30 * 24 * time.Hour), 2147483647},
	}
	for _, tt := range tests {
		if got := mulDivRound(tt.a, tt.b, tt.c); got != tt.want {
			t.Errorf("mulDivRound(%d, %d, %d) = %d, want %d", tt.a, tt.b, tt.c, got, tt.want)
		}
	}
}

func TestAddInterval(t *testing.T) {
	tests := []struct {
		from     time.Time
		interval string
		count    int
		want     time.Time
	}{
		{date(2026, 1, 31), "Month", 1, date(2026, 2, 28)},
		{date(2028, 1, 31), "Month", 1, date(2028, 2, 29)},
		{date(2026, 3, 31), "Month", 1, date(2026, 4, 30)},
		{date(2026, 4, 16), "Month", 1, date(2026, 5, 16)},
		{date(2028, 2, 29), "Year", 1, date(2029, 2, 28)},
		{date(2026, 4, 16), "Week", 2, date(2026, 4, 30)},
		{date(2026, 4, 16), "Day", 30, date(2026, 5, 16)},
		{date(2026, 11, 30), "Month", 3, date(2027, 2, 28)},
	}
	for _, tt := range tests {
		if got := addInterval(tt.from, tt.interval, tt.count); !got.Equal(tt.want) {
			t.Errorf("addInterval(%s, %s, %d) = %s, want %s", tt.from.Format(time.DateOnly), tt.interval, tt.count, got, tt.want)
		}
	}
}
