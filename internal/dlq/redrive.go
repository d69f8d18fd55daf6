package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
	"github.com/offerflow/offerflow/internal/webhook"
)

// Actions of a Result.
const (
	ActionRedriven     = "redriven"
	ActionWouldRedrive = "would_redrive"
	ActionSkipped      = "skipped"
)

// Verification outcomes of a Result.
const (
	SignatureOK        = "signature_ok"
	UnsignedReconciled = "unsigned_reconciled"
	BadSignature       = "bad_signature"
)

// Result is what Redrive did, or in a dry run would do, with one dead
// letter.
type Result struct {
	Seq       uint64 `json:"seq"`
	WebhookID string `json:"webhook_id"`
	// Subject is where the message goes back to in DODO_EVENTS.
	Subject string `json:"subject,omitempty"`
	// Action is ActionRedriven, ActionWouldRedrive or ActionSkipped.
	Action string `json:"action"`
	// Verified is SignatureOK, UnsignedReconciled, BadSignature, or empty
	// when the dead letter could not be read.
	Verified string `json:"verified,omitempty"`
	// EventsSeq is the republished message's sequence in DODO_EVENTS.
	EventsSeq uint64 `json:"events_seq,omitempty"`
	// Duplicate means JetStream had the republished message already: an
	// earlier redrive of this dead letter published it and stopped before
	// deleting the dead letter.
	Duplicate bool `json:"duplicate,omitempty"`
	// Error says why a dead letter was skipped, or what went wrong after
	// it was republished.
	Error string `json:"error,omitempty"`
}

// Checker re-verifies the Standard Webhooks signature a dead letter was
// stored with, against the configured secrets.
type Checker struct {
	secrets []webhook.Secret
}

// NewChecker returns a Checker for secrets (DODO_WEBHOOK_SECRET, parsed
// with webhook.ParseSecrets; several during a rotation).
func NewChecker(secrets []webhook.Secret) (*Checker, error) {
	// Building one verifier up front refuses what every Check would.
	if _, err := webhook.NewVerifier(secrets, time.Second, nil); err != nil {
		return nil, err
	}
	return &Checker{secrets: secrets}, nil
}

// Check verifies the webhook-* headers of h against body, with the same
// parsing and constant-time MAC comparison as the ingest. What it does not
// check is freshness: a dead letter is hours or days old by design, so
// "now" is the stored webhook-timestamp itself. The signature covers that
// timestamp, so it cannot be altered either.
func (c *Checker) Check(h map[string][]string, body []byte) error {
	id, ts, sig := header(h, natsbus.HeaderWebhookID), header(h, natsbus.HeaderWebhookTimestamp), header(h, natsbus.HeaderWebhookSignature)
	var at time.Time
	if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
		at = time.Unix(sec, 0)
	} // else Verify refuses the header before it looks at the time
	v, err := webhook.NewVerifier(c.secrets, time.Second, func() time.Time { return at })
	if err != nil {
		return err
	}
	_, err = v.Verify(id, ts, sig, body)
	return err
}

// Redrive puts the dead letters entries name back into DODO_EVENTS, in the
// given order, so the worker processes them again; with dryRun it only
// reports what it would do. Each dead letter is read again by its Seq
// (entries need only that), so one redriven or deleted since it was listed
// is skipped, not published twice.
//
// For each dead letter:
//
//  1. Its signature is re-verified with c (see Checker.Check). A message
//     marked Offerflow-Reconciled: true was built by offerflow from Dodo's
//     API and has none: it goes back unverified, and the result says
//     UnsignedReconciled. A bad signature means the stored message is not
//     what Dodo sent: it is skipped and stays a dead letter.
//  2. Its original subject must be under dodo.events.: a dead letter is
//     never published anywhere else.
//  3. The original body and headers, without the Offerflow-Dlq-* headers
//     and JetStream's Nats-* instructions (see RedriveMsg), are published to the original subject with Nats-Msg-Id
//     "redrive.<webhook-id>.<dead letter seq>" and Offerflow-Redriven-From
//     set to the dead letter's sequence, and Redrive waits for the PubAck.
//     The Nats-Msg-Id differs from the original's (the webhook-id), which
//     the stream's duplicate window would otherwise swallow.
//  4. The dead letter is deleted, so it is not redriven again.
//
// What this guarantees: the webhook-id header is kept, and the worker's
// ledger is keyed by it, so a redriven webhook whose effects were applied
// before (by a Dodo retry that succeeded later, or an earlier redrive)
// applies nothing a second time. A crash between the publish and the delete
// leaves the dead letter in place; redriving it again publishes the same
// Nats-Msg-Id, which JetStream drops as a duplicate within the stream's
// duplicate window (Result.Duplicate), and which the ledger absorbs after
// it. Two operators redriving the same dead letter at once end the same
// way.
//
// The ledger remembers a webhook-id for LEDGER_TTL (14 days by default)
// while OFFERFLOW keeps dead letters for STREAM_MAX_AGE (30 days): a dead
// letter older than the ledger's memory, whose webhook has since succeeded
// through one of Dodo's retries, is applied again. Access changes are
// ordered by event time and absorb that; effects added later must too, or
// the operator checks before redriving very old dead letters.
//
// Redrive returns an error only when it cannot go on at all (OFFERFLOW is
// missing, ctx ends); what happened to each dead letter, failures included,
// is in its Result.
func Redrive(ctx context.Context, conn *natsbus.Conn, c *Checker, entries []Entry, dryRun bool) ([]Result, error) {
	if c == nil {
		return nil, errors.New("redrive: no webhook secrets to verify signatures with")
	}
	st, err := conn.Stream(ctx, natsbus.OutStream)
	if err != nil {
		return nil, err
	}
	pub := conn.Publisher(10 * time.Second)
	results := make([]Result, 0, len(entries))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		results = append(results, redriveOne(ctx, pub, st, c, e.Seq, dryRun))
	}
	return results, nil
}

func redriveOne(ctx context.Context, pub *natsbus.Publisher, st *natsbus.Stream, c *Checker, seq uint64, dryRun bool) Result {
	e, m, err := get(ctx, st, seq)
	r := Result{Seq: seq, WebhookID: e.WebhookID, Subject: e.OriginalSubject, Action: ActionSkipped}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Verified = UnsignedReconciled
	if !e.Reconciled {
		if err := c.Check(m.Headers, m.Body); err != nil {
			r.Verified = BadSignature
			r.Error = "signature does not verify, the stored message is not what Dodo sent: " + err.Error()
			return r
		}
		r.Verified = SignatureOK
	}
	if !redrivable(e.OriginalSubject) {
		r.Error = fmt.Sprintf("original subject %q is not an event subject under %s; not publishing it", e.OriginalSubject, events.SubjectPrefix)
		return r
	}
	if e.WebhookID == "" {
		// Without it the worker has no ledger key and refuses the
		// message anyway.
		r.Error = "no webhook-id header"
		return r
	}
	if dryRun {
		r.Action = ActionWouldRedrive
		return r
	}
	// No WithExpectStream: JetStream stores that header with the message,
	// and the runner copies every header into a dead letter, so a
	// redriven message that failed again could never be dead-lettered in
	// OFFERFLOW. redrivable's subject check and the ack's stream below
	// do the same job.
	ack, err := pub.Send(ctx, RedriveMsg(e, m))
	if err != nil {
		r.Error = fmt.Sprintf("publish to %s: %v (nothing changed; safe to run again)", natsbus.EventsStream, err)
		return r
	}
	r.Action, r.EventsSeq, r.Duplicate = ActionRedriven, ack.Sequence, ack.Duplicate
	if ack.Stream != natsbus.EventsStream {
		r.Error = fmt.Sprintf("stored in stream %s, not %s; dead letter kept", ack.Stream, natsbus.EventsStream)
		return r
	}
	if err := st.Delete(ctx, seq); err != nil {
		r.Error = fmt.Sprintf("republished, but the dead letter was not deleted: %v (redriving it again is deduplicated)", err)
	}
	return r
}

// RedriveMsg is the message Redrive publishes for dead letter e with
// stored message m: the original body and headers, minus the runner's
// Offerflow-Dlq-* headers and any Nats-* header, with a Nats-Msg-Id of its
// own and Offerflow-Redriven-From.
//
// Nats-* headers are instructions to JetStream (an expected stream or
// sequence, a TTL, a rollup) that held for the first publish, not for this
// one; only the new Nats-Msg-Id is meant.
func RedriveMsg(e Entry, m Message) events.Message {
	h := make(map[string][]string, len(m.Headers)+1)
	for k, v := range m.Headers {
		if hasPrefixFold(k, dlqHeaderPrefix) || hasPrefixFold(k, "Nats-") || strings.EqualFold(k, HeaderRedrivenFrom) {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	seq := strconv.FormatUint(e.Seq, 10)
	h[HeaderRedrivenFrom] = []string{seq}
	return events.Message{Subject: e.OriginalSubject, ID: "redrive." + e.WebhookID + "." + seq, Data: m.Body, Header: h}
}

// redrivable reports whether subject is a literal event subject in
// DODO_EVENTS: under dodo.events., no empty tokens, no wildcards, no white
// space.
func redrivable(subject string) bool {
	rest, ok := strings.CutPrefix(subject, events.SubjectPrefix)
	if !ok || rest == "" {
		return false
	}
	for _, tok := range strings.Split(rest, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for _, r := range tok {
			if r < 0x21 || r == 0x7f {
				return false
			}
		}
	}
	return true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
