// Package dlq is the operator's view of offerflow's dead letters: it lists
// them, shows one in full, and redrives them into DODO_EVENTS once whatever
// made them fail is fixed.
//
// A dead letter is what natsbus.ConsumerRunner publishes when the worker
// gives up on a message: the original, byte for byte with its headers, on
// offerflow.deadletter.<event type> in the OFFERFLOW stream, with the
// Offerflow-Dlq-* headers saying why, when and after how many deliveries.
//
// Reading never changes anything: List and Show use an ephemeral,
// unacknowledged consumer of their own and single-message gets, never the
// workers' durable consumer, and remove nothing. Only Redrive, and only
// when not a dry run, publishes and deletes; see Redrive for what it
// guarantees.
//
// The package reads no flags or environment; cmd/offerflow wires it.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offerflow/offerflow/internal/events"
	"github.com/offerflow/offerflow/internal/natsbus"
)

// Errors of Show (and of the single-message reads behind Redrive).
var (
	// ErrNotFound means OFFERFLOW holds no message at that sequence: it
	// never existed, aged out, or was deleted (a redriven dead letter is).
	ErrNotFound = errors.New("no such message")
	// ErrNotDeadLetter means the message at that sequence is something
	// else offerflow published (an access grant, say).
	ErrNotDeadLetter = errors.New("not a dead letter")
)

// Header names dlq reads or writes besides natsbus's Offerflow-Dlq-* ones.
const (
	// HeaderReconciled marks a message offerflow built itself from Dodo's
	// API (offerflow reconcile). It has no signature to re-verify.
	HeaderReconciled = natsbus.HeaderReconciled
	// HeaderRedrivenFrom is set on a redriven message to the sequence of
	// the dead letter it came from, so a message that dies again says it
	// has been redriven before.
	HeaderRedrivenFrom = events.HeaderRedrivenFrom
	// dlqHeaderPrefix starts every header the runner adds to a dead letter.
	dlqHeaderPrefix = events.HeaderDLQPrefix
)

// Filter selects dead letters. Its conditions are and-ed; a zero field does
// not filter.
type Filter struct {
	// Types are event types ("payment.succeeded", or "_invalid.json" for
	// signed bodies that were not JSON), matched against the original
	// subject. A token may be a NATS wildcard: "subscription.*",
	// "dispute.>".
	Types []string
	// CustomerID is compared with the customer id in the body.
	CustomerID string
	// Since and Until bound the time the message was dead-lettered:
	// Since <= dead at < Until. A dead letter without a readable time does
	// not match a time bound.
	Since, Until time.Time
	// Reason is a case-insensitive substring of the reason.
	Reason string
	// Kind is natsbus.DLQKindPermanent or natsbus.DLQKindMaxDeliveries.
	Kind string
	// Seqs are OFFERFLOW stream sequences. With Seqs, only those messages
	// are read, and a sequence that is not a dead letter is left out.
	Seqs []uint64
	// Limit stops after this many matches; 0 means no limit.
	Limit int
}

// Validate reports a filter that could never be meant: a malformed type,
// an unknown kind, a negative limit, or an empty time window.
func (f Filter) Validate() error {
	var errs []error
	for _, t := range f.Types {
		if !validTypeFilter(t) {
			errs = append(errs, fmt.Errorf("event type %q: want dot-separated tokens such as payment.succeeded, where a token may be * or a final >", t))
		}
	}
	if f.Kind != "" && !strings.EqualFold(f.Kind, natsbus.DLQKindPermanent) && !strings.EqualFold(f.Kind, natsbus.DLQKindMaxDeliveries) {
		errs = append(errs, fmt.Errorf("kind %q: want %s or %s", f.Kind, natsbus.DLQKindPermanent, natsbus.DLQKindMaxDeliveries))
	}
	if f.Limit < 0 {
		errs = append(errs, fmt.Errorf("limit %d: must be >= 0", f.Limit))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs = append(errs, fmt.Errorf("since %s is not before until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

// Match reports whether e passes every condition of f but Seqs and Limit.
func (f Filter) Match(e Entry) bool {
	if len(f.Types) > 0 && !slices.ContainsFunc(f.Types, func(t string) bool { return subjectMatch(t, e.EventType) }) {
		return false
	}
	if f.CustomerID != "" && e.CustomerID != f.CustomerID {
		return false
	}
	if !f.Since.IsZero() && (e.DeadAt.IsZero() || e.DeadAt.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (e.DeadAt.IsZero() || !e.DeadAt.Before(f.Until)) {
		return false
	}
	if f.Reason != "" && !strings.Contains(strings.ToLower(e.Reason), strings.ToLower(f.Reason)) {
		return false
	}
	if f.Kind != "" && !strings.EqualFold(e.Kind, f.Kind) {
		return false
	}
	return true
}

// subjects are the server-side filter of a scan. JetStream refuses
// overlapping filter subjects, so several types with a wildcard among them
// fall back to all dead letters; Match does the exact selection anyway.
func (f Filter) subjects() []string {
	all := []string{natsbus.DeadLetterPrefix + ">"}
	if len(f.Types) == 0 {
		return all
	}
	var subs []string
	for _, t := range f.Types {
		if len(f.Types) > 1 && strings.ContainsAny(t, "*>") {
			return all
		}
		if s := natsbus.DeadLetterPrefix + t; !slices.Contains(subs, s) {
			subs = append(subs, s)
		}
	}
	return subs
}

// Entry summarises one dead letter; Show returns the message itself.
type Entry struct {
	// Seq is the dead letter's sequence in OFFERFLOW; Show and Redrive
	// take it.
	Seq uint64 `json:"seq"`
	// Subject is the dead letter's own subject, offerflow.deadletter.<type>.
	Subject string `json:"subject"`
	// OriginalSubject is where the message was in DODO_EVENTS, and where
	// Redrive puts it back.
	OriginalSubject string `json:"original_subject"`
	EventType       string `json:"event_type"`
	WebhookID       string `json:"webhook_id"`
	// CustomerID is peeked from the body (see CustomerID); empty when the
	// body has none or is not JSON.
	CustomerID string `json:"customer_id,omitempty"`
	// Reason is the handler's error, as the runner recorded it (at most
	// 1 KiB).
	Reason     string    `json:"reason"`
	Kind       string    `json:"kind"`
	Deliveries uint64    `json:"deliveries"`
	DeadAt     time.Time `json:"dead_at,omitzero"`
	// Size is the body's length in bytes.
	Size int `json:"size"`
	// RedrivenFrom is the sequence of an earlier dead letter this message
	// was redriven from: it has failed again after a redrive. A redriven
	// dead letter itself is deleted, so it is never listed.
	RedrivenFrom uint64 `json:"redriven_from,omitempty"`
	// Reconciled is set for messages offerflow built from Dodo's API;
	// they carry no signature.
	Reconciled bool `json:"reconciled,omitempty"`
}

// Message is a dead letter as stored: the original's headers plus the
// Offerflow-Dlq-* ones, and the original body byte for byte.
type Message struct {
	Headers map[string][]string
	Body    []byte
}

// newEntry reads what an operator needs from a stored dead letter. It
// trusts nothing: a header that does not parse leaves its field empty.
func newEntry(seq uint64, subject string, h map[string][]string, body []byte) Entry {
	e := Entry{
		Seq:             seq,
		Subject:         subject,
		OriginalSubject: header(h, natsbus.HeaderDLQSubject),
		WebhookID:       header(h, natsbus.HeaderWebhookID),
		CustomerID:      CustomerID(body),
		Reason:          header(h, natsbus.HeaderDLQReason),
		Kind:            header(h, natsbus.HeaderDLQKind),
		Size:            len(body),
		Reconciled:      strings.EqualFold(header(h, HeaderReconciled), "true"),
	}
	if t, ok := strings.CutPrefix(e.OriginalSubject, events.SubjectPrefix); ok {
		e.EventType = t
	} else {
		e.EventType = strings.TrimPrefix(subject, natsbus.DeadLetterPrefix)
	}
	e.Deliveries, _ = strconv.ParseUint(header(h, natsbus.HeaderDLQDeliveries), 10, 64)
	e.RedrivenFrom, _ = strconv.ParseUint(header(h, HeaderRedrivenFrom), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, header(h, natsbus.HeaderDLQDeadAt)); err == nil {
		e.DeadAt = t.UTC()
	}
	return e
}

// header returns h's first value for name. NATS headers are
// case-sensitive, and the webhook-* ones are stored in Dodo's lower case
// while offerflow's are canonical; a publisher that wrote either in another
// case should not make a dead letter unreadable.
func header(h map[string][]string, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}

// Show returns the dead letter at seq in OFFERFLOW with all its headers and
// its body. It wraps ErrNotFound or ErrNotDeadLetter when there is none.
func Show(ctx context.Context, conn *natsbus.Conn, seq uint64) (Entry, Message, error) {
	st, err := conn.Stream(ctx, natsbus.OutStream)
	if err != nil {
		return Entry{}, Message{}, err
	}
	return get(ctx, st, seq)
}

func get(ctx context.Context, st *natsbus.Stream, seq uint64) (Entry, Message, error) {
	if seq == 0 {
		return Entry{}, Message{}, fmt.Errorf("sequence 0: %w (sequences start at 1)", ErrNotFound)
	}
	m, err := st.Get(ctx, seq)
	if errors.Is(err, natsbus.ErrNoMessage) {
		return Entry{}, Message{}, fmt.Errorf("sequence %d in %s: %w (never stored, aged out, or deleted by a redrive)", seq, natsbus.OutStream, ErrNotFound)
	}
	if err != nil {
		return Entry{}, Message{}, err
	}
	if !strings.HasPrefix(m.Subject, natsbus.DeadLetterPrefix) {
		return Entry{}, Message{}, fmt.Errorf("sequence %d is on %s: %w", seq, m.Subject, ErrNotDeadLetter)
	}
	return newEntry(m.Seq, m.Subject, m.Header, m.Data), Message{Headers: m.Header, Body: m.Data}, nil
}

// List returns the dead letters f selects, oldest first, at most f.Limit
// of them. It holds only the entries, never the bodies; Scan streams
// without holding even those.
func List(ctx context.Context, conn *natsbus.Conn, f Filter) ([]Entry, error) {
	var out []Entry
	err := Scan(ctx, conn, f, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Scan calls fn with each dead letter f selects, oldest first, stopping at
// f.Limit matches or at fn's first error, which it returns.
//
// It reads what was in the stream when it started: a dead letter added
// during the scan (a redriven message failing again, say) is left for the
// next one, so a caller that redrives as it scans cannot loop. It changes
// nothing (see natsbus.Stream.Scan).
func Scan(ctx context.Context, conn *natsbus.Conn, f Filter, fn func(Entry) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	st, err := conn.Stream(ctx, natsbus.OutStream)
	if err != nil {
		return err
	}
	if len(f.Seqs) > 0 {
		return scanSeqs(ctx, st, f, fn)
	}
	matched := 0
	return st.Scan(ctx, f.subjects(), func(m natsbus.StoredMsg) (bool, error) {
		e := newEntry(m.Seq, m.Subject, m.Header, m.Data)
		if !f.Match(e) {
			return false, nil
		}
		if err := fn(e); err != nil {
			return false, err
		}
		matched++
		return f.Limit > 0 && matched >= f.Limit, nil
	})
}

// scanSeqs reads the given sequences one by one, in the order given,
// leaving out those that are not (or no longer) dead letters.
func scanSeqs(ctx context.Context, st *natsbus.Stream, f Filter, fn func(Entry) error) error {
	matched := 0
	seen := make(map[uint64]bool, len(f.Seqs))
	for _, seq := range f.Seqs {
		if seen[seq] {
			continue
		}
		seen[seq] = true
		e, _, err := get(ctx, st, seq)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDeadLetter) {
			continue
		}
		if err != nil {
			return err
		}
		if !f.Match(e) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
		matched++
		if f.Limit > 0 && matched >= f.Limit {
			return nil
		}
	}
	return nil
}

// validTypeFilter reports whether t can follow a subject prefix as an
// event-type filter: non-empty dot-separated tokens without white space,
// where a token may be * and the last may be >.
func validTypeFilter(t string) bool {
	if t == "" || len(t) > 256 {
		return false
	}
	tokens := strings.Split(t, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return false
		case tok == ">":
			if i != len(tokens)-1 {
				return false
			}
		case tok == "*":
		case strings.ContainsAny(tok, "*> \t\r\n\f\v\x00"):
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

// subjectMatch reports whether subject matches pattern with NATS wildcard
// rules: * is one token, a final > one or more.
func subjectMatch(pattern, subject string) bool {
	pt := strings.Split(pattern, ".")
	st := strings.Split(subject, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) || (p != "*" && p != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}
