// Package webhook verifies Standard Webhooks signatures, the scheme Dodo
// Payments signs its webhooks with: HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>", sent as "v1,<base64>" entries in
// the webhook-signature header.
//
// It exists instead of the Standard Webhooks Go library because Dodo keeps
// the old secret valid for 24 hours after a rotation, so several secrets must
// be accepted at once, and because the library's 5 minute tolerance is fixed.
// Its accept/reject decisions are tested against the library's; where it is
// deliberately stricter is listed on Verifier.Verify.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offerflow/offerflow/internal/events"
)

// DefaultTolerance is the Standard Webhooks library's fixed tolerance, and
// offerflow's default.
const DefaultTolerance = 5 * time.Minute

// Header names in canonical form, so http.Header.Get does not have to
// canonicalize (and allocate) on every request.
const (
	headerID        = "Webhook-Id"
	headerTimestamp = "Webhook-Timestamp"
	headerSignature = "Webhook-Signature"
)

// Limits on what a sender may put in the headers. Dodo's ids are short
// ASCII and it sends one signature per active secret; the limits keep an
// unauthenticated request from buying much work before it is refused.
const (
	maxIDLen              = events.MaxIDLen // the webhook-id becomes a Nats-Msg-Id, a ledger key and part of derived ids
	maxTimestampDigits    = 12              // Unix seconds until the year 33658; 13 digits is milliseconds
	maxSignatureHeaderLen = 8 << 10
	maxSignatures         = 64
)

// Errors returned by Verify, wrapped with detail for the sender. The first
// two mean the request is malformed (HTTP 400), the last two that it is not
// authentic or not fresh (HTTP 401).
var (
	ErrMissingHeaders          = errors.New("missing webhook header")
	ErrMalformedHeaders        = errors.New("malformed webhook header")
	ErrNoMatchingSignature     = errors.New("no matching webhook signature")
	ErrTimestampOutOfTolerance = errors.New("webhook timestamp out of tolerance")
)

// Headers are the webhook headers Verify parsed. They are authentic only
// when Verify returned no error.
type Headers struct {
	// ID is webhook-id, the sender's idempotency key.
	ID string
	// Timestamp is webhook-timestamp, in UTC.
	Timestamp time.Time
	// Signature is the webhook-signature header as received.
	Signature string
}

// Verifier checks webhook signatures against one or more secrets. It is safe
// for concurrent use.
type Verifier struct {
	keys      []*verifyKey
	tolerance time.Duration
	now       func() time.Time
	// b64 is strict (canonical padding bits), so decoded MACs compare
	// exactly as the library's base64 text does; see parseSignatureHeader.
	b64 *base64.Encoding
}

// verifyKey pools keyed HMAC states: hmac.New allocates several objects and
// hashes the padded key, while Reset on a pooled state restores the keyed
// state from a saved copy.
type verifyKey struct {
	key  []byte
	macs sync.Pool // of *macState
}

// NewVerifier returns a Verifier that accepts a signature made with any of
// secrets, for timestamps within tolerance of now() in either direction.
// A nil now means time.Now. Duplicate secrets are dropped (each one costs an
// HMAC per request); a Secret without a key is an error.
func NewVerifier(secrets []Secret, tolerance time.Duration, now func() time.Time) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("new verifier: no secrets")
	}
	if tolerance <= 0 {
		return nil, fmt.Errorf("new verifier: tolerance %s: must be positive", tolerance)
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{tolerance: tolerance, now: now, b64: base64.StdEncoding.Strict()}
	seen := make(map[string]bool, len(secrets))
	for i, s := range secrets {
		if s.empty() {
			return nil, fmt.Errorf("new verifier: secret %d of %d: empty key", i+1, len(secrets))
		}
		key := s.key()
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		k := &verifyKey{key: key}
		k.macs.New = func() any { return newMACState(k.key, maxIDLen+maxTimestampDigits+2) }
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// VerifyRequest is Verify with the three webhook-* headers taken from h.
func (v *Verifier) VerifyRequest(h http.Header, body []byte) (Headers, error) {
	return v.Verify(h.Get(headerID), h.Get(headerTimestamp), h.Get(headerSignature), body)
}

// Verify checks that signature (the webhook-signature header) holds a v1
// signature of id, timestamp and body made with one of the secrets, and that
// timestamp is within the tolerance of now, both edges inclusive: with
// tolerance 5m, a timestamp exactly 5m old is accepted and 5m0.001s is not.
//
// Like the Standard Webhooks library, signature is a space-separated list in
// which entries without a comma and entries of other versions ("v1a,...",
// "v2,...") are skipped, and a v1 entry's signature is read up to the next
// comma. Unlike the library, which accepts whatever a matching signature
// comes with, Verify answers ErrMalformedHeaders for:
//   - an id longer than 256 bytes or with bytes outside printable ASCII;
//   - a timestamp with a sign or leading zeros (the library verifies a
//     signature of the re-formatted number, not of the header text);
//   - a signature header over 8 KiB or with more than 64 entries.
//
// It also answers ErrMalformedHeaders for some requests the library refuses
// differently: a timestamp of more than 12 digits (milliseconds, say) or a
// negative one, where the library finds it out of tolerance, and a signature
// header without one well-formed v1 entry, where the library finds no
// matching signature.
//
// On success, Headers holds the parsed headers. When the headers are well
// formed but the timestamp or signature is refused, Headers is filled in as
// well, so the caller can log the id; it is not authentic. Errors wrap one of
// the package's sentinel errors and never contain a key or an expected
// signature, so they can be returned to the sender.
func (v *Verifier) Verify(id, timestamp, signature string, body []byte) (Headers, error) {
	if id == "" || timestamp == "" || signature == "" {
		return Headers{}, missingHeaders(id, timestamp, signature)
	}
	if err := checkID(id); err != nil {
		return Headers{}, err
	}
	sec, err := parseTimestamp(timestamp)
	if err != nil {
		return Headers{}, err
	}
	// At most maxSignatures candidates, so this stays on the stack.
	var buf [maxSignatures][sha256.Size]byte
	macs, err := parseSignatureHeader(buf[:0], signature, v.b64)
	if err != nil {
		return Headers{}, err
	}
	h := Headers{ID: id, Timestamp: time.Unix(sec, 0).UTC(), Signature: signature}
	// The cheap check first: a stale request costs no HMAC.
	if err := v.checkTimestamp(h.Timestamp); err != nil {
		return h, err
	}
	if !v.match(id, timestamp, body, macs) {
		return h, fmt.Errorf("%w: %d v1 signature(s) checked; check the signing secret and that the body is sent as signed", ErrNoMatchingSignature, len(macs))
	}
	return h, nil
}

// match reports whether any candidate equals the MAC under any secret. It
// compares every candidate with every secret's MAC instead of stopping at the
// first match, which costs nanoseconds next to the HMACs and leaves nothing
// about which secret or entry matched in the timing.
func (v *Verifier) match(id, timestamp string, body []byte, candidates [][sha256.Size]byte) bool {
	matched := false
	for _, k := range v.keys {
		st := k.macs.Get().(*macState)
		sum := st.mac(id, timestamp, body)
		for i := range candidates {
			// hmac.Equal is constant time for equal lengths, and both are
			// always 32 bytes. It is evaluated before matched so that it
			// always runs.
			matched = hmac.Equal(sum, candidates[i][:]) || matched
		}
		k.macs.Put(st)
	}
	return matched
}

func (v *Verifier) checkTimestamp(ts time.Time) error {
	now := v.now()
	// The same comparisons as the library: older than now-tolerance or newer
	// than now+tolerance is refused, the edges themselves are accepted.
	if age := now.Sub(ts); age > v.tolerance {
		return fmt.Errorf("%w: too old by %s (tolerance %s); check the sender's clock", ErrTimestampOutOfTolerance, ceilSecond(age-v.tolerance), v.tolerance)
	}
	if ahead := ts.Sub(now); ahead > v.tolerance {
		return fmt.Errorf("%w: too new by %s (tolerance %s); check the sender's clock", ErrTimestampOutOfTolerance, ceilSecond(ahead-v.tolerance), v.tolerance)
	}
	return nil
}

// ceilSecond rounds d up to whole seconds, so that 300ms past the edge reads
// "1s" rather than "0s" (timestamps have whole seconds, now does not).
func ceilSecond(d time.Duration) time.Duration {
	if r := d.Truncate(time.Second); r != d && r < r+time.Second {
		return r + time.Second
	}
	return d
}

func missingHeaders(id, timestamp, signature string) error {
	var missing []string
	for _, h := range []struct{ name, value string }{
		{"webhook-id", id}, {"webhook-timestamp", timestamp}, {"webhook-signature", signature},
	} {
		if h.value == "" {
			missing = append(missing, h.name)
		}
	}
	return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
}

// Sign returns the webhook-signature entry ("v1,<base64>") for id, ts (to the
// second) and body under secret. offerflow receives webhooks; Sign is for
// tests, the dev demo sender and the load generator.
func Sign(secret Secret, id string, ts time.Time, body []byte) string {
	st := newMACState(secret.key(), 0)
	sum := st.mac(id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(sum)
}

// macState is one keyed HMAC with the buffers a signature needs, so that
// computing one allocates nothing once the state exists.
type macState struct {
	h hash.Hash
	// signed holds "<id>.<timestamp>." so the hash gets two Writes, and no
	// string has to be converted (and allocated) for an interface call.
	signed []byte
	sum    [sha256.Size]byte
}

func newMACState(key []byte, prefixCap int) *macState {
	return &macState{h: hmac.New(sha256.New, key), signed: make([]byte, 0, prefixCap)}
}

// mac returns the MAC of id "." timestamp "." body. The result is st's own
// buffer, valid until st is used again.
func (st *macState) mac(id, timestamp string, body []byte) []byte {
	st.h.Reset()
	p := append(st.signed[:0], id...)
	p = append(p, '.')
	p = append(p, timestamp...)
	p = append(p, '.')
	st.signed = p
	st.h.Write(p)
	st.h.Write(body)
	return st.h.Sum(st.sum[:0])
}
