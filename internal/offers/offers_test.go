package offers

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/offerflow/offerflow/internal/dodo/dodospec"
)

var (
	t0      = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	expires = t0.Add(72 * time.Hour)
	before  = expires.Add(-time.Second)
	after   = expires.Add(time.Second)
	fb      = Fallback{CheckoutURL: "https://checkout.example/c/1", UpdatePaymentMethod: true}
)

func sample(t *testing.T) Offer {
	t.Helper()
	o, err := New(Offer{
		ID:             "off_1",
		CustomerID:     "cus_1",
		RuleID:         "pro-upgrade",
		Kind:           Upsell,
		ProductID:      "pdt_pro",
		Quantity:       1,
		ChangePlan:     true,
		FromProductID:  "pdt_basic",
		SubscriptionID: "sub_1",
		Proration:      ProratedImmediately,
		Amounts:        Amounts{Currency: "USD", Price: 4900, DueNow: 3100, Credit: 1800, CurrentPrice: 2900, PriceDifference: 2000},
		OneClick:       true,
		Card:           Card{Brand: "visa", Last4: "4242"},
		Display:        Display{Headline: "Go Pro", Badge: "-20%"},
		Gains:          []string{"sso", "audit_log"},
		Loses:          []string{"legacy_export"},
		ExpiresAt:      expires,
		Trigger:        Trigger{Event: "subscription.active", WebhookID: "msg_1"},
	}, t0)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return o
}

// in returns the sample offer moved through ops, which must all succeed.
func in(t *testing.T, ops ...func(Offer) (Offer, error)) Offer {
	t.Helper()
	o := sample(t)
	for i, op := range ops {
		var err error
		if o, err = op(o); err != nil {
			t.Fatalf("setup step %d: %v", i, err)
		}
	}
	return o
}

var (
	accept  = func(o Offer) (Offer, error) { return Accept(o, t0.Add(time.Minute)) }
	decline = func(o Offer) (Offer, error) { return Decline(o, t0.Add(time.Minute)) }
	expire  = func(o Offer) (Offer, error) { return Expire(o, after) }
	convert = func(o Offer) (Offer, error) { return Convert(o, "pay_1", t0.Add(2*time.Minute)) }
	// purchase turns the sample plan change into a one-click purchase.
	purchase = func(o Offer) (Offer, error) {
		o.ChangePlan, o.FromProductID, o.SubscriptionID, o.Proration, o.PaymentMethodID = false, "", "", "", "pm_1"
		return o, nil
	}
	fail = func(o Offer) (Offer, error) {
		return Fail(o, "pay_1", "card declined", fb, t0.Add(2*time.Minute))
	}
	failNoLink = func(o Offer) (Offer, error) {
		return Fail(o, "pay_1", "card declined", Fallback{UpdatePaymentMethod: true}, t0.Add(2*time.Minute))
	}
)

func TestTransitions(t *testing.T) {
	type op func(Offer) (Offer, error)
	tests := []struct {
		name  string
		from  []func(Offer) (Offer, error)
		do    op
		want  State // on success
		noop  bool  // success that leaves the offer as it was
		errs  []error
		state State // the refused offer's state, in the error
	}{
		// Accept.
		{name: "accept open", do: accept, want: Accepted},
		{name: "accept just before expiry", do: func(o Offer) (Offer, error) { return Accept(o, before) }, want: Accepted},
		{name: "accept at expiry", do: func(o Offer) (Offer, error) { return Accept(o, expires) }, errs: []error{ErrExpired}, state: Open},
		{name: "accept accepted", from: ops(accept), do: accept, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Accepted},
		{name: "accept charged", from: ops(accept, convert), do: accept, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Charged},
		{name: "accept failed", from: ops(accept, fail), do: accept, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Failed},
		{name: "accept declined", from: ops(decline), do: accept, errs: []error{ErrNotOpen, ErrDeclined}, state: Declined},
		{name: "accept expired", from: ops(expire), do: accept, errs: []error{ErrNotOpen, ErrExpired}, state: Expired},

		// Decline.
		{name: "decline open", do: decline, want: Declined},
		{name: "decline declined is a no-op", from: ops(decline), do: decline, want: Declined, noop: true},
		{name: "decline past expiry", do: func(o Offer) (Offer, error) { return Decline(o, expires) }, errs: []error{ErrExpired}, state: Open},
		{name: "decline accepted", from: ops(accept), do: decline, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Accepted},
		{name: "decline charged", from: ops(accept, convert), do: decline, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Charged},
		{name: "decline expired", from: ops(expire), do: decline, errs: []error{ErrNotOpen, ErrExpired}, state: Expired},

		// Expire.
		{name: "expire at expires_at", do: func(o Offer) (Offer, error) { return Expire(o, expires) }, want: Expired},
		{name: "expire after", do: expire, want: Expired},
		{name: "expire before", do: func(o Offer) (Offer, error) { return Expire(o, before) }, errs: []error{ErrNotExpired}, state: Open},
		{name: "expire expired is a no-op", from: ops(expire), do: expire, want: Expired, noop: true},
		{name: "expire accepted", from: ops(accept), do: expire, errs: []error{ErrNotOpen, ErrAlreadyAccepted}, state: Accepted},
		{name: "expire declined", from: ops(decline), do: expire, errs: []error{ErrNotOpen, ErrDeclined}, state: Declined},

		// Convert.
		{name: "convert accepted", from: ops(accept), do: convert, want: Charged},
		{name: "convert charged, same payment, is a no-op", from: ops(accept, convert), do: convert, want: Charged, noop: true},
		{name: "convert charged, other payment", from: ops(accept, convert), do: func(o Offer) (Offer, error) { return Convert(o, "pay_2", after) }, errs: []error{ErrPaymentMismatch}, state: Charged},
		{name: "convert failed, same payment: success wins", from: ops(accept, fail), do: convert, want: Charged},
		{name: "convert failed plan change, other payment", from: ops(accept, fail), do: func(o Offer) (Offer, error) { return Convert(o, "pay_2", after) }, errs: []error{ErrPaymentMismatch}, state: Failed},
		{name: "convert failed purchase, paid on its fallback page", from: ops(purchase, accept, fail), do: func(o Offer) (Offer, error) { return Convert(o, "pay_2", after) }, want: Charged},
		{name: "convert failed purchase without a checkout link, other payment", from: ops(purchase, accept, failNoLink), do: func(o Offer) (Offer, error) { return Convert(o, "pay_2", after) }, errs: []error{ErrPaymentMismatch}, state: Failed},
		{name: "fail failed purchase, a failed try on its fallback page, is a no-op", from: ops(purchase, accept, fail), do: func(o Offer) (Offer, error) {
			return Fail(o, "pay_2", "declined again", fb, after)
		}, want: Failed, noop: true},
		{name: "convert a purchase without payment id", from: ops(purchase, accept), do: func(o Offer) (Offer, error) { return Convert(o, "", after) }, errs: []error{ErrInvalid}, state: Accepted},
		{name: "convert a plan change without payment id", from: ops(accept), do: func(o Offer) (Offer, error) { return Convert(o, "", after) }, want: Charged},
		{name: "convert open", do: convert, errs: []error{ErrNotAccepted}, state: Open},
		{name: "convert declined", from: ops(decline), do: convert, errs: []error{ErrNotAccepted}, state: Declined},
		{name: "convert expired", from: ops(expire), do: convert, errs: []error{ErrNotAccepted}, state: Expired},

		// Fail.
		{name: "fail accepted", from: ops(accept), do: fail, want: Failed},
		{name: "fail accepted, no payment created", from: ops(accept), do: func(o Offer) (Offer, error) { return Fail(o, "", "api: 422", fb, after) }, want: Failed},
		{name: "fail failed, same payment, is a no-op", from: ops(accept, fail), do: fail, want: Failed, noop: true},
		{name: "fail failed, other payment", from: ops(accept, fail), do: func(o Offer) (Offer, error) { return Fail(o, "pay_2", "x", fb, after) }, errs: []error{ErrPaymentMismatch}, state: Failed},
		{name: "fail charged, same payment: stale, a no-op", from: ops(accept, convert), do: fail, want: Charged, noop: true},
		{name: "fail charged, other payment", from: ops(accept, convert), do: func(o Offer) (Offer, error) { return Fail(o, "pay_2", "x", fb, after) }, errs: []error{ErrPaymentMismatch}, state: Charged},
		{name: "fail open", do: fail, errs: []error{ErrNotAccepted}, state: Open},
		{name: "fail declined", from: ops(decline), do: fail, errs: []error{ErrNotAccepted}, state: Declined},
		{name: "fail expired", from: ops(expire), do: fail, errs: []error{ErrNotAccepted}, state: Expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := in(t, tt.from...)
			before := clone(t, o)
			got, err := tt.do(o)
			if !reflect.DeepEqual(o, before) {
				t.Fatalf("the transition changed its input:\n got %+v\nwant %+v", o, before)
			}
			if tt.errs != nil {
				if err == nil {
					t.Fatalf("got no error, state %s; want %v", got.State, tt.errs)
				}
				for _, want := range tt.errs {
					if !errors.Is(err, want) {
						t.Errorf("error %q: errors.Is(%q) = false", err, want)
					}
				}
				var te *TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("error %T is not a *TransitionError", err)
				}
				if te.State != tt.state || te.OfferID != "off_1" {
					t.Errorf("TransitionError state %q offer %q, want %q off_1", te.State, te.OfferID, tt.state)
				}
				if !reflect.DeepEqual(got, o) {
					t.Errorf("a refusal returned a changed offer %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want state %s", err, tt.want)
			}
			if got.State != tt.want {
				t.Fatalf("state = %s, want %s", got.State, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("result does not validate: %v", err)
			}
			if tt.noop {
				if !reflect.DeepEqual(got, o) {
					t.Fatalf("no-op changed the offer:\n got %+v\nwant %+v", got, o)
				}
				return
			}
			if n := len(got.History); n != len(o.History)+1 || got.History[n-1].State != tt.want {
				t.Fatalf("history = %+v, want one more entry, in %s", got.History, tt.want)
			}
		})
	}
}

func ops(fs ...func(Offer) (Offer, error)) []func(Offer) (Offer, error) { return fs }

func clone(t *testing.T, o Offer) Offer {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFailRecordsPaymentAndFallback(t *testing.T) {
	o := in(t, accept, fail)
	if o.PaymentID != "pay_1" || o.Fallback != fb {
		t.Fatalf("payment %q fallback %+v, want pay_1 %+v", o.PaymentID, o.Fallback, fb)
	}
	if last := o.History[len(o.History)-1]; last.Reason != "card declined" {
		t.Fatalf("reason = %q, want card declined", last.Reason)
	}
	c := in(t, accept, fail, convert)
	if c.State != Charged || c.PaymentID != "pay_1" {
		t.Fatalf("state %s payment %q, want charged pay_1", c.State, c.PaymentID)
	}
}

// TestTransitionsDoNotShareHistory guards against two offers derived from
// one sharing a history array, which would let one's append overwrite the
// other's entry.
func TestTransitionsDoNotShareHistory(t *testing.T) {
	o := sample(t)
	o.History = append(make([]Change, 0, 8), o.History...)
	a, err := Accept(o, before)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decline(o, before)
	if err != nil {
		t.Fatal(err)
	}
	if a.History[1].State != Accepted || d.History[1].State != Declined {
		t.Fatalf("histories share storage: %+v / %+v", a.History, d.History)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Offer)
		ok     bool
	}{
		{name: "valid", modify: func(*Offer) {}, ok: true},
		{name: "signal trigger", modify: func(o *Offer) { o.Trigger = Trigger{Signal: "usage.limit_near"} }, ok: true},
		{name: "cross sell", modify: func(o *Offer) {
			o.Kind, o.ChangePlan, o.FromProductID, o.SubscriptionID, o.Proration, o.PaymentMethodID = CrossSell, false, "", "", "", "pm_1"
		}, ok: true},
		{name: "one-click purchase without payment method", modify: func(o *Offer) {
			o.Kind, o.ChangePlan, o.FromProductID, o.SubscriptionID, o.Proration = CrossSell, false, "", "", ""
		}},
		{name: "plan change without subscription", modify: func(o *Offer) { o.SubscriptionID = "" }},
		{name: "no card", modify: func(o *Offer) { o.Card = Card{} }, ok: true},
		{name: "expires now", modify: func(o *Offer) { o.ExpiresAt = t0 }},
		{name: "no id", modify: func(o *Offer) { o.ID = "" }},
		{name: "no customer", modify: func(o *Offer) { o.CustomerID = "" }},
		{name: "no product", modify: func(o *Offer) { o.ProductID = "" }},
		{name: "unknown kind", modify: func(o *Offer) { o.Kind = "sidegrade" }},
		{name: "zero quantity", modify: func(o *Offer) { o.Quantity = 0 }},
		{name: "plan change without from", modify: func(o *Offer) { o.FromProductID = "" }},
		{name: "plan change without proration", modify: func(o *Offer) { o.Proration = "" }},
		{name: "proration without plan change", modify: func(o *Offer) { o.ChangePlan, o.FromProductID = false, "" }},
		{name: "lower-case currency", modify: func(o *Offer) { o.Amounts.Currency = "usd" }},
		{name: "negative price", modify: func(o *Offer) { o.Amounts.Price = -1 }},
		{name: "bad last4", modify: func(o *Offer) { o.Card.Last4 = "42" }},
		{name: "no trigger", modify: func(o *Offer) { o.Trigger = Trigger{} }},
		{name: "two triggers", modify: func(o *Offer) { o.Trigger.Signal = "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sample(t)
			o.State, o.History = "", nil
			tt.modify(&o)
			got, err := New(o, t0)
			if tt.ok {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got.State != Open || len(got.History) != 1 || !got.CreatedAt.Equal(t0) {
					t.Fatalf("got state %s history %+v created %s", got.State, got.History, got.CreatedAt)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, o := range []Offer{sample(t), in(t, accept), in(t, accept, fail), in(t, accept, fail, convert), in(t, decline), in(t, expire)} {
		t.Run(string(o.State), func(t *testing.T) {
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(got, o) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, o)
			}
		})
	}
}

// TestJSONFieldNames pins the wire names: downstream services read them.
func TestJSONFieldNames(t *testing.T) {
	b, err := json.Marshal(in(t, accept, fail))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "customer_id", "rule_id", "kind", "product_id", "quantity", "change_plan",
		"from_product_id", "proration", "amounts", "card", "display", "gains", "loses", "created_at",
		"expires_at", "state", "history", "payment_id", "fallback", "trigger", "one_click", "subscription_id"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, b)
		}
	}
	for _, want := range []string{`"currency":"USD"`, `"due_now":3100`, `"price_difference":2000`, `"last4":"4242"`, `"badge":"-20%"`,
		`"checkout_url":"https://checkout.example/c/1"`, `"update_payment_method":true`, `"webhook_id":"msg_1"`,
		`"reason":"card declined"`, `"state":"failed"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s missing from %s", want, b)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `{}`, `{"id":"x"}`, `{"state":"open","history":[]}`} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

// The proration modes are Dodo's, as its spec lists them (the rules file,
// the engine, the API and the Dodo client all use this one type).
func TestProrationsAreDodos(t *testing.T) {
	b, err := os.ReadFile(dodospec.Path())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				ProrationBillingMode struct {
					Enum []string `json:"enum"`
				}
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	got := []string{string(ProratedImmediately), string(DifferenceImmediately), string(FullImmediately), string(DoNotBill)}
	want := doc.Components.Schemas.ProrationBillingMode.Enum
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("proration modes %v, Dodo's spec says %v", got, want)
	}
}

func TestSubject(t *testing.T) {
	want := []string{
		"offerflow.offers.created.cus_1", "offerflow.offers.accepted.cus_1", "offerflow.offers.declined.cus_1",
		"offerflow.offers.failed.cus_1", "offerflow.offers.expired.cus_1", "offerflow.offers.converted.cus_1",
	}
	for i, ev := range Events() {
		if got := Subject(ev, "cus_1"); got != want[i] {
			t.Errorf("Subject(%s) = %q, want %q", ev, got, want[i])
		}
	}
	states := map[State]Event{Open: EventCreated, Accepted: EventAccepted, Declined: EventDeclined,
		Failed: EventFailed, Expired: EventExpired, Charged: EventConverted}
	for s, want := range states {
		if got := EventOf(s); got != want {
			t.Errorf("EventOf(%s) = %s, want %s", s, got, want)
		}
	}
}

// A plan change that converted before its payment webhook (Dodo applied it)
// records the payment's id when the webhook comes, without a new state.
func TestPlanChangePaymentRecordedLater(t *testing.T) {
	o := in(t, accept, func(o Offer) (Offer, error) { return Convert(o, "", after) })
	got, err := Convert(o, "pay_9", after)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Charged || got.PaymentID != "pay_9" || len(got.History) != len(o.History) {
		t.Fatalf("got state %s payment %q history %d, want charged pay_9 %d", got.State, got.PaymentID, len(got.History), len(o.History))
	}
	if _, err := Convert(got, "pay_other", after); !errors.Is(err, ErrPaymentMismatch) {
		t.Fatalf("another payment: %v, want ErrPaymentMismatch", err)
	}
}
