package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// HeaderReconciled marks a message that reconcile built from Dodo's API
// rather than one Dodo signed: it carries no webhook-signature. The dead
// letter tools read the same header (internal/dlq) to redrive such a
// message without a signature check.
const HeaderReconciled = natsbus.HeaderReconciled

// WebhookIDPrefix starts the webhook-id of every message reconcile
// publishes, so that the ledger, the access documents and the dead letters
// tell them apart from Dodo's (msg_...).
const WebhookIDPrefix = "reconcile_"

// The payload types of the webhook bodies reconcile builds (the spec's
// data.payload_type).
const (
	PayloadPayment      = "Payment"
	PayloadSubscription = "Subscription"
)

// WebhookID returns the webhook-id of the message that feeds one state of
// one object: WebhookIDPrefix and 24 hex digits of a SHA-256 over the event
// type, the object's id, its status, a variant (the product of a
// subscription, so that plan changes stamped alike differ) and the event
// time. The same state of the same object always gets the same id, so a
// second run of reconcile is dropped by JetStream's duplicate window and,
// after it, by the worker's ledger, instead of being processed twice.
func WebhookID(eventType, objectID, status, variant string, at time.Time) string {
	h := sha256.New()
	for _, s := range []string{eventType, objectID, status, variant, at.UTC().Format(time.RFC3339Nano)} {
		// Length-prefixed, so that no two tuples hash the same bytes.
		h.Write([]byte(strconv.Itoa(len(s)) + ":" + s))
	}
	return WebhookIDPrefix + hex.EncodeToString(h.Sum(nil)[:12])
}

// Body returns the webhook body Dodo would have sent for an object:
// {"business_id", "type", "timestamp", "data"}, where data is object (a
// JSON object as Dodo's API returned it: the API's PaymentResponse and
// SubscriptionResponse are the webhooks' data schemas) with payload_type
// set, as in every example of the spec. Every field of object is kept,
// byte for byte, including fields offerflow does not model. at is the
// event time; it must be a year from 0 to 9999 (RFC 3339).
func Body(businessID, eventType string, at time.Time, payloadType string, object json.RawMessage) ([]byte, error) {
	if !events.ValidType(eventType) {
		return nil, fmt.Errorf("event type %q cannot be a subject", eventType)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(object, &data); err != nil || data == nil {
		return nil, errors.New("the object is not a JSON object")
	}
	pt, err := json.Marshal(payloadType)
	if err != nil {
		return nil, err
	}
	data["payload_type"] = pt
	ts, err := at.UTC().MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("event time: %w", err)
	}
	// Field order as Dodo's envelope has it.
	return json.Marshal(struct {
		BusinessID string                     `json:"business_id"`
		Type       string                     `json:"type"`
		Timestamp  json.RawMessage            `json:"timestamp"`
		Data       map[string]json.RawMessage `json:"data"`
	}{businessID, eventType, ts, data})
}

// checkBody decodes body as the worker will and checks that it is the event
// reconcile meant: the type, the time, and the object's id and status in
// the typed payload. A failure here is a bug or an object Dodo sent in a
// shape offerflow cannot read; either way the body must not be fed.
func checkBody(body []byte, eventType string, at time.Time, id, status string) (events.Event, error) {
	ev, err := events.Decode(body)
	if err != nil {
		return events.Event{}, err
	}
	var gotID, gotStatus string
	switch p := ev.Payload.(type) {
	case *events.Payment:
		gotID = p.PaymentID
		if p.Status != nil {
			gotStatus = *p.Status
		}
	case *events.Subscription:
		gotID, gotStatus = p.SubscriptionID, p.Status
	default:
		return events.Event{}, fmt.Errorf("decoded a %T payload", ev.Payload)
	}
	if ev.Type != eventType || !ev.Timestamp.Equal(at) || gotID != id || gotStatus != status {
		return events.Event{}, fmt.Errorf("decoded %s at %s of %s in status %q, want %s at %s of %s in status %q",
			ev.Type, ev.Timestamp.Format(time.RFC3339Nano), gotID, gotStatus, eventType, at.Format(time.RFC3339Nano), id, status)
	}
	return ev, nil
}

// message is the message that feeds body: on the subject the ingest would
// use, with id as its de-duplication id and webhook-id, webhook-timestamp
// the time of publishing (as a delivery's is), no webhook-signature because
// Dodo signed nothing, and HeaderReconciled.
func message(eventType, id string, sentAt time.Time, body []byte) events.Message {
	// Names as Dodo sends them (lower case), like natsbus.WebhookMsg's.
	h := map[string][]string{
		natsbus.HeaderWebhookID:        {id},
		natsbus.HeaderWebhookTimestamp: {strconv.FormatInt(sentAt.Unix(), 10)},
		HeaderReconciled:               {"true"},
	}
	return events.Message{Subject: events.Subject(eventType), ID: id, Header: h, Data: body}
}
