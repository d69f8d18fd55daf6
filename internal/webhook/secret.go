package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// secretPrefix marks a Standard Webhooks secret; what follows is the key in
// standard base64.
const secretPrefix = "whsec_"

// Secret is one HMAC-SHA256 signing key. Its methods never reveal the key:
// String, GoString and Format (so every fmt verb) print only a fingerprint.
// The zero Secret has no key; NewVerifier refuses it.
type Secret struct {
	// reveal returns the key. It is a closure rather than a []byte because
	// fmt prints by reflection a field it cannot call methods on (a Secret
	// in an unexported field of a caller's struct, with any verb, or with a
	// verb that does not fit a pointer): a []byte would print as its bytes,
	// even behind a pointer, where a func prints as an address.
	reveal      func() []byte
	fingerprint string
}

// NewSecret returns a Secret for key, which it copies. Production code gets
// its secrets from ParseSecrets; this is for tests, the dev demo and the load
// generator.
func NewSecret(key []byte) Secret {
	k := bytes.Clone(key)
	sum := sha256.Sum256(k)
	return Secret{reveal: func() []byte { return k }, fingerprint: hex.EncodeToString(sum[:4])}
}

// ParseSecrets parses the value of DODO_WEBHOOK_SECRET: one or more secrets
// separated by commas and/or white space (several while Dodo keeps the old
// secret valid after a rotation). Each is "whsec_" followed by standard
// base64, or the bare base64, as the Standard Webhooks library accepts.
//
// Any non-empty key is accepted, whatever its length: HMAC is defined for
// every key length, the library accepts short keys too, and the key is
// Dodo's choice, not ours (Dodo's are 24 bytes or more). Errors name the
// 1-based position of the bad secret and never any of its text.
func ParseSecrets(s string) ([]Secret, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	if len(fields) == 0 {
		return nil, errors.New("no webhook secret given")
	}
	secrets := make([]Secret, 0, len(fields))
	for i, f := range fields {
		// The decoder's own error is dropped: it carries an offset into the
		// secret, and nothing about a secret belongs in an error.
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f, secretPrefix))
		if err != nil {
			return nil, fmt.Errorf("secret %d of %d: not base64 (want whsec_ followed by standard base64)", i+1, len(fields))
		}
		if len(key) == 0 {
			return nil, fmt.Errorf("secret %d of %d: empty key", i+1, len(fields))
		}
		secrets = append(secrets, NewSecret(key))
	}
	return secrets, nil
}

// Fingerprint returns the first 8 hex digits of the SHA-256 of the key, so
// operators can tell secrets apart in logs without seeing them. It returns
// "" for a Secret without a key.
func (s Secret) Fingerprint() string {
	if s.empty() {
		return ""
	}
	return s.fingerprint
}

// String returns a redacted form such as "whsec_****(sha256:abcd1234)".
func (s Secret) String() string {
	if s.empty() {
		return secretPrefix + "****(empty)"
	}
	return secretPrefix + "****(sha256:" + s.fingerprint + ")"
}

// GoString returns the same redacted form as String, so %#v is safe too.
func (s Secret) GoString() string { return s.String() }

// Format prints the redacted form for every verb: without it, verbs such as
// %d or %x would print the struct's fields.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Encode returns the secret in its "whsec_<base64>" form, the key in clear.
// It exists for tests and the dev demo, which must hand a sender the secret;
// production code has no reason to call it.
func (s Secret) Encode() string {
	return secretPrefix + base64.StdEncoding.EncodeToString(s.key())
}

func (s Secret) key() []byte {
	if s.reveal == nil {
		return nil
	}
	return s.reveal()
}

func (s Secret) empty() bool { return len(s.key()) == 0 }
