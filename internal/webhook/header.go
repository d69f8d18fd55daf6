package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/offerflow/offerflow/internal/events"
)

// encodedMACLen is the length of a SHA-256 MAC in padded standard base64.
const encodedMACLen = 44

// checkID refuses ids the library would take: ours go into logs, metrics
// labels, NATS headers, ledger keys and ids derived from them, where
// spaces, control bytes and unbounded length do harm. The rule is every
// outside id's (events.CheckID).
func checkID(id string) error {
	if err := events.CheckID("webhook-id", id); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedHeaders, err)
	}
	return nil
}

// parseTimestamp accepts only the canonical decimal form of Unix seconds: the
// header text itself is signed, so a "+" or leading zero would make the
// signed text differ from the number the library re-formats and signs.
func parseTimestamp(s string) (int64, error) {
	if len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("%w: webhook-timestamp has %d characters; want Unix seconds, at most %d digits", ErrMalformedHeaders, len(s), maxTimestampDigits)
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%w: webhook-timestamp has a leading zero; want Unix seconds as a decimal integer", ErrMalformedHeaders)
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: webhook-timestamp is not a decimal integer; want Unix seconds", ErrMalformedHeaders)
		}
		n = n*10 + int64(c-'0') // 12 digits cannot overflow
	}
	return n, nil
}

// parseSignatureHeader appends to dst the MAC of each v1 entry of header and
// returns the result. It splits like the library: entries are separated by
// single spaces, an entry without a comma or with a version other than "v1"
// is skipped, and the signature runs up to the next comma. An entry whose
// signature is not a 32-byte MAC in canonical padded base64 is skipped too,
// as it could never match. No v1 entry at all is an error.
//
// The MACs are decoded here and compared as bytes, where the library compares
// base64 text. With strict decoding (padding bits zero), no CR or LF (which
// the decoder would skip) and the length fixed, a text decodes to a MAC only
// if it is that MAC's one canonical encoding, so both compare the same. The
// gain: a malformed header is refused before any HMAC is computed, the
// expected MAC is never base64-encoded, and every comparison is of 32 bytes,
// so hmac.Equal never returns early on a length difference.
func parseSignatureHeader(dst [][sha256.Size]byte, header string, b64 *base64.Encoding) ([][sha256.Size]byte, error) {
	if len(header) > maxSignatureHeaderLen {
		return nil, fmt.Errorf("%w: webhook-signature is %d bytes, over %d", ErrMalformedHeaders, len(header), maxSignatureHeaderLen)
	}
	start, entries := len(dst), 0
	for rest := header; rest != ""; {
		var entry string
		entry, rest, _ = strings.Cut(rest, " ")
		if entry == "" {
			continue
		}
		if entries++; entries > maxSignatures {
			return nil, fmt.Errorf("%w: webhook-signature has over %d entries", ErrMalformedHeaders, maxSignatures)
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		sig, _, _ = strings.Cut(sig, ",")
		if mac, ok := decodeMAC(sig, b64); ok {
			dst = append(dst, mac)
		}
	}
	if len(dst) == start {
		return nil, fmt.Errorf(`%w: webhook-signature has no well-formed v1 entry; want "v1,<base64 HMAC-SHA256>"`, ErrMalformedHeaders)
	}
	return dst, nil
}

// decodeMAC decodes a canonical padded base64 SHA-256 MAC.
func decodeMAC(s string, b64 *base64.Encoding) (mac [sha256.Size]byte, ok bool) {
	if len(s) != encodedMACLen || strings.ContainsAny(s, "\r\n") {
		return mac, false
	}
	// Copies on the stack: converting s with []byte(s) would allocate.
	var src [encodedMACLen]byte
	var out [sha256.Size + 1]byte // DecodedLen(44) is 33
	copy(src[:], s)
	n, err := b64.Decode(out[:], src[:])
	if err != nil || n != sha256.Size {
		return mac, false
	}
	copy(mac[:], out[:n])
	return mac, true
}
