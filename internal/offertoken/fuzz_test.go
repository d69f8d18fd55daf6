package offertoken

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary tokens, and arbitrary payloads signed
// with a real key (as only a key holder could), which reach the decoder the
// MAC otherwise keeps the fuzzer from.
func FuzzVerify(f *testing.F) {
	now := testNow
	s := newTestSigner(f, &now, testKey("k2", 2), testKey("k1", 1))
	old := newTestSigner(f, &now, testKey("k1", 1))
	tok, _ := mustSign(f, s, "off_1", "cus_1", time.Minute)
	oldTok, _ := mustSign(f, old, "off_1", "cus_1", time.Minute)
	longTok, _ := mustSign(f, s, strings.Repeat("o", MaxIDLen), strings.Repeat("c", MaxIDLen), time.Hour)
	payload := func(tok string) []byte {
		b, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[2])
		return b
	}
	for _, seed := range []struct {
		token, offerID, customerID string
		payload                    []byte
	}{
		{tok, "off_1", "cus_1", payload(tok)},
		{oldTok, "off_1", "cus_1", payload(oldTok)},
		{longTok, strings.Repeat("o", MaxIDLen), strings.Repeat("c", MaxIDLen), payload(longTok)},
		{tok, "off_2", "cus_1", nil},
		{tok + ".", "off_1", "cus_1", []byte{0}},
		{"v2" + tok[2:], "off_1", "cus_1", payload(tok)[:20]},
		{"v1.k1..", "", "", append(payload(tok), 0)},
		{"", "", "", nil},
	} {
		f.Add(seed.token, seed.offerID, seed.customerID, seed.payload)
	}
	f.Fuzz(func(t *testing.T, token, offerID, customerID string, payload []byte) {
		checkVerify(t, s, token, offerID, customerID)

		// A payload signed with k1 is authentic: Verify accepts it exactly
		// when it is in Sign's canonical layout, and reads it back as that.
		signed := signRaw(s, "k1", s.b64.EncodeToString(payload))
		checkVerify(t, s, signed, offerID, customerID)
		c, decErr := decodePayload(s.b64, s.b64.EncodeToString(payload))
		if decErr != nil {
			if _, err := s.Verify(signed, offerID, customerID); !errors.Is(err, ErrMalformed) {
				t.Fatalf("payload %x does not decode (%v), but Verify = %v; want ErrMalformed", payload, decErr, err)
			}
			return
		}
		if enc := encodeClaims(t, c); !bytes.Equal(enc, payload) {
			t.Fatalf("payload %x decodes to %+v, which encodes to %x", payload, c, enc)
		}
		got, err := s.Verify(signed, c.OfferID, c.CustomerID)
		c.KeyID = "k1"
		switch {
		case !now.Before(c.ExpiresAt):
			if !errors.Is(err, ErrExpired) {
				t.Fatalf("Verify(expired payload) = %+v, %v; want ErrExpired", got, err)
			}
		case err != nil || !reflect.DeepEqual(got, c):
			t.Fatalf("Verify(signed payload) = %+v, %v; want %+v, nil", got, err, c)
		}
	})
}

// checkVerify checks what holds for every token: Verify returns one of the
// sentinel errors and zero Claims, without the token in the message, or
// claims bound to the ids asked for that verify again the same way.
func checkVerify(t *testing.T, s *Signer, token, offerID, customerID string) {
	t.Helper()
	c, err := s.Verify(token, offerID, customerID)
	if err != nil {
		known := false
		for _, e := range []error{ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrExpired, ErrWrongOffer, ErrWrongCustomer} {
			known = known || errors.Is(err, e)
		}
		if !known {
			t.Fatalf("Verify error %v wraps none of the sentinel errors", err)
		}
		if c != (Claims{}) {
			t.Fatalf("Verify = %+v with error %v, want zero Claims", c, err)
		}
		if len(token) >= 32 && strings.Contains(err.Error(), token) {
			t.Fatalf("Verify error %q contains the token", err)
		}
		return
	}
	if c.OfferID != offerID || c.CustomerID != customerID || c.KeyID == "" || len(c.Nonce) != 22 || !testNow.Before(c.ExpiresAt) {
		t.Fatalf("Verify(%q, %q, %q) accepted claims %+v", token, offerID, customerID, c)
	}
	again, err := s.Verify(token, offerID, customerID)
	if err != nil || !reflect.DeepEqual(again, c) {
		t.Fatalf("Verify again = %+v, %v; want %+v, nil", again, err, c)
	}
}

// encodeClaims writes c in the payload layout, independently of Sign.
func encodeClaims(t *testing.T, c Claims) []byte {
	t.Helper()
	nonce, err := base64.RawURLEncoding.DecodeString(c.Nonce)
	if err != nil {
		t.Fatalf("nonce %q: %v", c.Nonce, err)
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(c.ExpiresAt.Unix()))
	b = append(b, nonce...)
	b = append(append(b, byte(len(c.OfferID))), c.OfferID...)
	return append(append(b, byte(len(c.CustomerID))), c.CustomerID...)
}

// FuzzParseKeys checks that ParseKeys never panics, that what it accepts
// NewSigner accepts and prints back to the same keys, and that its errors
// never contain a secret-sized piece of the input.
func FuzzParseKeys(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	for _, seed := range []string{
		"", ",", ":", "k1:" + enc, "k2:" + enc + ",k1:" + enc, " k1:" + enc + "= ", "k1:" + enc + ",k1:" + enc,
		"K1:" + enc, "k1:" + enc[:40], "k1:" + enc + "!", enc, "k1:k2:" + enc, "abcdefghij0123456:" + enc,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		keys, err := ParseKeys(in)
		if err != nil {
			if keys != nil {
				t.Fatalf("ParseKeys = %v with error %v, want nil keys", keys, err)
			}
			for _, e := range strings.Split(in, ",") {
				_, secret, _ := strings.Cut(strings.TrimSpace(e), ":")
				if len(secret) >= 16 && strings.Contains(err.Error(), secret) {
					t.Fatalf("ParseKeys error %q contains the secret text %q", err, secret)
				}
			}
			return
		}
		if _, err := NewSigner(keys, nil); err != nil {
			t.Fatalf("NewSigner(ParseKeys(%q)): %v", in, err)
		}
		var entries []string
		for _, k := range keys {
			entries = append(entries, k.ID+":"+base64.RawURLEncoding.EncodeToString(k.Secret))
		}
		again, err := ParseKeys(strings.Join(entries, ","))
		if err != nil || !reflect.DeepEqual(again, keys) {
			t.Fatalf("ParseKeys of its own result = %v, %v; want %v", again, err, keys)
		}
	})
}
