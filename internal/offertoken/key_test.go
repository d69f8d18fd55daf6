package offertoken

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseKeys(t *testing.T) {
	secret1 := bytes.Repeat([]byte{1}, 32)
	secret2 := []byte("offerflow-offer-key-two-of-forty-bytes!!")
	enc1 := base64.RawURLEncoding.EncodeToString(secret1)
	enc2 := base64.RawURLEncoding.EncodeToString(secret2)
	short := base64.RawURLEncoding.EncodeToString(make([]byte, 31))
	tests := []struct {
		name    string
		in      string
		want    []Key
		wantErr string // substring of the error; "" for success
	}{
		{name: "one key", in: "k1:" + enc1, want: []Key{{ID: "k1", Secret: secret1}}},
		{name: "rotation, signing key first", in: "k2:" + enc2 + ",k1:" + enc1, want: []Key{{ID: "k2", Secret: secret2}, {ID: "k1", Secret: secret1}}},
		{name: "spaces around entries", in: " k2:" + enc2 + " ,\n k1:" + enc1 + "\n", want: []Key{{ID: "k2", Secret: secret2}, {ID: "k1", Secret: secret1}}},
		{name: "padding accepted", in: "k_-9:" + base64.URLEncoding.EncodeToString(secret2), want: []Key{{ID: "k_-9", Secret: secret2}}},
		{name: "longest id", in: "abcdefghij012345:" + enc1, want: []Key{{ID: "abcdefghij012345", Secret: secret1}}},
		{name: "empty", in: "", wantErr: "none given"},
		{name: "blank", in: " \n ", wantErr: "none given"},
		{name: "empty entry", in: "k1:" + enc1 + ",", wantErr: "key 2 of 2: want id:secret"},
		{name: "no colon", in: enc1, wantErr: "key 1 of 1: want id:secret"},
		{name: "empty id", in: ":" + enc1, wantErr: "key 1 of 1: id must be"},
		{name: "upper-case id", in: "K1:" + enc1, wantErr: "key 1 of 1: id must be"},
		{name: "id too long", in: "abcdefghij0123456:" + enc1, wantErr: "key 1 of 1: id must be"},
		{name: "id with dot", in: "k.1:" + enc1, wantErr: "key 1 of 1: id must be"},
		{name: "short secret", in: "k2:" + enc2 + ",k1:" + short, wantErr: "key 2 of 2: secret has 31 bytes, want at least 32"},
		{name: "empty secret", in: "k1:", wantErr: "key 1 of 1: secret has 0 bytes"},
		{name: "standard base64", in: "k1:" + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), wantErr: "key 1 of 1: secret is not base64url"},
		{name: "bad base64", in: "k1:" + enc1[:len(enc1)-1] + "!", wantErr: "key 1 of 1: secret is not base64url"},
		{name: "truncated base64", in: "k1:" + enc1 + "AA", wantErr: "key 1 of 1: secret is not base64url"},
		{name: "duplicate id", in: "k1:" + enc1 + ",k2:" + enc2 + ",k1:" + enc2, wantErr: "key 3 of 3: same id as key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeys(tt.in)
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseKeys = %v, %v; want %v, nil", got, err, tt.want)
				}
				if _, err := NewSigner(got, nil); err != nil {
					t.Fatalf("NewSigner(ParseKeys result): %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseKeys = %v, %v; want error containing %q", got, err, tt.wantErr)
			}
			for _, s := range []string{enc1, enc2, short} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestNewSignerErrors(t *testing.T) {
	good := testKey("k1", 1)
	tests := []struct {
		name    string
		keys    []Key
		wantErr string
	}{
		{name: "no keys", keys: nil, wantErr: "no keys"},
		{name: "short secret", keys: []Key{good, {ID: "k0", Secret: make([]byte, 31)}}, wantErr: "key 2 of 2: secret has 31 bytes"},
		{name: "nil secret", keys: []Key{{ID: "k0"}}, wantErr: "key 1 of 1: secret has 0 bytes"},
		{name: "bad id", keys: []Key{{ID: "k 1", Secret: good.Secret}}, wantErr: "key 1 of 1: id must be"},
		{name: "duplicate id", keys: []Key{good, testKey("k1", 2)}, wantErr: "key 2 of 2: same id as key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.keys, time.Now)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewSigner = %v, %v; want error containing %q", s, err, tt.wantErr)
			}
		})
	}
}

// TestFormatHidesSecret prints Keys and Signers every way fmt can reach them
// and looks for the secret in every encoding it could come out in.
func TestFormatHidesSecret(t *testing.T) {
	// Bytes 200 to 235: neither text nor small numbers, so none of the
	// encodings below occurs by chance in fmt's output (base64.Encoding's
	// tables, printed for an unformatted Signer, hold 0 to 63 and 255).
	secret := make([]byte, 36)
	for i := range secret {
		secret[i] = byte(200 + i)
	}
	k := Key{ID: "k1", Secret: secret}
	s, err := NewSigner([]Key{k, testKey("k0", 7)}, time.Now)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	leaks := []string{
		string(secret), string(secret[:8]),
		hex.EncodeToString(secret[:8]), strings.ToUpper(hex.EncodeToString(secret[:8])),
		base64.RawURLEncoding.EncodeToString(secret[:8]), base64.StdEncoding.EncodeToString(secret[:8]),
		fmt.Sprint(secret[:8]), fmt.Sprintf("%#v", secret[:8]), fmt.Sprintf("%d", secret[:4]),
		"200 201 202", "200, 201, 202", "0xc8",
	}
	type exported struct{ K Key }
	values := []struct {
		name string
		v    any
		ptr  bool // also try %p, which fmt refuses for other kinds by printing fields
	}{
		{name: "Key", v: k},
		{name: "*Key", v: &k, ptr: true},
		{name: "[]Key", v: []Key{k}, ptr: true},
		{name: "map of Key", v: map[string]Key{"a": k}, ptr: true},
		{name: "exported field", v: exported{K: k}},
		{name: "*Signer", v: s, ptr: true},
		{name: "Signer", v: *s},
		{name: "[]*Signer", v: []*Signer{s}, ptr: true},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3v", "%-x", "%p"}
	for _, tv := range values {
		for _, verb := range verbs {
			if verb == "%p" && !tv.ptr {
				continue
			}
			out := fmt.Sprintf(verb, tv.v)
			for _, leak := range leaks {
				if strings.Contains(out, leak) {
					t.Errorf("%s printed with %s = %q, contains %q", tv.name, verb, out, leak)
				}
			}
		}
	}
	if got, want := k.String(), `offertoken.Key{ID:"k1", Secret:****(sha256:`; !strings.HasPrefix(got, want) {
		t.Errorf("Key.String() = %q, want prefix %q", got, want)
	}
	if got, want := s.String(), `offertoken.Signer{keys:["k1" "k0"]}`; got != want {
		t.Errorf("Signer.String() = %q, want %q", got, want)
	}
}
