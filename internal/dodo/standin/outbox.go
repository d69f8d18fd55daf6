package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/offerflow/offerflow/internal/webhook"
)

// Delivery says how webhooks are delivered. The zero Delivery sends each
// webhook once, at once, in the order the state changed, which Dodo does
// not promise: the other settings make the ways it does not keep that
// promise happen on purpose.
type Delivery struct {
	// Duplicate delivers every webhook twice, with the same webhook-id
	// (each delivery is signed anew, with its own webhook-timestamp).
	Duplicate bool
	// Delay waits this long before delivering each webhook.
	Delay time.Duration
	// Reorder delivers the webhooks of one API call (or one renewal) in
	// reverse order, e.g. subscription.plan_changed before payment.succeeded.
	Reorder bool
	// Hold queues webhooks without delivering them until Release.
	Hold bool
	// FailNext makes the next FailNext delivery attempts fail as if the
	// receiver had answered 503, without sending them: each is retried
	// after the backoff, as Dodo retries, and counts against
	// WebhookAttempts. It counts down as attempts fail.
	FailNext int
	// DuplicateNext delivers the next DuplicateNext webhooks queued twice,
	// as Duplicate does for all. It counts down as webhooks are queued.
	DuplicateNext int
}

// errInjected is the Err of a delivery attempt that Delivery.FailNext failed.
var errInjected = errors.New("failed on purpose (Delivery.FailNext)")

// SentWebhook is one delivery attempt.
type SentWebhook struct {
	ID         string // webhook-id
	Type       string // the event type, e.g. "payment.succeeded"
	CustomerID string // the customer the event is about
	Attempt    int    // 1 for the first attempt of a delivery; a duplicate's count again from 1
	Status     int    // the receiver's HTTP status; 0 when it gave none
	Err        error  // why there was no status
}

// HeldWebhook is a webhook taken out of the queue undelivered (TakeHeld).
type HeldWebhook struct {
	ID   string // its webhook-id
	Type string // the event type
	Body []byte // the payload, to be signed at delivery
}

// message is a queued webhook.
type message struct {
	id         string
	typ        string
	customer   string
	body       []byte
	deliveries int // 2 with Duplicate
}

// outbox queues webhooks and delivers them from one goroutine, in order,
// so that a webhook's retries come before the next webhook. Dodo retries
// a failed delivery for about a day (5 s, 5 min, 30 min, ...); the outbox
// makes a few quick attempts instead and then gives up on the webhook.
type outbox struct {
	url    string
	secret webhook.Secret
	client *http.Client
	// ownClient: the client is the outbox's, so Close closes its idle
	// connections (a caller's client is left alone).
	ownClient bool
	now       func() time.Time
	attempts  int
	backoff   time.Duration
	idSuffix  string

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	queue    []*message // queue[0] is being delivered, or next
	inFlight bool       // queue[0] is being delivered
	closed   bool
	delivery Delivery
	sent     []SentWebhook
	nextID   int
	// changed is closed, and replaced, whenever the state above changes:
	// a broadcast that the sender and Flush wait on with their contexts.
	changed chan struct{}
}

func newOutbox(cfg Config, ownClient bool) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{
		url: cfg.WebhookURL, secret: cfg.WebhookSecret, client: cfg.HTTPClient, ownClient: ownClient, now: cfg.Now,
		attempts: cfg.WebhookAttempts, backoff: cfg.WebhookBackoff, idSuffix: cfg.idSuffix(),
		cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}),
	}
	go func() {
		defer close(o.done)
		o.run(ctx)
	}()
	return o
}

// broadcast wakes everyone waiting for a change. The caller holds o.mu.
func (o *outbox) broadcast() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// enqueue queues the webhooks of one API call, in the order of the state
// changes, unless delivery is off.
func (o *outbox) enqueue(batch []event) {
	if o.url == "" || len(batch) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.delivery.Reorder {
		batch = slices.Clone(batch)
		slices.Reverse(batch)
	}
	for _, e := range batch {
		n := 1
		if o.delivery.Duplicate {
			n = 2
		} else if o.delivery.DuplicateNext > 0 {
			o.delivery.DuplicateNext--
			n = 2
		}
		o.nextID++
		o.queue = append(o.queue, &message{id: fmt.Sprintf("msg_%010d", o.nextID) + o.idSuffix, typ: e.typ, customer: e.customer, body: e.body, deliveries: n})
	}
	o.broadcast()
}

func (o *outbox) setDelivery(d Delivery) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivery = d
	o.broadcast()
}

func (o *outbox) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delivery.Hold = false
	o.broadcast()
}

// releaseReversed ends a Hold and delivers what was held newest first.
func (o *outbox) releaseReversed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	start := 0
	if o.inFlight {
		start = 1
	}
	slices.Reverse(o.queue[start:])
	o.delivery.Hold = false
	o.broadcast()
}

func (o *outbox) deliverySettings() (Delivery, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.delivery, len(o.queue)
}

func (o *outbox) sentLog() []SentWebhook {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sent)
}

func (o *outbox) flush(ctx context.Context) error {
	o.mu.Lock()
	for {
		switch {
		case len(o.queue) == 0:
			o.mu.Unlock()
			return nil
		case o.delivery.Hold:
			n := len(o.queue)
			o.mu.Unlock()
			return fmt.Errorf("flush: %d webhooks held; call Release", n)
		case o.closed:
			n := len(o.queue)
			o.mu.Unlock()
			return fmt.Errorf("flush: stand-in closed with %d webhooks queued", n)
		}
		changed := o.changed
		o.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("flush: %w", ctx.Err())
		}
		o.mu.Lock()
	}
}

func (o *outbox) close() {
	o.once.Do(func() {
		o.cancel()
		<-o.done
		o.mu.Lock()
		o.closed = true
		o.broadcast()
		o.mu.Unlock()
		if o.ownClient {
			o.client.CloseIdleConnections()
		}
	})
}

// run delivers the queue until ctx ends.
func (o *outbox) run(ctx context.Context) {
	for {
		o.mu.Lock()
		for len(o.queue) == 0 || o.delivery.Hold {
			changed := o.changed
			o.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
			o.mu.Lock()
		}
		m, delay := o.queue[0], o.delivery.Delay
		o.inFlight = true
		o.mu.Unlock()

		if !sleep(ctx, delay) {
			return
		}
		for range m.deliveries {
			o.deliver(ctx, m)
		}
		if ctx.Err() != nil {
			return
		}
		o.mu.Lock()
		o.queue = o.queue[1:]
		o.inFlight = false
		o.broadcast()
		o.mu.Unlock()
	}
}

// takeHeld removes the queued webhooks that delivery has not started on.
func (o *outbox) takeHeld() []HeldWebhook {
	o.mu.Lock()
	defer o.mu.Unlock()
	start := 0
	if o.inFlight {
		start = 1
	}
	var out []HeldWebhook
	for _, m := range o.queue[start:] {
		out = append(out, HeldWebhook{ID: m.id, Type: m.typ, Body: slices.Clone(m.body)})
	}
	o.queue = o.queue[:start]
	o.broadcast()
	return out
}

// deliver sends m until the receiver answers 2xx or the attempts run out.
func (o *outbox) deliver(ctx context.Context, m *message) {
	for attempt := 1; attempt <= o.attempts; attempt++ {
		if attempt > 1 && !sleep(ctx, o.backoff<<(attempt-2)) {
			return
		}
		status, err := 0, error(nil)
		if o.takeFailure() {
			status, err = http.StatusServiceUnavailable, errInjected
		} else {
			status, err = o.post(ctx, m)
		}
		if ctx.Err() != nil {
			return // closing: not an answer of the receiver's
		}
		o.mu.Lock()
		o.sent = append(o.sent, SentWebhook{ID: m.id, Type: m.typ, CustomerID: m.customer, Attempt: attempt, Status: status, Err: err})
		o.broadcast()
		o.mu.Unlock()
		if status >= 200 && status < 300 {
			return
		}
	}
}

// takeFailure reports whether the attempt about to be made is one
// Delivery.FailNext fails, and counts it.
func (o *outbox) takeFailure() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.delivery.FailNext <= 0 {
		return false
	}
	o.delivery.FailNext--
	return true
}

// post makes one signed delivery of m.
func (o *outbox) post(ctx context.Context, m *message) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(m.body))
	if err != nil {
		return 0, err
	}
	ts := o.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", webhook.Sign(o.secret, m.id, ts, m.body))
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// sleep waits d, or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
