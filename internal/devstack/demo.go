package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offerflow/offerflow/internal/confirm"
	"github.com/offerflow/offerflow/internal/devstack/payload"
	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/offerengine"
	"github.com/offerflow/offerflow/internal/webhook"
)

// runDemo runs the demo journey and prints it: hand-written webhooks for
// Ana, a journey through the stand-in's API for Ben, then the confirmation
// emails the worker sent.
func runDemo(ctx context.Context, st *stack, customer string, p *printer) error {
	// Ana, of the hand-written webhooks, is a Dodo customer too: offers
	// made to her are priced at the stand-in.
	if _, err := st.dodo.addCustomer(customer, "Ana Ruiz", "ana@example.com"); err != nil {
		return err
	}
	d, err := newDemo(ctx, st, customer, p)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := d.runDodoJourney(ctx, st.dodo); err != nil {
		return fmt.Errorf("demo through the Dodo stand-in: %w", err)
	}
	return showInbox(p, st.inboxDir)
}

// printer writes the demo's story.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

// line prints one line.
func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// header says where everything runs and how to reach it.
func (p *printer) header(natsURL, baseURL, token, secretPath, customer string, syncAlways bool) {
	sync := "every write is fsynced before it is acknowledged"
	if !syncAlways {
		sync = "JetStream fsyncs every 2 minutes (-sync-always=false)"
	}
	p.line("offerflow dev")
	p.line("  NATS      %s  (JetStream; %s)", natsURL, sync)
	p.line("  ingest    %s/webhooks/dodo", baseURL)
	p.line("  API token %s  (generated for this run)", token)
	p.line("  secret    %s  (the webhook signing secret of this run, whsec_ form)", secretPath)
	p.line("  watch     nats --server %s sub 'offerflow.>'", natsURL)
	p.line("  access    curl -H 'Authorization: Bearer %s' %s/v1/customers/%s/access", token, baseURL, customer)
}

// customers lists the stand-in's seeded customers and what their cards do.
func (p *printer) customers(cs []SeededCustomer) {
	if len(cs) == 0 {
		return
	}
	p.line("  customers at the stand-in, one per test card:")
	for _, c := range cs {
		p.line("    %-38s %-24s card %-18s %s %s", c.ID, c.Name, c.TestCard, c.PaymentMethodID, c.Outcome)
	}
}

// demo sends the journey and follows what offerflow publishes.
type demo struct {
	conn     *natsbus.Conn
	tail     *natsbus.Follower
	baseURL  string
	secret   webhook.Secret
	token    string
	customer string
	runID    string
	p        *printer
	http     *http.Client
	// lastOffers are the offers.created messages seen, by product, with
	// their accept tokens, for the journey to answer.
	lastOffers map[string]offerengine.Message
}

// money formats minor units with two decimals.
func money(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

// newDemo connects to st's NATS server and starts following what
// offerflow publishes; close stops it.
func newDemo(ctx context.Context, st *stack, customer string, p *printer) (*demo, error) {
	conn, err := natsbus.Connect(natsbus.Dial{URL: st.natsURL, Name: "offerflow-dev-demo"})
	if err != nil {
		return nil, err
	}
	// What a downstream service would see.
	f, err := conn.Follow(ctx, natsbus.OutStream, events.SubjectOut)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &demo{conn: conn, tail: f, baseURL: st.baseURL, secret: st.keys.webhook, token: st.keys.apiToken,
		customer: customer, runID: st.runID, p: p,
		http: &http.Client{Timeout: 10 * time.Second}, lastOffers: map[string]offerengine.Message{}}, nil
}

// close stops following and waits until the consumer has ended.
func (d *demo) close() {
	d.tail.Close()
	d.conn.Close()
}

// step is one webhook of the journey and how many messages offerflow
// should publish in answer.
type step struct {
	say      string
	typ      string
	id       string
	body     []byte
	badSig   bool
	expect   int
	wantCode int
}

// run is the demo's first part: hand-written webhooks of Ana's journey,
// signed and posted as Dodo would, among them a retry, a late event and a
// forgery. Each step checks the ingest's answer and what offerflow
// published. A webhook that fails for good would show a dead letter here,
// and an ERROR line in the worker's log: a clean run shows none, so that
// an ERROR in dev always means something is wrong.
func (d *demo) run(ctx context.Context) error {
	// The journey's events are a minute old at most and never in the
	// future: the last one is stamped 40 s after the first.
	start := time.Now().UTC().Add(-time.Minute)
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	c := d.customer
	sfx := "_" + d.runID
	pay, sub := "pay_demo_course"+sfx, "sub_demo"+sfx
	steps := []step{
		{say: "Ana buys the course (one-time payment): access, and the workbook offered", typ: "payment.succeeded", id: "msg_demo_1",
			body: payload.PaymentSucceeded(at(0), c, pay, "pdt_course_rust", 4900), expect: 2, wantCode: 200},
		{say: "Ana subscribes to Basic", typ: "subscription.active", id: "msg_demo_2",
			body: payload.Subscription("subscription.active", at(10), c, sub, "pdt_basic", "active", 3000), expect: 1, wantCode: 200},
		{say: "Dodo retries the same delivery (same webhook-id)", typ: "subscription.active", id: "msg_demo_2",
			body: payload.Subscription("subscription.active", at(10), c, sub, "pdt_basic", "active", 3000), expect: 0, wantCode: 200},
		{say: "Ana upgrades to Pro", typ: "subscription.plan_changed", id: "msg_demo_3",
			body: payload.Subscription("subscription.plan_changed", at(20), c, sub, "pdt_pro", "active", 8000), expect: 2, wantCode: 200},
		{say: "A stale on_hold from before the upgrade arrives late (out of order)", typ: "subscription.on_hold", id: "msg_demo_4",
			body: payload.Subscription("subscription.on_hold", at(5), c, sub, "pdt_basic", "on_hold", 3000), expect: 0, wantCode: 200},
		{say: "The course is refunded in full", typ: "refund.succeeded", id: "msg_demo_5",
			body: payload.RefundSucceeded(at(30), c, pay, 4900), expect: 1, wantCode: 200},
		{say: "Someone posts a forged webhook", typ: "subscription.active", id: "msg_demo_forged",
			body: payload.Subscription("subscription.active", at(40), c, "sub_forged"+sfx, "pdt_pro", "active", 0), badSig: true, expect: 0, wantCode: 401},
	}
	for i := range steps {
		steps[i].id += sfx
	}
	for i, s := range steps {
		d.p.line("%d. %s", i+1, s.say)
		code, respBody, err := d.send(ctx, s)
		if err != nil {
			return err
		}
		d.p.line("   -> POST /webhooks/dodo  %-26s webhook-id %-23s <- %d %s", s.typ, s.id, code, strings.TrimSpace(respBody))
		if code != s.wantCode {
			return fmt.Errorf("step %d: got HTTP %d, want %d", i+1, code, s.wantCode)
		}
		if err := d.follow(ctx, s.expect); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return d.showAccess(ctx)
}

// send signs and posts a step's webhook, with a wrong secret if the step
// is a forgery, and returns the status and the start of the answer.
func (d *demo) send(ctx context.Context, s step) (int, string, error) {
	ts := time.Now()
	sig := webhook.Sign(d.secret, s.id, ts, s.body)
	if s.badSig {
		sig = webhook.Sign(webhook.NewSecret([]byte("not-the-merchant-secret-0123456")), s.id, ts, s.body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.baseURL+"/webhooks/dodo", bytes.NewReader(s.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", s.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// follow prints what offerflow published in answer to a step: want
// messages, then anything else that arrives within a short grace period.
func (d *demo) follow(ctx context.Context, want int) error {
	deadline := time.After(10 * time.Second)
	for got := 0; got < want; {
		select {
		case m := <-d.tail.C:
			// Confirmations are printed, not counted: they follow the
			// changes they confirm.
			if !d.describe(m) {
				got++
			}
		case <-deadline:
			return fmt.Errorf("expected %d messages from offerflow, saw %d within 10s", want, got)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	grace := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-d.tail.C:
			d.describe(m)
		case <-grace:
			if want == 0 {
				d.p.line("      (nothing changes: offerflow publishes nothing)")
			}
			return nil
		}
	}
}

// describe prints a message; it reports whether it was a confirmation.
func (d *demo) describe(m natsbus.StoredMsg) (confirmation bool) {
	if strings.HasPrefix(m.Subject, confirm.SubjectPrefix) {
		var c confirm.Sent
		_ = json.Unmarshal(m.Data, &c)
		d.p.line("      %s  %s by %s to %s: %q", m.Subject, c.Kind, c.Channel, c.Email, c.Subject)
		return true
	}
	if strings.HasPrefix(m.Subject, natsbus.DeadLetterPrefix) {
		d.p.line("      %s  dead letter: %s (%s)", m.Subject, m.HeaderValue(natsbus.HeaderDLQReason), m.HeaderValue(natsbus.HeaderDLQKind))
		return false
	}
	if strings.HasPrefix(m.Subject, events.SignalsPrefix) {
		var sig struct {
			Name  string   `json:"name"`
			Value *float64 `json:"value"`
		}
		_ = json.Unmarshal(m.Data, &sig)
		value := ""
		if sig.Value != nil {
			value = strconv.FormatFloat(*sig.Value, 'g', -1, 64)
		}
		d.p.line("      %s  signal %s %s, stored for the workers", m.Subject, sig.Name, value)
		return false
	}
	if strings.HasPrefix(m.Subject, events.OffersPrefix) {
		var o offerengine.Message
		_ = json.Unmarshal(m.Data, &o)
		how := "one click on " + o.Card.Brand + " " + o.Card.Last4
		if !o.OneClick {
			how = "checkout link (no card to charge off-session)"
		}
		d.p.line("      %s  %s %s %q: %s %s due now (price %s), %s; state %s", m.Subject, o.Kind, o.ProductID, o.Display.Headline,
			o.Amounts.Currency, money(o.Amounts.DueNow), money(o.Amounts.Price), how, o.State)
		if o.PageURL != "" {
			d.p.line("        offer page  %s", o.PageURL)
		}
		if o.AcceptToken != "" {
			d.lastOffers[o.ProductID] = o
		}
		return false
	}
	var c struct {
		ProductID string   `json:"product_id"`
		Features  []string `json:"features"`
		Status    string   `json:"status"`
		EventType string   `json:"event_type"`
	}
	_ = json.Unmarshal(m.Data, &c)
	d.p.line("      %s  product %s status %s features %v (from %s)", m.Subject, c.ProductID, c.Status, c.Features, c.EventType)
	return false
}

// showAccess prints the customer's access as the /v1 API answers it.
func (d *demo) showAccess(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.baseURL+"/v1/customers/"+d.customer+"/access", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.TrimSpace(body), "   ", "  "); err != nil {
		return fmt.Errorf("access API answered %d with a body that is not JSON: %w", resp.StatusCode, err)
	}
	d.p.line("\nGET /v1/customers/%s/access <- %d\n   %s", d.customer, resp.StatusCode, pretty.String())
	return nil
}

// showInbox prints the confirmation emails the demo sent: the subject and
// recipient of each .eml file in dir.
func showInbox(p *printer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	p.line("\nConfirmation emails (one per business change), in %s:", dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("inbox %s: %w", e.Name(), err)
		}
		subject, derr := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if derr != nil {
			subject = m.Header.Get("Subject")
		}
		p.line("   to %-32s %s", m.Header.Get("To"), subject)
		f.Close()
	}
	return nil
}
