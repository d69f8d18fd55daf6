package offertoken

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MinSecretLen is the shortest secret NewSigner accepts: 32 bytes, the
// output size of SHA-256, so the key is never the weak link of the MAC.
const MinSecretLen = 32

// maxKeyIDLen bounds key IDs, which travel in every token.
const maxKeyIDLen = 16

// Key is one HMAC-SHA256 key with the ID that names it in tokens.
//
// String, GoString and Format (so every fmt verb) print the ID and a
// fingerprint, never the secret. fmt prints Secret's bytes where it cannot
// call those methods: a Key in an unexported field of another struct, and
// %p of a Key (which vet reports). Hand Keys to NewSigner and drop them;
// a Signer prints no secret however it is printed.
type Key struct {
	// ID names the key in tokens: 1 to 16 of [a-z0-9_-], unique in a
	// Signer, so a verifier can pick the key without trying them all.
	ID string
	// Secret is the HMAC key, at least MinSecretLen bytes.
	Secret []byte
}

// String returns a redacted form such as
// `offertoken.Key{ID:"k1", Secret:****(sha256:abcd1234)}`.
func (k Key) String() string {
	fp := "empty"
	if len(k.Secret) > 0 {
		sum := sha256.Sum256(k.Secret)
		fp = "sha256:" + hex.EncodeToString(sum[:4])
	}
	return fmt.Sprintf("offertoken.Key{ID:%q, Secret:****(%s)}", k.ID, fp)
}

// GoString returns the same redacted form as String, so %#v is safe too.
func (k Key) GoString() string { return k.String() }

// Format prints the redacted form for every verb: without it, verbs such as
// %d or %x would print the struct's fields, the secret among them.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// ParseKeys parses the value of OFFERFLOW_OFFER_KEY: one or more
// "<id>:<secret>" entries separated by commas, the signing key first and
// the keys still accepted after a rotation after it, for example
// "k2:<secret>,k1:<secret>". White space around an entry is ignored. The
// secret is base64url (RFC 4648 §5), padding optional, of at least 32
// bytes; `head -c 32 /dev/urandom | basenc --base64url -w0` makes one.
//
// Errors name the 1-based position of the bad entry and never any of its
// text, since a mistyped entry may hold a secret anywhere in it.
func ParseKeys(s string) ([]Key, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("parse offer keys: none given")
	}
	entries := strings.Split(s, ",")
	keys := make([]Key, 0, len(entries))
	for i, e := range entries {
		id, secret, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			return nil, fmt.Errorf("parse offer keys: key %d of %d: want id:secret", i+1, len(entries))
		}
		if !validKeyID(id) {
			return nil, fmt.Errorf("parse offer keys: key %d of %d: id must be 1 to %d of [a-z0-9_-]", i+1, len(entries), maxKeyIDLen)
		}
		// The decoder's own error is dropped: it carries an offset into the
		// secret, and nothing about a secret belongs in an error.
		raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(secret, "="))
		if err != nil {
			return nil, fmt.Errorf("parse offer keys: key %d of %d: secret is not base64url", i+1, len(entries))
		}
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	if err := validateKeys(keys); err != nil {
		return nil, fmt.Errorf("parse offer keys: %w", err)
	}
	return keys, nil
}

// validateKeys checks what NewSigner requires of keys, naming positions
// only.
func validateKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("no keys")
	}
	seen := make(map[string]int, len(keys))
	for i, k := range keys {
		if !validKeyID(k.ID) {
			return fmt.Errorf("key %d of %d: id must be 1 to %d of [a-z0-9_-]", i+1, len(keys), maxKeyIDLen)
		}
		if len(k.Secret) < MinSecretLen {
			return fmt.Errorf("key %d of %d: secret has %d bytes, want at least %d", i+1, len(keys), len(k.Secret), MinSecretLen)
		}
		if j, dup := seen[k.ID]; dup {
			return fmt.Errorf("key %d of %d: same id as key %d", i+1, len(keys), j+1)
		}
		seen[k.ID] = i
	}
	return nil
}

// validKeyID reports whether id is 1 to 16 of [a-z0-9_-]. The alphabet
// excludes '.', the token's separator, and ':' and ',', ParseKeys's.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
