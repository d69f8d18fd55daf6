package natsbus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrClaimHeld means another worker holds a live claim on the key: it is
// processing the same webhook right now. The caller retries later; by then
// the other worker has committed or its lease has run out.
var ErrClaimHeld = errors.New("claimed by another worker")

// Ledger is the idempotency ledger: one key per business key (a webhook-id,
// or an effect's own key), claimed before the effect and committed after.
//
// The claim is an atomic KV Create, so of two workers handed the same
// webhook at once exactly one proceeds. A claim whose worker died is taken
// over once its lease has run out; the effects behind it are written to be
// safe to re-run (see internal/worker), so a takeover finishes the work
// instead of repeating it.
type Ledger struct {
	kv    jetstream.KeyValue
	owner string
	lease time.Duration
	now   func() time.Time
}

// NewLedger binds to the ledger bucket. owner names this worker in claims;
// lease is how long a claim protects its holder and should exceed the
// consumer's AckWait.
func NewLedger(ctx context.Context, js jetstream.JetStream, owner string, lease time.Duration, now func() time.Time) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, LedgerBucket)
	if err != nil {
		return nil, fmt.Errorf("ledger bucket: %w", err)
	}
	return &Ledger{kv: kv, owner: owner, lease: lease, now: now}, nil
}

type ledgerEntry struct {
	State     string    `json:"state"` // "claimed" or "done"
	Owner     string    `json:"owner"`
	ClaimedAt time.Time `json:"claimed_at"`
	DoneAt    time.Time `json:"done_at,omitzero"`
}

// Claim is a held claim, or the news that the key is already done.
type Claim struct {
	Key  string
	Done bool // the effect was committed earlier: do nothing
	// TakenOver is set when an earlier claim's lease ran out: its worker
	// may have done part of the effect.
	TakenOver bool
	rev       uint64
	claimedAt time.Time
}

// Claim claims key. It returns Claim{Done: true} when the key was committed
// before, ErrClaimHeld while another worker's lease is live, and otherwise a
// claim to pass to Commit.
func (l *Ledger) Claim(ctx context.Context, key string) (Claim, error) {
	k := LedgerKey(key)
	now := l.now().UTC()
	val, _ := json.Marshal(ledgerEntry{State: "claimed", Owner: l.owner, ClaimedAt: now})
	rev, err := l.kv.Create(ctx, k, val)
	if err == nil {
		return Claim{Key: k, rev: rev, claimedAt: now}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Claim{}, fmt.Errorf("ledger claim: %w", err)
	}
	entry, err := l.kv.Get(ctx, k)
	if err != nil {
		return Claim{}, fmt.Errorf("ledger read: %w", err)
	}
	var cur ledgerEntry
	if err := json.Unmarshal(entry.Value(), &cur); err != nil {
		return Claim{}, fmt.Errorf("ledger entry %s: %w", k, err)
	}
	if cur.State == "done" {
		return Claim{Key: k, Done: true}, nil
	}
	if now.Sub(cur.ClaimedAt) < l.lease {
		return Claim{}, fmt.Errorf("%s: %w (owner %s, since %s)", k, ErrClaimHeld, cur.Owner, cur.ClaimedAt.Format(time.RFC3339))
	}
	rev, err = l.kv.Update(ctx, k, val, entry.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// Someone else took it over first.
		return Claim{}, fmt.Errorf("%s: %w", k, ErrClaimHeld)
	}
	if err != nil {
		return Claim{}, fmt.Errorf("ledger takeover: %w", err)
	}
	return Claim{Key: k, TakenOver: true, rev: rev, claimedAt: now}, nil
}

// Commit records the claimed key as done. If another worker took the claim
// over in the meantime, it will commit the same key; that is not an error.
func (l *Ledger) Commit(ctx context.Context, c Claim) error {
	if c.Done {
		return nil
	}
	val, _ := json.Marshal(ledgerEntry{State: "done", Owner: l.owner, ClaimedAt: c.claimedAt, DoneAt: l.now().UTC()})
	_, err := l.kv.Update(ctx, c.Key, val, c.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger commit: %w", err)
	}
	return nil
}

// State returns "claimed", "done" or "" (never seen) for key. Tests and the
// operator tools read the ledger with it.
func (l *Ledger) State(ctx context.Context, key string) (string, error) {
	entry, err := l.kv.Get(ctx, LedgerKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger read: %w", err)
	}
	var cur ledgerEntry
	if err := json.Unmarshal(entry.Value(), &cur); err != nil {
		return "", fmt.Errorf("ledger entry: %w", err)
	}
	return cur.State, nil
}

// LedgerKey maps a business key to a KV key. KV keys allow only
// [-/_=.a-zA-Z0-9]. A key "namespace.id" (webhook.<webhook-id>) keeps its
// namespace readable and passes the id through Token; anything else is a
// Token as a whole. The two forms cannot collide: a Token has no dot.
func LedgerKey(key string) string {
	if ns, id, ok := strings.Cut(key, "."); ok && safeToken(ns) {
		return ns + "." + Token(id)
	}
	return Token(key)
}

// Token returns s as one subject token and a valid KV key: s itself when it
// is short and made only of [A-Za-z0-9_-] (Dodo's ids are), and otherwise
// "b64_" and its base64url encoding, so that no id can add subject levels or
// wildcards, and two different ids never share a token.
func Token(s string) string {
	if safeToken(s) && !strings.HasPrefix(s, "b64_") {
		return s
	}
	return "b64_" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// safeToken reports whether s is non-empty, at most 200 bytes, and made
// only of [A-Za-z0-9_-].
func safeToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Release gives up a claim whose effect failed, so the next attempt (a
// redelivery, a redrive) claims the key at once instead of waiting for the
// lease to run out. It deletes the key only if it still holds this claim;
// a claim taken over, committed or already released is left alone. Best
// effort: a release that fails leaves the lease to expire, as a crash would.
func (l *Ledger) Release(ctx context.Context, c Claim) error {
	if c.Done || c.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, c.Key, jetstream.LastRevision(c.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
		return fmt.Errorf("ledger release: %w", err)
	}
	return nil
}

// isWrongSequence reports the server's answer to a delete whose expected
// revision no longer matches (the claim moved on).
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
