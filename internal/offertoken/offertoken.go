// Package offertoken signs and verifies one-click offer tokens: the proof
// that a POST /v1/offers/{id}/accept comes from the customer the offer was
// made to, without which no endpoint may charge a saved card.
//
// A token binds an offer ID, a customer ID, an expiry and a random nonce,
// under HMAC-SHA256 with a key named in the token, so keys can rotate: the
// first key of a Signer signs, all of them verify. The format is
//
//	v1.<key id>.<base64url(payload)>.<base64url(HMAC-SHA256(key, "offerflow-offer-token.v1.<key id>.<base64url(payload)>"))>
//
// base64url without padding, where payload is, in bytes: the expiry in Unix
// seconds (int64, big-endian), the 16-byte nonce, then the offer ID and the
// customer ID, each as one length byte and the bytes. A token for ordinary
// IDs is about 150 bytes and never more than 1 KiB.
//
// A token is not single-use by itself: the caller makes it so by storing
// Claims.Nonce atomically (a KV create that fails if the key exists) before
// charging, and refusing a token whose nonce is already stored. Keeping the
// nonce until Claims.ExpiresAt is enough, since Verify refuses the token
// after that.
package offertoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"
)

// Errors returned by Verify, wrapped with short context. ErrMalformed,
// ErrUnknownKey and ErrBadSignature mean the token is not one of ours;
// ErrExpired, ErrWrongOffer and ErrWrongCustomer that it is, but does not
// allow this accept.
var (
	ErrMalformed     = errors.New("malformed offer token")
	ErrUnknownKey    = errors.New("offer token signed with unknown key")
	ErrBadSignature  = errors.New("bad offer token signature")
	ErrExpired       = errors.New("offer token expired")
	ErrWrongOffer    = errors.New("offer token is for another offer")
	ErrWrongCustomer = errors.New("offer token is for another customer")
)

const (
	version = "v1"
	// macDomain is prepended to the signed text so a MAC made for anything
	// else with the same key (should a key ever be shared) is never a valid
	// token signature, and so v2 tokens cannot be replayed as v1.
	macDomain = "offerflow-offer-token."
	// MaxTokenLen bounds what Verify reads; longer input is refused before
	// any work is done on it.
	MaxTokenLen = 1 << 10
	// MaxIDLen is the longest offer or customer ID Sign accepts: IDs are
	// encoded with one length byte.
	MaxIDLen = 255
	nonceLen = 16
	// payloadFixed is the payload without the IDs: expiry, nonce and the
	// two length bytes.
	payloadFixed = 8 + nonceLen + 2
)

// Claims are what a token asserts. They are authentic only when Verify
// returned no error.
type Claims struct {
	// OfferID is the offer the token accepts.
	OfferID string
	// CustomerID is the customer the offer was made to.
	CustomerID string
	// ExpiresAt is the first instant the token is refused, whole seconds,
	// in UTC.
	ExpiresAt time.Time
	// Nonce is 16 random bytes in base64url (22 characters of
	// [A-Za-z0-9_-], a valid NATS KV key): the single-use key and the
	// charge's idempotency key.
	Nonce string
	// KeyID names the key that signed the token.
	KeyID string
}

// Signer signs tokens with its first key and verifies tokens signed with any
// of its keys. It is safe for concurrent use.
type Signer struct {
	signing *signKey
	keys    map[string]*signKey
	ids     []string // in the order given, for String
	now     func() time.Time
	// b64 is strict (canonical trailing bits) so that each payload and MAC
	// has exactly one text form that verifies.
	b64 *base64.Encoding
}

// signKey pools keyed HMAC states: hmac.New allocates and hashes the padded
// key, while Reset restores the keyed state from a saved copy. The secret
// lives only inside the pool's closure, out of fmt's reach.
type signKey struct {
	id   string
	macs sync.Pool // of hash.Hash
}

// NewSigner returns a Signer that signs with keys[0] and verifies with all
// of keys, reading the time from now (time.Now if nil). Each key needs an ID
// of 1 to 16 of [a-z0-9_-], unique among keys, and a secret of at least
// MinSecretLen bytes; secrets are copied. Errors name keys by position only.
func NewSigner(keys []Key, now func() time.Time) (*Signer, error) {
	if err := validateKeys(keys); err != nil {
		return nil, fmt.Errorf("new offer token signer: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	s := &Signer{keys: make(map[string]*signKey, len(keys)), now: now, b64: base64.RawURLEncoding.Strict()}
	for _, k := range keys {
		secret := append([]byte(nil), k.Secret...)
		sk := &signKey{id: k.ID}
		sk.macs.New = func() any { return hmac.New(sha256.New, secret) }
		s.keys[k.ID] = sk
		s.ids = append(s.ids, k.ID)
	}
	s.signing = s.keys[keys[0].ID]
	return s, nil
}

// String lists the key IDs, signing key first; it never shows a secret.
func (s *Signer) String() string {
	return fmt.Sprintf("offertoken.Signer{keys:%q}", s.ids)
}

// GoString returns the same form as String.
func (s *Signer) GoString() string { return s.String() }

// Format prints the String form for every verb.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Sign returns a token that lets customerID accept offerID until ttl from
// now, and its claims. The expiry is rounded up to a whole second, so the
// token lives at least ttl. IDs must be 1 to MaxIDLen bytes and ttl
// positive.
func (s *Signer) Sign(offerID, customerID string, ttl time.Duration) (string, Claims, error) {
	if err := checkID(offerID); err != nil {
		return "", Claims{}, fmt.Errorf("sign offer token: offer id: %w", err)
	}
	if err := checkID(customerID); err != nil {
		return "", Claims{}, fmt.Errorf("sign offer token: customer id: %w", err)
	}
	if ttl <= 0 {
		return "", Claims{}, fmt.Errorf("sign offer token: ttl %s: must be positive", ttl)
	}
	t := s.now().Add(ttl)
	exp := t.Unix()
	if t.Nanosecond() != 0 {
		exp++
	}
	var nonce [nonceLen]byte
	// crypto/rand.Read never returns an error; it crashes the program if the
	// system's generator fails, rather than hand out a guessable nonce.
	_, _ = rand.Read(nonce[:])

	payload := make([]byte, 0, payloadFixed+len(offerID)+len(customerID))
	payload = binary.BigEndian.AppendUint64(payload, uint64(exp))
	payload = append(payload, nonce[:]...)
	payload = append(payload, byte(len(offerID)))
	payload = append(payload, offerID...)
	payload = append(payload, byte(len(customerID)))
	payload = append(payload, customerID...)

	k := s.signing
	signed := version + "." + k.id + "." + s.b64.EncodeToString(payload)
	var sum [sha256.Size]byte
	token := signed + "." + s.b64.EncodeToString(k.mac(sum[:0], signed))
	return token, Claims{
		OfferID:    offerID,
		CustomerID: customerID,
		ExpiresAt:  time.Unix(exp, 0).UTC(),
		Nonce:      s.b64.EncodeToString(nonce[:]),
		KeyID:      k.id,
	}, nil
}

// Verify checks that token is a token this Signer's keys signed, still valid
// now, for offerID and customerID, and returns its claims.
//
// Nothing in the payload is read before the MAC checks out: the version and
// key ID pick the key, the MAC is compared with hmac.Equal, and only then is
// the payload decoded. The expiry allows no clock skew: the token is refused
// from ExpiresAt on (now >= ExpiresAt), because the signer and the verifier
// are the same service reading the same clock. The IDs are compared in
// plain, variable time: they are not secret (the caller already has them)
// and the token is already authentic when they are compared.
//
// The errors wrap one of the package's sentinel errors and never include the
// token.
func (s *Signer) Verify(token, offerID, customerID string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, fmt.Errorf("verify: %w: longer than %d bytes", ErrMalformed, MaxTokenLen)
	}
	dot := strings.LastIndexByte(token, '.')
	if dot < 0 {
		return Claims{}, fmt.Errorf("verify: %w: want 4 dot-separated parts", ErrMalformed)
	}
	signed, sigText := token[:dot], token[dot+1:]
	parts := strings.Split(signed, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("verify: %w: want 4 dot-separated parts", ErrMalformed)
	}
	if parts[0] != version {
		return Claims{}, fmt.Errorf("verify: %w: unknown version", ErrMalformed)
	}
	if !validKeyID(parts[1]) {
		return Claims{}, fmt.Errorf("verify: %w: bad key id", ErrMalformed)
	}
	k, ok := s.keys[parts[1]]
	if !ok {
		return Claims{}, fmt.Errorf("verify: %w", ErrUnknownKey)
	}
	var sig [sha256.Size]byte
	if s.b64.EncodedLen(sha256.Size) != len(sigText) {
		return Claims{}, fmt.Errorf("verify: %w: signature is not 32 bytes", ErrMalformed)
	}
	if _, err := s.b64.Decode(sig[:], []byte(sigText)); err != nil {
		return Claims{}, fmt.Errorf("verify: %w: signature is not base64url", ErrMalformed)
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(k.mac(sum[:0], signed), sig[:]) {
		return Claims{}, fmt.Errorf("verify: %w", ErrBadSignature)
	}

	// Authentic from here on: the payload is what Sign wrote, unless a key
	// leaked, so decoding errors are not expected but still checked.
	c, err := decodePayload(s.b64, parts[2])
	if err != nil {
		return Claims{}, fmt.Errorf("verify: %w: %w", ErrMalformed, err)
	}
	c.KeyID = k.id
	if !s.now().Before(c.ExpiresAt) {
		return Claims{}, fmt.Errorf("verify: %w", ErrExpired)
	}
	if c.OfferID != offerID {
		return Claims{}, fmt.Errorf("verify: %w", ErrWrongOffer)
	}
	if c.CustomerID != customerID {
		return Claims{}, fmt.Errorf("verify: %w", ErrWrongCustomer)
	}
	return c, nil
}

// mac appends to b the HMAC of macDomain + signed.
func (k *signKey) mac(b []byte, signed string) []byte {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	_, _ = io.WriteString(h, macDomain)
	_, _ = io.WriteString(h, signed)
	b = h.Sum(b)
	k.macs.Put(h)
	return b
}

// decodePayload decodes the payload text Sign wrote. It accepts exactly the
// payloads Sign can produce: non-empty IDs and no trailing bytes.
func decodePayload(b64 *base64.Encoding, text string) (Claims, error) {
	p, err := b64.DecodeString(text)
	if err != nil {
		return Claims{}, errors.New("payload is not base64url")
	}
	if len(p) < payloadFixed {
		return Claims{}, errors.New("payload too short")
	}
	exp := int64(binary.BigEndian.Uint64(p))
	nonce, rest := p[8:8+nonceLen], p[8+nonceLen:]
	offerID, rest, ok := cutID(rest)
	if !ok {
		return Claims{}, errors.New("bad offer id")
	}
	customerID, rest, ok := cutID(rest)
	if !ok || len(rest) != 0 {
		return Claims{}, errors.New("bad customer id")
	}
	return Claims{
		OfferID:    offerID,
		CustomerID: customerID,
		ExpiresAt:  time.Unix(exp, 0).UTC(),
		Nonce:      b64.EncodeToString(nonce),
	}, nil
}

// cutID splits a length-prefixed, non-empty ID off the front of p.
func cutID(p []byte) (id string, rest []byte, ok bool) {
	if len(p) == 0 || p[0] == 0 || int(p[0]) > len(p)-1 {
		return "", nil, false
	}
	n := int(p[0])
	return string(p[1 : 1+n]), p[1+n:], true
}

func checkID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%d bytes, want at most %d", len(id), MaxIDLen)
	}
	return nil
}
