package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/access"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/natsserver/natstest"
	"github.com/offerflow/offerflow/internal/service"
	"github.com/offerflow/offerflow/internal/testenv"
)

// startStack runs the real ingest and worker on an embedded NATS server
// (testenv), 16 handlers at once, dead-lettering after 3 attempts.
func startStack(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.WithWorker(func(wc *service.WorkerConfig) {
		wc.Concurrency = 16
		wc.MaxAttempts = 3
	}))
}

var base = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)

func envelope(typ string, sec int, data map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"business_id": "bus_1", "type": typ,
		"timestamp": base.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano), "data": data})
	return b
}

func cust(id string) map[string]any {
	return map[string]any{"customer_id": id, "email": id + "@example.com", "name": id}
}

func payment(sec int, customer, payID string, products ...string) []byte {
	var cart []map[string]any
	for _, p := range products {
		cart = append(cart, map[string]any{"product_id": p, "quantity": 1})
	}
	return envelope("payment.succeeded", sec, map[string]any{"payload_type": "Payment", "payment_id": payID,
		"status": "succeeded", "customer": cust(customer), "product_cart": cart, "total_amount": 1900, "currency": "USD", "subscription_id": nil})
}

func subscription(typ string, sec int, customer, subID, product, status string) []byte {
	return envelope(typ, sec, map[string]any{"payload_type": "Subscription", "subscription_id": subID,
		"status": status, "product_id": product, "quantity": 1, "customer": cust(customer)})
}

func refund(sec int, customer, payID string) []byte {
	return envelope("refund.succeeded", sec, map[string]any{"payload_type": "Refund", "refund_id": "ref_" + payID,
		"payment_id": payID, "status": "succeeded", "is_partial": false, "customer": cust(customer)})
}

func TestDuplicateWebhookOneEffect(t *testing.T) {
	s := startStack(t)
	body := payment(0, "cus_dup", "pay_dup", "pdt_course")
	for i := 0; i < 3; i++ {
		if code := s.Post(t, "msg_dup", body); code != 200 {
			t.Fatalf("delivery %d: status %d, want 200", i+1, code)
		}
	}
	s.Settle(t)
	// Dodo retrying after JetStream's duplicate window: the same
	// webhook-id stored a second time. The ledger must absorb it.
	p := s.Conn.Publisher(5 * time.Second)
	late := natsbus.WebhookMsg("dodo.events.payment.succeeded", "msg_dup", "0", "v1,x", body)
	late.Header.Set(jetstream.MsgIDHeader, "msg_dup-after-window")
	if _, err := p.Publish(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	s.Settle(t)

	ctx := context.Background()
	st, _ := s.Conn.JetStream().Stream(ctx, natsbus.EventsStream)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("DODO_EVENTS holds %d messages, want 2 (3 deliveries stored once, plus the late one)", info.State.Msgs)
	}
	grants := s.Messages(t, natsbus.OutStream, "offerflow.access.granted.cus_dup")
	if len(grants) != 1 {
		t.Fatalf("%d access.granted messages, want exactly 1", len(grants))
	}
	c := testenv.Decode[access.Change](t, grants)[0]
	if c.ProductID != "pdt_course" || c.CustomerID != "cus_dup" || c.WebhookID != "msg_dup" || grants[0].HeaderValue("Nats-Msg-Id") != c.ID {
		t.Fatalf("grant = %+v (msg id %q)", c, grants[0].HeaderValue("Nats-Msg-Id"))
	}
	if got := s.Products(t, "cus_dup"); !slices.Equal(got, []string{"pdt_course=active"}) {
		t.Fatalf("access = %v", got)
	}
}

func TestGrantAndRevokeInReverseOrder(t *testing.T) {
	s := startStack(t)
	// The revoke (newer) arrives first, the grant (older) second.
	steps := []struct {
		id   string
		body []byte
	}{
		{"msg_r2", subscription("subscription.cancelled", 20, "cus_rev", "sub_rev", "pdt_basic", "cancelled")},
		{"msg_r1", subscription("subscription.active", 10, "cus_rev", "sub_rev", "pdt_basic", "active")},
		{"msg_p2", refund(40, "cus_rev", "pay_rev")},
		{"msg_p1", payment(30, "cus_rev", "pay_rev", "pdt_course")},
		// And a plan change that overtakes the activation.
		{"msg_s2", subscription("subscription.plan_changed", 60, "cus_rev", "sub_up", "pdt_pro", "active")},
		{"msg_s1", subscription("subscription.active", 50, "cus_rev", "sub_up", "pdt_basic", "active")},
	}
	for _, st := range steps {
		if code := s.Post(t, st.id, st.body); code != 200 {
			t.Fatalf("%s: status %d", st.id, code)
		}
		// One at a time, so the arrival order is the one written above.
		s.Settle(t)
	}
	if got := s.Products(t, "cus_rev"); !slices.Equal(got, []string{"pdt_pro=active"}) {
		t.Fatalf("access = %v, want only pdt_pro", got)
	}
	var granted []string
	for _, c := range testenv.Decode[access.Change](t, s.Messages(t, natsbus.OutStream, "offerflow.access.granted.cus_rev")) {
		granted = append(granted, c.ProductID)
	}
	if !slices.Equal(granted, []string{"pdt_pro"}) {
		t.Fatalf("granted %v, want only pdt_pro: an older event must never grant what a newer one revoked", granted)
	}
	if revoked := s.Messages(t, natsbus.OutStream, "offerflow.access.revoked."); len(revoked) != 0 {
		t.Fatalf("%d revokes published for grants that never held, want 0", len(revoked))
	}
}

func TestPoisonMessagesAreDeadLettered(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		id, body, subject, reason string
	}{
		{"msg_bad_data", `{"business_id":"b","type":"payment.succeeded","timestamp":"2026-09-01T10:00:00Z","data":"oops"}`,
			"offerflow.deadletter.payment.succeeded", "decode"},
		{"msg_no_ts", `{"business_id":"b","type":"subscription.active","data":{}}`,
			"offerflow.deadletter.subscription.active", "timestamp"},
		{"msg_not_json", `not json at all`, "offerflow.deadletter._invalid.json", "not JSON"},
	}
	for _, tt := range tests {
		if code := s.Post(t, tt.id, []byte(tt.body)); code != 200 {
			t.Fatalf("%s: status %d, want 200 (signed bodies are kept)", tt.id, code)
		}
	}
	natstest.WaitFor(t, time.Minute, "three dead letters", func() bool { return len(s.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix)) == 3 })
	byID := map[string]*natsbus.StoredMsg{}
	for _, m := range s.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix) {
		byID[m.HeaderValue("webhook-id")] = &m
	}
	for _, tt := range tests {
		m := byID[tt.id]
		if m == nil {
			t.Fatalf("no dead letter for %s", tt.id)
		}
		if m.Subject != tt.subject || !strings.Contains(m.HeaderValue(natsbus.HeaderDLQReason), tt.reason) ||
			m.HeaderValue(natsbus.HeaderDLQKind) != natsbus.DLQKindPermanent || string(m.Data) != tt.body || m.HeaderValue("webhook-signature") == "" {
			t.Fatalf("dead letter for %s: subject %s headers %v data %q", tt.id, m.Subject, m.Header, m.Data)
		}
	}
	s.Settle(t)
}

// TestParallelHandlingKeepsEachCustomerCorrect sends many events for a few
// customers, shuffled, all at once: 16 handlers race on the same customers'
// documents, and compare-and-swap must keep every update.
func TestParallelHandlingKeepsEachCustomerCorrect(t *testing.T) {
	s := startStack(t)
	type ev struct {
		id   string
		body []byte
	}
	var evs []ev
	want := map[string][]string{}
	for c := 0; c < 8; c++ {
		customer := fmt.Sprintf("cus_par_%d", c)
		for p := 0; p < 10; p++ {
			pay := fmt.Sprintf("pay_%d_%d", c, p)
			evs = append(evs, ev{"msg_" + pay, payment(p, customer, pay, fmt.Sprintf("pdt_%d", p))})
			want[customer] = append(want[customer], fmt.Sprintf("pdt_%d=active", p))
		}
		sub := fmt.Sprintf("sub_par_%d", c)
		evs = append(evs,
			ev{"msg_a_" + sub, subscription("subscription.active", 100, customer, sub, "pdt_basic", "active")},
			ev{"msg_c_" + sub, subscription("subscription.plan_changed", 110, customer, sub, "pdt_pro", "active")},
			ev{"msg_h_" + sub, subscription("subscription.on_hold", 120, customer, sub, "pdt_pro", "on_hold")},
		)
		want[customer] = append(want[customer], "pdt_pro=suspended")
		slices.Sort(want[customer])
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	var wg sync.WaitGroup
	for _, e := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := s.Post(t, e.id, e.body); code != 200 {
				t.Errorf("%s: status %d", e.id, code)
			}
		}()
	}
	wg.Wait()
	s.Settle(t)
	for customer, w := range want {
		if got := s.Products(t, customer); !slices.Equal(got, w) {
			t.Fatalf("%s: access %v, want %v", customer, got, w)
		}
	}
}

// Ids over the limit never reach a subject or a KV key: a webhook whose
// customer id is a few KB (or whose product id has a space) is
// dead-lettered with the field in the reason, and the worker goes on with
// the next webhook. Before, the oversized KV key overflowed NATS's control
// line, nats.go closed the connection and the worker stopped consuming.
func TestOversizedIDsAreDeadLettered(t *testing.T) {
	s := startStack(t)
	huge := strings.Repeat("c", 4000)
	tests := []struct {
		id     string
		body   []byte
		reason string
	}{
		{"msg_huge_customer", payment(1, huge, "pay_huge", "pdt_course"), "data.customer.customer_id is 4000 bytes"},
		{"msg_spaced_product", payment(2, "cus_ok", "pay_spaced", "pdt course"), "data.product_cart[0].product_id has a byte outside"},
	}
	for _, tt := range tests {
		if code := s.Post(t, tt.id, tt.body); code != 200 {
			t.Fatalf("%s: status %d, want 200 (signed bodies are kept)", tt.id, code)
		}
	}
	// The worker still works: a good webhook after them is handled.
	if code := s.Post(t, "msg_good_after", payment(3, "cus_after", "pay_after", "pdt_course")); code != 200 {
		t.Fatalf("good webhook: status %d", code)
	}
	natstest.WaitFor(t, time.Minute, "two dead letters and the good webhook's grant", func() bool {
		return len(s.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix)) == 2 && len(s.Products(t, "cus_after")) == 1
	})
	byID := map[string]*natsbus.StoredMsg{}
	for _, m := range s.Messages(t, natsbus.OutStream, natsbus.DeadLetterPrefix) {
		byID[m.HeaderValue("webhook-id")] = &m
	}
	for _, tt := range tests {
		m := byID[tt.id]
		if m == nil || m.HeaderValue(natsbus.HeaderDLQKind) != natsbus.DLQKindPermanent || !strings.Contains(m.HeaderValue(natsbus.HeaderDLQReason), tt.reason) {
			t.Fatalf("dead letter for %s: %v, want a permanent one with %q", tt.id, m, tt.reason)
		}
	}
	s.Settle(t)
}
