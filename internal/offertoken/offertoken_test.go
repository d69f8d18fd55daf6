package offertoken

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of every test Signer: a fixed instant with a
// fraction of a second, so expiry rounding is exercised.
var testNow = time.Unix(1_750_000_000, 250_000_000)

func testKey(id string, fill byte) Key {
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, MinSecretLen)}
}

func newTestSigner(tb testing.TB, now *time.Time, keys ...Key) *Signer {
	tb.Helper()
	s, err := NewSigner(keys, func() time.Time { return *now })
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustSign(tb testing.TB, s *Signer, offerID, customerID string, ttl time.Duration) (string, Claims) {
	tb.Helper()
	tok, c, err := s.Sign(offerID, customerID, ttl)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return tok, c
}

func TestSignVerifyRoundTrip(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k2", 2), testKey("k1", 1))
	tests := []struct {
		name       string
		offerID    string
		customerID string
		ttl        time.Duration
		wantExp    time.Time
	}{
		{name: "ordinary ids", offerID: "off_01J9Z3K4", customerID: "cus_8fh2Kd93", ttl: 15 * time.Minute, wantExp: time.Unix(1_750_000_000+15*60+1, 0)},
		{name: "sub-second ttl rounds up", offerID: "o", customerID: "c", ttl: time.Millisecond, wantExp: time.Unix(1_750_000_001, 0)},
		{name: "longest ids", offerID: strings.Repeat("o", MaxIDLen), customerID: strings.Repeat("c", MaxIDLen), ttl: time.Hour, wantExp: time.Unix(1_750_000_000+3600+1, 0)},
		{name: "ids with dots and binary", offerID: "a.b.c", customerID: "\x00\xff.", ttl: time.Minute, wantExp: time.Unix(1_750_000_000+60+1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, signed := mustSign(t, s, tt.offerID, tt.customerID, tt.ttl)
			if len(tok) > MaxTokenLen {
				t.Fatalf("token is %d bytes, want at most %d", len(tok), MaxTokenLen)
			}
			want := Claims{OfferID: tt.offerID, CustomerID: tt.customerID, ExpiresAt: tt.wantExp.UTC(), Nonce: signed.Nonce, KeyID: "k2"}
			if !reflect.DeepEqual(signed, want) {
				t.Fatalf("Sign claims = %+v, want %+v", signed, want)
			}
			got, err := s.Verify(tok, tt.offerID, tt.customerID)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Verify claims = %+v, want %+v", got, want)
			}
		})
	}
}

func TestTokenShape(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k2", 2))
	tok, c := mustSign(t, s, "off_01J9Z3K4T6W8", "cus_01J9Z3K4T6W8", 30*time.Minute)
	if len(tok) > 300 {
		t.Errorf("token for ordinary ids is %d bytes, want at most 300", len(tok))
	}
	if !strings.HasPrefix(tok, "v1.k2.") || strings.Count(tok, ".") != 3 {
		t.Errorf("token %q: want v1.k2.<payload>.<mac>", tok)
	}
	if strings.ContainsFunc(tok, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		t.Errorf("token %q has characters that are not URL-safe", tok)
	}
	if len(c.Nonce) != 22 {
		t.Errorf("nonce %q has %d characters, want 22 (16 bytes)", c.Nonce, len(c.Nonce))
	}
}

func TestSignNonceDiffers(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k1", 1))
	tokens, nonces := map[string]bool{}, map[string]bool{}
	for range 100 {
		tok, c := mustSign(t, s, "off_1", "cus_1", time.Minute)
		if tokens[tok] || nonces[c.Nonce] {
			t.Fatalf("token or nonce repeated after %d signatures of the same claims", len(tokens))
		}
		tokens[tok], nonces[c.Nonce] = true, true
	}
}

func TestSignErrors(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k1", 1))
	tests := []struct {
		name       string
		offerID    string
		customerID string
		ttl        time.Duration
	}{
		{name: "empty offer", offerID: "", customerID: "c", ttl: time.Minute},
		{name: "empty customer", offerID: "o", customerID: "", ttl: time.Minute},
		{name: "offer too long", offerID: strings.Repeat("o", MaxIDLen+1), customerID: "c", ttl: time.Minute},
		{name: "customer too long", offerID: "o", customerID: strings.Repeat("c", MaxIDLen+1), ttl: time.Minute},
		{name: "zero ttl", offerID: "o", customerID: "c", ttl: 0},
		{name: "negative ttl", offerID: "o", customerID: "c", ttl: -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := s.Sign(tt.offerID, tt.customerID, tt.ttl)
			if err == nil {
				t.Fatalf("Sign = %q, nil; want an error", tok)
			}
		})
	}
}

// replacePart returns tok with its dot-separated part i replaced.
func replacePart(tok string, i int, part string) string {
	parts := strings.Split(tok, ".")
	parts[i] = part
	return strings.Join(parts, ".")
}

// flipFirst changes the first character of part i of tok, which keeps
// base64url valid (the last character may carry padding bits).
func flipFirst(tok string, i int) string {
	p := strings.Split(tok, ".")[i]
	c := byte('A')
	if p[0] == 'A' {
		c = 'B'
	}
	return replacePart(tok, i, string(c)+p[1:])
}

func TestVerifyErrors(t *testing.T) {
	now := testNow
	oldKey, newKey := testKey("k1", 1), testKey("k2", 2)
	current := newTestSigner(t, &now, newKey, oldKey) // k2 signs, k1 still accepted
	rotatedOut := newTestSigner(t, &now, newKey)      // k1 dropped
	old := newTestSigner(t, &now, oldKey)             // signs with k1

	const offer, customer = "off_1", "cus_1"
	tok, _ := mustSign(t, current, offer, customer, 10*time.Minute)
	oldTok, _ := mustSign(t, old, offer, customer, 10*time.Minute)
	sameIDOtherSecret := newTestSigner(t, &now, testKey("k2", 9))
	forgedTok, _ := mustSign(t, sameIDOtherSecret, offer, customer, 10*time.Minute)
	expiry := time.Unix(testNow.Unix()+10*60+1, 0)

	tests := []struct {
		name       string
		verifier   *Signer
		token      string
		offerID    string
		customerID string
		now        time.Time
		wantErr    error
	}{
		{name: "valid", token: tok, wantErr: nil},
		{name: "valid just before expiry", token: tok, now: expiry.Add(-time.Nanosecond), wantErr: nil},
		{name: "expired exactly at expiry", token: tok, now: expiry, wantErr: ErrExpired},
		{name: "expired after expiry", token: tok, now: expiry.Add(time.Hour), wantErr: ErrExpired},
		{name: "another offer", token: tok, offerID: "off_2", wantErr: ErrWrongOffer},
		{name: "another customer", token: tok, customerID: "cus_2", wantErr: ErrWrongCustomer},
		{name: "offer id prefix", token: tok, offerID: "off_", wantErr: ErrWrongOffer},
		{name: "old key still listed", token: oldTok, wantErr: nil},
		{name: "old key rotated out", verifier: rotatedOut, token: oldTok, wantErr: ErrUnknownKey},
		{name: "unknown key id", token: replacePart(tok, 1, "k9"), wantErr: ErrUnknownKey},
		{name: "swapped key id", token: replacePart(tok, 1, "k1"), wantErr: ErrBadSignature},
		{name: "same key id, other secret", token: forgedTok, wantErr: ErrBadSignature},
		{name: "tampered payload", token: flipFirst(tok, 2), wantErr: ErrBadSignature},
		{name: "payload of another token", token: replacePart(tok, 2, strings.Split(oldTok, ".")[2]), wantErr: ErrBadSignature},
		{name: "tampered signature", token: flipFirst(tok, 3), wantErr: ErrBadSignature},
		{name: "signature not canonical base64", token: tok[:len(tok)-1] + nonCanonical(tok[len(tok)-1]), wantErr: ErrMalformed},
		{name: "truncated by one", token: tok[:len(tok)-1], wantErr: ErrMalformed},
		{name: "truncated to three parts", token: tok[:strings.LastIndexByte(tok, '.')], wantErr: ErrMalformed},
		{name: "truncated to version", token: "v1", wantErr: ErrMalformed},
		{name: "empty", token: "", wantErr: ErrMalformed},
		{name: "extra dot at end", token: tok + ".", wantErr: ErrMalformed},
		{name: "extra part", token: tok + ".AAAA", wantErr: ErrMalformed},
		{name: "extra dot inside", token: strings.Replace(tok, "v1.k2.", "v1.k2..", 1), wantErr: ErrMalformed},
		{name: "wrong version", token: "v2" + tok[2:], wantErr: ErrMalformed},
		{name: "upper-case version", token: "V1" + tok[2:], wantErr: ErrMalformed},
		{name: "bad key id", token: replacePart(tok, 1, "K2"), wantErr: ErrMalformed},
		{name: "signature with padding", token: tok + "=", wantErr: ErrMalformed},
		{name: "signature standard base64", token: replacePart(tok, 3, strings.Repeat("+", 43)), wantErr: ErrMalformed},
		{name: "oversize", token: tok + strings.Repeat("A", MaxTokenLen), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := current
			if tt.verifier != nil {
				v = tt.verifier
			}
			now = testNow
			if !tt.now.IsZero() {
				now = tt.now
			}
			offerID, customerID := offer, customer
			if tt.offerID != "" {
				offerID = tt.offerID
			}
			if tt.customerID != "" {
				customerID = tt.customerID
			}
			got, err := v.Verify(tt.token, offerID, customerID)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			if err != nil {
				if got != (Claims{}) {
					t.Errorf("Verify returned claims %+v with error %v, want zero Claims", got, err)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error %q contains the token", err)
				}
			}
		})
	}
}

// nonCanonical returns a base64url character that decodes to the same last
// byte as c but with non-zero padding bits, for the last character of a
// 43-character (32-byte) text, where the low 2 bits are padding.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i|1])
}

// TestVerifyPayloadAfterMAC signs payloads Sign never writes, as someone
// holding the key could, to check they are refused as malformed rather than
// misread.
func TestVerifyPayloadAfterMAC(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k1", 1))
	exp := []byte{0, 0, 0, 0, 0x7f, 0, 0, 0}
	nonce := make([]byte, nonceLen)
	payload := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		payload []byte
		text    string // instead of payload, raw payload text
	}{
		{name: "empty", payload: nil},
		{name: "too short", payload: payload(exp, nonce)},
		{name: "empty offer id", payload: payload(exp, nonce, []byte{0, 1, 'c'})},
		{name: "empty customer id", payload: payload(exp, nonce, []byte{1, 'o', 0})},
		{name: "offer id overruns", payload: payload(exp, nonce, []byte{9, 'o', 1, 'c'})},
		{name: "customer id overruns", payload: payload(exp, nonce, []byte{1, 'o', 2, 'c'})},
		{name: "trailing byte", payload: payload(exp, nonce, []byte{1, 'o', 1, 'c', 0})},
		{name: "not base64url", text: "AA+A"},
		{name: "non-canonical base64url", text: "AB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if text == "" {
				text = s.b64.EncodeToString(tt.payload)
			}
			tok := signRaw(s, "k1", text)
			got, err := s.Verify(tok, "o", "c")
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
	// The same layout, well formed, is accepted: the cases above fail for
	// the reason they name.
	tok := signRaw(s, "k1", s.b64.EncodeToString(payload(exp, nonce, []byte{1, 'o', 1, 'c'})))
	if _, err := s.Verify(tok, "o", "c"); err != nil {
		t.Fatalf("Verify of a well-formed hand-made payload: %v", err)
	}
}

// signRaw makes a token of payload text signed with key id of s, as Sign
// would for a payload it wrote.
func signRaw(s *Signer, id, payloadText string) string {
	signed := version + "." + id + "." + payloadText
	return signed + "." + s.b64.EncodeToString(s.keys[id].mac(nil, signed))
}

// TestVerifyMACKnownAnswer pins the MAC input with a token computed outside
// Go (Python hmac and base64), so a change to the signed
// text or the domain string (which would void every issued token) fails a
// test.
func TestVerifyMACKnownAnswer(t *testing.T) {
	now := testNow
	s := newTestSigner(t, &now, testKey("k1", 1))
	const tok = "v1.k1.AAAAAH8AAAAAAAAAAAAAAAAAAAAAAAAAAW8BYw.-62ruu6hJ3gKpNU5r0qWY8l-ls6Wr6MuGevbqipLai8"
	want := Claims{OfferID: "o", CustomerID: "c", ExpiresAt: time.Unix(0x7f000000, 0).UTC(), Nonce: "AAAAAAAAAAAAAAAAAAAAAA", KeyID: "k1"}
	got, err := s.Verify(tok, "o", "c")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Verify = %+v, %v; want %+v, nil", got, err, want)
	}
}

func TestNewSignerCopiesSecrets(t *testing.T) {
	now := testNow
	k := testKey("k1", 1)
	s := newTestSigner(t, &now, k)
	tok, _ := mustSign(t, s, "o", "c", time.Minute)
	k.Secret[0] ^= 0xff
	if _, err := s.Verify(tok, "o", "c"); err != nil {
		t.Fatalf("Verify after the caller changed its secret: %v", err)
	}
}
