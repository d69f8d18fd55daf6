package natsbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/offerflow/offerflow/internal/offers"
)

// Errors of the offer store.
var (
	// ErrOfferExists: Create found an offer with the same id.
	ErrOfferExists = errors.New("offer already exists")
	// ErrOfferNotFound: no offer has that id.
	ErrOfferNotFound = errors.New("offer not found")
	// ErrTokenUsed: the offer token's nonce was used before. A token
	// accepts at most once, whoever presents it and however often.
	ErrTokenUsed = errors.New("offer token already used")
)

// transitionAttempts bounds Transition's read-apply-write loop. Each lost
// compare-and-swap means another writer changed the offer; an offer has at
// most a handful of transitions in its life, so a few attempts always
// suffice unless something is wrong, and then the caller should hear it.
const transitionAttempts = 8

// OfferStore keeps one offers.Offer per offer id in the offers bucket, and
// the used offer-token nonces in the tokens bucket. Writes are
// compare-and-swap on the revision read, so that of two workers (or an API
// call and a worker) changing one offer at once exactly one wins, and the
// other re-reads and re-decides.
//
// Every write of an offer (and of its published-state mark) carries the
// bucket's offer retention as its TTL, so an offer leaves the bucket that
// long after its last change, and the bucket does not grow with every offer
// ever made. Indexes and stats are written without one. Due entries (the
// sweep's index by time, due.go) carry it too.
type OfferStore struct {
	js        jetstream.JetStream
	offers    jetstream.KeyValue
	tokens    jetstream.KeyValue
	retention time.Duration
	// cursorSeen: this store made sure the due index's cursor exists.
	cursorSeen atomic.Bool
}

// NewOfferStore binds to the offers and tokens buckets (EnsureStreams
// creates them), with the offer retention recorded on the offers bucket.
func NewOfferStore(ctx context.Context, js jetstream.JetStream) (*OfferStore, error) {
	o, err := js.KeyValue(ctx, OffersBucket)
	if err != nil {
		return nil, fmt.Errorf("offers bucket: %w", err)
	}
	t, err := js.KeyValue(ctx, TokensBucket)
	if err != nil {
		return nil, fmt.Errorf("tokens bucket: %w", err)
	}
	st, err := o.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("offers bucket: %w", err)
	}
	// A limit marker TTL is what turns message TTLs on for a bucket.
	if st.LimitMarkerTTL() <= 0 {
		return nil, fmt.Errorf("offers bucket %s does not allow message TTLs (NATS server 2.11 or later is needed; start the ingest or the worker once to update it)", OffersBucket)
	}
	retention, err := time.ParseDuration(st.Metadata()[offerRetentionKey])
	if err != nil || retention < time.Second {
		return nil, fmt.Errorf("offers bucket %s: metadata %s is %q, want a duration (start the ingest or the worker once to set it)", OffersBucket, offerRetentionKey, st.Metadata()[offerRetentionKey])
	}
	return &OfferStore{js: js, offers: o, tokens: t, retention: retention}, nil
}

// write puts val under key in the offers bucket with ttl as its TTL; with
// rev, only if rev is still the key's revision (ErrConflict otherwise).
// nats.go's KeyValue sets a TTL on Create only, so this is a KV write by
// hand: a publish to the bucket's subject for key.
func (s *OfferStore) write(ctx context.Context, key string, val []byte, rev uint64, checkRev bool, h nats.Header, ttl time.Duration) (uint64, error) {
	opts := []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl)}
	if checkRev {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(rev))
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: "$KV." + OffersBucket + "." + key, Data: val, Header: h}, opts...)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Create stores a new offer. It refuses an offer that does not validate,
// and returns ErrOfferExists if the id is taken, so that a redelivered
// webhook that computes the same offer id does not overwrite an offer that
// has moved on.
//
// The offer's expiry goes into the due index first: a crash between the
// two writes leaves an entry without an offer, which the sweep drops,
// never an offer that nothing would expire.
func (s *OfferStore) Create(ctx context.Context, o offers.Offer) error {
	val, err := encodeOffer(o)
	if err != nil {
		return err
	}
	if o.State == offers.Open {
		if err := s.Schedule(ctx, o.ID, o.CustomerID, o.ExpiresAt, o.CreatedAt); err != nil {
			return fmt.Errorf("create offer %s: %w", o.ID, err)
		}
	}
	_, err = s.offers.Create(ctx, Token(o.ID), val, jetstream.KeyTTL(s.retention))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("create offer %s: %w", o.ID, ErrOfferExists)
	}
	if err != nil {
		return fmt.Errorf("create offer %s: %w", o.ID, err)
	}
	return nil
}

// Get returns the offer and its revision, for Update; ErrOfferNotFound if
// there is none.
func (s *OfferStore) Get(ctx context.Context, id string) (offers.Offer, uint64, error) {
	var val []byte
	var rev uint64
	entry, err := s.offers.Get(ctx, Token(id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// The replica that answered may lag behind: ask the leader.
		var found bool
		val, rev, found, err = lastFromLeader(ctx, s.js, OffersBucket, Token(id))
		if err != nil {
			return offers.Offer{}, 0, fmt.Errorf("read offer %s: %w", id, err)
		}
		if !found {
			return offers.Offer{}, 0, fmt.Errorf("offer %s: %w", id, ErrOfferNotFound)
		}
	case err != nil:
		return offers.Offer{}, 0, fmt.Errorf("read offer %s: %w", id, err)
	default:
		val, rev = entry.Value(), entry.Revision()
	}
	o, err := offers.Decode(val)
	if err != nil {
		return offers.Offer{}, 0, fmt.Errorf("stored offer %s: %w", id, err)
	}
	return o, rev, nil
}

// GetFromLeader reads offer id from the offers bucket's leader, never from
// a replica that may lag: for a reader that must see a write just made (a
// replica restarted in a failover can answer with the offer as it was
// seconds before).
func (s *OfferStore) GetFromLeader(ctx context.Context, id string) (offers.Offer, uint64, error) {
	val, rev, found, err := lastFromLeader(ctx, s.js, OffersBucket, Token(id))
	switch {
	case err != nil:
		return offers.Offer{}, 0, fmt.Errorf("read offer %s: %w", id, err)
	case !found:
		return offers.Offer{}, 0, fmt.Errorf("offer %s: %w", id, ErrOfferNotFound)
	}
	o, err := offers.Decode(val)
	if err != nil {
		return offers.Offer{}, 0, fmt.Errorf("stored offer %s: %w", id, err)
	}
	return o, rev, nil
}

// Update writes o if its stored revision is still rev, and returns the new
// revision, or ErrConflict if another writer got there first.
func (s *OfferStore) Update(ctx context.Context, o offers.Offer, rev uint64) (uint64, error) {
	val, err := encodeOffer(o)
	if err != nil {
		return 0, err
	}
	next, err := s.write(ctx, Token(o.ID), val, rev, true, nil, s.retention)
	if errors.Is(err, ErrConflict) {
		return 0, fmt.Errorf("update offer %s: %w", o.ID, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("update offer %s: %w", o.ID, err)
	}
	return next, nil
}

// Transition reads offer id, applies fn (one of the offers transitions) and
// writes the result with compare-and-swap, re-reading and re-applying on a
// lost swap, at most transitionAttempts times (then ErrConflict). fn's
// error is returned as is, with the offer as read, and nothing is written: a refused
// transition (offers.ErrNotOpen...) is the caller's answer, not a retry.
// A result equal to the stored offer (an idempotent no-op) is not written
// and is returned with no error; compare its state with what the caller
// expected to tell a no-op from a change.
//
// A transition to accepted first schedules the offer in the due index at
// the accept, so that the sweep settles it if the accepting process dies
// before recording Dodo's answer; a lost swap leaves that entry behind,
// which costs the sweep one read.
//
// fn must be pure: it may run more than once.
func (s *OfferStore) Transition(ctx context.Context, id string, fn func(offers.Offer) (offers.Offer, error)) (offers.Offer, error) {
	scheduled := false
	// unanswered is a write of this call whose answer was lost and that
	// was not found stored: it may still land (a proposal the cluster
	// commits after the leader was asked), and then it is this call's.
	var unanswered []byte
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.Get(ctx, id)
		if err != nil {
			return offers.Offer{}, err
		}
		if unanswered != nil {
			if b, err := encodeOffer(cur); err == nil && bytes.Equal(b, unanswered) {
				return cur, nil
			}
		}
		next, err := fn(cur)
		if err != nil {
			return cur, err
		}
		if next.ID != cur.ID {
			return cur, fmt.Errorf("transition of offer %s returned offer %s: %w", id, next.ID, offers.ErrInvalid)
		}
		if same, err := sameOffer(cur, next); err != nil || same {
			return cur, err
		}
		if next.State == offers.Accepted && cur.State != offers.Accepted && !scheduled {
			at := next.History[len(next.History)-1].At
			if err := s.Schedule(ctx, next.ID, next.CustomerID, at, at); err != nil {
				return cur, fmt.Errorf("update offer %s: %w", id, err)
			}
			scheduled = true
		}
		_, err = s.Update(ctx, next, rev)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			// No answer (a timeout, a leader lost mid-write): the write
			// may have landed. Said to have failed, a landed accept
			// would be charged by no one, and its retry refused as
			// already accepted.
			landed, rerr := s.landed(ctx, OffersBucket, Token(id), func() ([]byte, error) { return encodeOffer(next) })
			switch {
			case rerr != nil:
				return cur, err // still unknown: the caller hears the write's failure
			case landed:
				return next, nil
			case attempt+1 >= transitionAttempts:
				return cur, err
			}
			// Not written yet: read again, and decide again.
			if unanswered, err = encodeOffer(next); err != nil {
				return cur, err
			}
			continue
		}
		if attempt+1 >= transitionAttempts {
			return cur, err
		}
		// A short pause, longer each time, so that a crowd of writers
		// does not keep colliding in lock step.
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

// UseToken records an offer token's nonce as used. It succeeds for exactly
// one call per nonce, however many workers or API replicas try at once
// (an atomic KV create), and returns ErrTokenUsed to every other. Call it
// after verifying the token and before charging; the tokens bucket keeps
// nonces for StreamSettings.TokenTTL, longer than any token lives.
//
// Each call writes a value of its own (a random use id), so that when the
// create's answer is lost the call can tell its own write from another
// caller's: landed, it succeeds; not written, it tries once more.
func (s *OfferStore) UseToken(ctx context.Context, nonce string) error {
	if nonce == "" {
		return fmt.Errorf("use token: empty nonce: %w", offers.ErrInvalid)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return fmt.Errorf("use token: %w", err)
	}
	use := []byte("used " + hex.EncodeToString(id[:]))
	for attempt := 0; ; attempt++ {
		_, err := s.tokens.Create(ctx, Token(nonce), use)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if attempt > 0 {
				// The first create's answer was lost and it was not
				// found: it may have landed since, and be this call's.
				if mine, rerr := s.landed(ctx, TokensBucket, Token(nonce), func() ([]byte, error) { return use, nil }); rerr == nil && mine {
					return nil
				}
			}
			return fmt.Errorf("token %s: %w", nonce, ErrTokenUsed)
		}
		if err == nil {
			return nil
		}
		landed, rerr := s.landed(ctx, TokensBucket, Token(nonce), func() ([]byte, error) { return use, nil })
		switch {
		case rerr == nil && landed:
			return nil
		case rerr != nil || attempt > 0:
			return fmt.Errorf("use token: %w", err)
		}
	}
}

// ReleaseToken forgets that an offer token's nonce was used, so that the
// token works again: for a caller that used the token and then could not
// make the change it was used for (the store did not answer). The offer's
// own compare-and-swap, not the token, is what keeps an offer from being
// accepted twice.
func (s *OfferStore) ReleaseToken(ctx context.Context, nonce string) error {
	if err := s.tokens.Delete(ctx, Token(nonce)); err != nil {
		return fmt.Errorf("release token: %w", err)
	}
	return nil
}

// landedWait bounds how long landed keeps asking the bucket's leader: a
// leader election takes seconds.
const landedWait = 15 * time.Second

// landed reports whether key's current value, as the bucket's leader has
// it, is exactly what want returns: whether a write whose answer was lost
// is stored. It asks until the leader answers, for at most landedWait, even
// when ctx has ended (the write's own deadline may be what ended it). A
// different value or none means the write did not land (or another
// writer's replaced it).
//
// The values written make "exactly" mean "this call's" where it matters:
// an accept's record holds the clock's time of the accept to the
// nanosecond, so two callers' accepts differ, and a token's use id is
// random. A transition whose time comes from an event (a payment settling
// an offer) can be written identically by two callers, and then either may
// take the one record for its own; nothing is charged after a settle.
func (s *OfferStore) landed(ctx context.Context, bucket, key string, want func() ([]byte, error)) (bool, error) {
	w, err := want()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), landedWait)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		val, _, found, err := lastFromLeader(actx, s.js, bucket, key)
		acancel()
		if err == nil {
			return found && bytes.Equal(val, w), nil
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func encodeOffer(o offers.Offer) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("store offer: %w", err)
	}
	val, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode offer %s: %w", o.ID, err)
	}
	return val, nil
}

// sameOffer compares two offers by their stored form.
func sameOffer(a, b offers.Offer) (bool, error) {
	x, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("encode offer %s: %w", a.ID, err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		return false, fmt.Errorf("encode offer %s: %w", b.ID, err)
	}
	return bytes.Equal(x, y), nil
}

// Keys of the offers bucket besides the offers themselves (whose keys are
// Token(id), which has no dot, so the prefixes cannot collide).
const (
	indexKeyPrefix     = "c."
	statsKeyPrefix     = "stats."
	publishedKeyPrefix = "pub."
)

// Published returns the last state of offer id whose message is known to
// be published, "" when none is.
func (s *OfferStore) Published(ctx context.Context, id string) (offers.State, error) {
	e, err := s.offers.Get(ctx, publishedKeyPrefix+Token(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("published state of offer %s: %w", id, err)
	}
	return offers.State(e.Value()), nil
}

// MarkPublished records that the message of offer id's state st is
// published, so that repeating a transition that changed nothing does not
// publish it again, whatever JetStream's duplicate window.
func (s *OfferStore) MarkPublished(ctx context.Context, id string, st offers.State) error {
	if _, err := s.write(ctx, publishedKeyPrefix+Token(id), []byte(st), 0, false, nil, s.retention); err != nil {
		return fmt.Errorf("mark offer %s %s published: %w", id, st, err)
	}
	return nil
}

// Index returns a customer's offer index and its revision (0: none yet).
func (s *OfferStore) Index(ctx context.Context, customerID string) (offers.Index, uint64, error) {
	entry, err := s.offers.Get(ctx, indexKeyPrefix+Token(customerID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return offers.Index{CustomerID: customerID}, 0, nil
	}
	if err != nil {
		return offers.Index{}, 0, fmt.Errorf("read offer index of %s: %w", customerID, err)
	}
	var ix offers.Index
	if err := json.Unmarshal(entry.Value(), &ix); err != nil {
		return offers.Index{}, 0, fmt.Errorf("decode offer index of %s: %w", customerID, err)
	}
	return ix, entry.Revision(), nil
}

// UpdateIndex reads the customer's index, applies fn and writes the result
// with compare-and-swap, re-reading and re-applying on a lost swap. fn
// returns the new index and whether to write it; its error is returned as
// is and nothing is written. fn must be pure: it may run more than once.
func (s *OfferStore) UpdateIndex(ctx context.Context, customerID string, fn func(offers.Index) (offers.Index, bool, error)) (offers.Index, error) {
	key := indexKeyPrefix + Token(customerID)
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.Index(ctx, customerID)
		if err != nil {
			return offers.Index{}, err
		}
		next, write, err := fn(cur)
		if err != nil || !write {
			return cur, err
		}
		val, err := json.Marshal(next)
		if err != nil {
			return cur, fmt.Errorf("encode offer index of %s: %w", customerID, err)
		}
		if rev == 0 {
			_, err = s.offers.Create(ctx, key, val)
		} else {
			_, err = s.offers.Update(ctx, key, val, rev)
		}
		if err == nil {
			return next, nil
		}
		lost := errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
		if !lost || attempt+1 >= 4*transitionAttempts {
			return cur, fmt.Errorf("write offer index of %s: %w", customerID, err)
		}
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-time.After(time.Duration(attempt%8+1) * 3 * time.Millisecond):
		}
	}
}

// NoteOffer brings o's entry in its customer's index up to date.
func (s *OfferStore) NoteOffer(ctx context.Context, o offers.Offer, now time.Time) error {
	_, err := s.UpdateIndex(ctx, o.CustomerID, func(ix offers.Index) (offers.Index, bool, error) {
		next, changed := ix.Note(o, now)
		return next, changed, nil
	})
	return err
}

// IndexedCustomers returns the ids of the customers that have an offer
// index, for the full sweep. It reads every index key, so its cost grows
// with the number of customers who were ever made an offer and kept one in
// their index: the regular sweep reads the due index instead (ScanDue).
func (s *OfferStore) IndexedCustomers(ctx context.Context) ([]string, error) {
	keys, err := s.offers.ListKeysFiltered(ctx, indexKeyPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("list offer indexes: %w", err)
	}
	var ids []string
	for k := range keys.Keys() {
		entry, err := s.offers.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			_ = keys.Stop()
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		var ix offers.Index
		if err := json.Unmarshal(entry.Value(), &ix); err != nil || ix.CustomerID == "" {
			continue // not ours to fix here; Index reports it to whoever reads it
		}
		ids = append(ids, ix.CustomerID)
	}
	return ids, nil
}

// Count adds o's arrival in state to its rule's figures (compare-and-swap,
// retried). Call it once per stored transition, by the caller whose write
// made it.
func (s *OfferStore) Count(ctx context.Context, o offers.Offer, state offers.State) error {
	rule := offers.StatsKey(o)
	key := statsKeyPrefix + Token(rule)
	for attempt := 0; ; attempt++ {
		cur := offers.Stats{RuleID: rule}
		var rev uint64
		entry, err := s.offers.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("read stats of %s: %w", rule, err)
		default:
			if err := json.Unmarshal(entry.Value(), &cur); err != nil {
				return fmt.Errorf("decode stats of %s: %w", rule, err)
			}
			rev = entry.Revision()
		}
		val, err := json.Marshal(cur.Counted(o, state))
		if err != nil {
			return fmt.Errorf("encode stats of %s: %w", rule, err)
		}
		if rev == 0 {
			_, err = s.offers.Create(ctx, key, val)
		} else {
			_, err = s.offers.Update(ctx, key, val, rev)
		}
		if err == nil {
			return nil
		}
		lost := errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
		if !lost || attempt+1 >= 4*transitionAttempts {
			return fmt.Errorf("write stats of %s: %w", rule, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt%8+1) * 3 * time.Millisecond):
		}
	}
}

// Stats returns every rule's figures, sorted by rule id.
func (s *OfferStore) Stats(ctx context.Context) ([]offers.Stats, error) {
	keys, err := s.offers.ListKeysFiltered(ctx, statsKeyPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("list stats: %w", err)
	}
	var out []offers.Stats
	for k := range keys.Keys() {
		entry, err := s.offers.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			_ = keys.Stop()
			return nil, fmt.Errorf("read %s: %w", k, err)
		}
		var st offers.Stats
		if err := json.Unmarshal(entry.Value(), &st); err != nil {
			_ = keys.Stop()
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b offers.Stats) int { return strings.Compare(a.RuleID, b.RuleID) })
	return out, nil
}

// Delete removes an offer that was never published (one that lost the race
// to another offer for its customer): a purge, whose marker expires with
// the offer retention like an offer would.
func (s *OfferStore) Delete(ctx context.Context, id string) error {
	h := nats.Header{"KV-Operation": []string{"PURGE"}, jetstream.MsgRollup: []string{jetstream.MsgRollupSubject}}
	if _, err := s.write(ctx, Token(id), nil, 0, false, h, s.retention); err != nil {
		return fmt.Errorf("delete offer %s: %w", id, err)
	}
	return nil
}
