package events

import (
	"errors"
	"fmt"
)

// Message is one message offerflow publishes, in terms of no broker: the
// NATS adapter (internal/natsbus) stores it in JetStream with ID as its
// Nats-Msg-Id. Everything offerflow publishes is a Message, and every
// Message has an ID, so that a publish repeated after a crash or a lost
// acknowledgement is stored once.
type Message struct {
	Subject string
	// ID de-duplicates: the stream keeps one message per ID within its
	// duplicate window. Required; derive it from what the message is
	// about (a webhook-id, an offer and its state), never at random.
	ID string
	// Header holds the message's headers, names as given (not
	// canonicalised: the webhook-* headers stay lower case).
	Header map[string][]string
	Data   []byte
}

// ErrNoMessageID is returned for a Message without an ID.
var ErrNoMessageID = errors.New("message without an id: every message offerflow publishes needs one to be de-duplicated")

// Check reports what makes m unpublishable.
func (m Message) Check() error {
	switch {
	case m.Subject == "":
		return errors.New("message without a subject")
	case m.ID == "":
		return fmt.Errorf("%s: %w", m.Subject, ErrNoMessageID)
	}
	return nil
}

// WebhookMessage is a verified webhook as offerflow stores it: the raw body
// on subject, its webhook-id as the message ID (so Dodo's retries within
// the duplicate window are stored once), and the three webhook-* headers
// under Dodo's lower-case names, so anyone can verify it again.
func WebhookMessage(subject, id, timestamp, signature string, body []byte) Message {
	return Message{
		Subject: subject,
		ID:      id,
		Header: map[string][]string{
			HeaderWebhookID:        {id},
			HeaderWebhookTimestamp: {timestamp},
			HeaderWebhookSignature: {signature},
		},
		Data: body,
	}
}
