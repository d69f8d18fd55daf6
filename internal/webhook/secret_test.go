package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// libSecret is the secret of the Standard Webhooks library's tests.
const libSecret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func mustDecode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// testKey returns a distinct 24-byte key per n, the length Dodo uses.
func testKey(n byte) []byte {
	return []byte(fmt.Sprintf("offerflow-test-key-%05d", n))
}

func TestParseSecrets(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	e1, e2 := base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)
	tests := []struct {
		name     string
		in       string
		want     [][]byte
		wantErr  string // substring of the error; "" for none
		withheld string // text that must not appear in the error
	}{
		{name: "prefixed", in: "whsec_" + libSecret, want: [][]byte{mustDecode(t, libSecret)}},
		{name: "bare base64, as the library accepts", in: libSecret, want: [][]byte{mustDecode(t, libSecret)}},
		{name: "comma", in: "whsec_" + e1 + ",whsec_" + e2, want: [][]byte{k1, k2}},
		{name: "space", in: "whsec_" + e1 + " whsec_" + e2, want: [][]byte{k1, k2}},
		{name: "comma and spaces", in: " whsec_" + e1 + " ,  whsec_" + e2 + ", ", want: [][]byte{k1, k2}},
		{name: "newline and tab, as env files leave them", in: "whsec_" + e1 + "\n\twhsec_" + e2 + "\n", want: [][]byte{k1, k2}},
		{name: "mixed forms", in: e1 + ",whsec_" + e2, want: [][]byte{k1, k2}},
		{name: "one-byte key", in: "whsec_AA==", want: [][]byte{{0}}},
		{name: "empty", in: "", wantErr: "no webhook secret"},
		{name: "only separators", in: " , ,\n", wantErr: "no webhook secret"},
		{name: "bad base64 second", in: "whsec_" + e1 + ",whsec_" + e2[:5] + "!!" + e2[7:], wantErr: "secret 2 of 2: not base64", withheld: e2[:5]},
		{name: "bad base64 first", in: "whsec_" + e1[1:] + " whsec_" + e2, wantErr: "secret 1 of 2: not base64", withheld: e1[1:8]},
		{name: "unpadded base64", in: "whsec_" + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("abcd")), "="), wantErr: "secret 1 of 1: not base64", withheld: "YWJjZA"},
		{name: "prefix only", in: "whsec_", wantErr: "secret 1 of 1: empty key"},
		{name: "prefix only third", in: e1 + " " + e2 + " whsec_", wantErr: "secret 3 of 3: empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecrets(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSecrets(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if tt.withheld != "" && strings.Contains(err.Error(), tt.withheld) {
					t.Errorf("error %q contains secret text %q", err, tt.withheld)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecrets(%q) error = %v, want nil", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseSecrets(%q) = %d secrets, want %d", tt.in, len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i].key(), tt.want[i]) {
					t.Errorf("secret %d key = %x, want %x", i+1, got[i].key(), tt.want[i])
				}
			}
		})
	}
}

func TestSecretEncodeRoundTrip(t *testing.T) {
	s := NewSecret(testKey(7))
	if got, want := s.Encode(), "whsec_"+base64.StdEncoding.EncodeToString(testKey(7)); got != want {
		t.Fatalf("Encode() = %q, want %q", got, want)
	}
	back, err := ParseSecrets(s.Encode())
	if err != nil {
		t.Fatalf("ParseSecrets(Encode()) error = %v", err)
	}
	if len(back) != 1 || !bytes.Equal(back[0].key(), testKey(7)) || back[0].Fingerprint() != s.Fingerprint() {
		t.Fatalf("ParseSecrets(Encode()) = %v, want [%v]", back, s)
	}
}

func TestNewSecretCopiesKey(t *testing.T) {
	key := testKey(1)
	s := NewSecret(key)
	key[0] ^= 0xff
	if got, want := s.key(), testKey(1); !bytes.Equal(got, want) {
		t.Fatalf("key after caller's change = %q, want %q", got, want)
	}
}

func TestSecretFingerprint(t *testing.T) {
	tests := []struct {
		name            string
		secret          Secret
		wantFingerprint string
		wantString      string
	}{
		// sha256("a") = ca978112ca1bbdca...
		{name: "known key", secret: NewSecret([]byte("a")), wantFingerprint: "ca978112", wantString: "whsec_****(sha256:ca978112)"},
		{name: "zero", secret: Secret{}, wantFingerprint: "", wantString: "whsec_****(empty)"},
		{name: "empty key", secret: NewSecret(nil), wantFingerprint: "", wantString: "whsec_****(empty)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.secret.Fingerprint(); got != tt.wantFingerprint {
				t.Errorf("Fingerprint() = %q, want %q", got, tt.wantFingerprint)
			}
			if got := tt.secret.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := tt.secret.GoString(); got != tt.wantString {
				t.Errorf("GoString() = %q, want %q", got, tt.wantString)
			}
		})
	}
	if a, b := NewSecret(testKey(1)).Fingerprint(), NewSecret(testKey(2)).Fingerprint(); a == b {
		t.Errorf("two keys share fingerprint %q", a)
	}
}

// leakForms are the ways key bytes could show up in text.
func leakForms(key []byte) []string {
	return []string{
		string(key),
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		hex.EncodeToString(key),
		strings.ToUpper(hex.EncodeToString(key)),
		fmt.Sprint(key), // [111 102 ...]
		strings.Trim(fmt.Sprint(key), "[]"),
		fmt.Sprintf("%q", key),
		fmt.Sprintf("%#v", key),
	}
}

func TestSecretNeverPrintsKey(t *testing.T) {
	key := testKey(42)
	s := NewSecret(key)
	redacted := regexp.MustCompile(`^whsec_\*\*\*\*\(sha256:[0-9a-f]{8}\)$`)
	if !redacted.MatchString(s.String()) {
		t.Fatalf("String() = %q, want the form whsec_****(sha256:xxxxxxxx)", s)
	}
	type config struct {
		Name   string
		Secret Secret
	}
	type hidden struct{ secret Secret } // fmt cannot call methods on this field
	type hiddenPtr struct{ secret *Secret }
	type nested struct {
		h  hidden
		hs []hidden
		m  map[string]Secret
		a  any
	}
	values := []struct {
		name  string
		value any
	}{
		{"value", s},
		{"pointer", &s},
		{"slice", []Secret{s, s}},
		{"map", map[string]Secret{"k": s}},
		{"exported field", config{Name: "x", Secret: s}},
		{"pointer to struct", &config{Secret: s}},
		{"unexported field", hidden{secret: s}},
		{"pointer to unexported field", &hidden{secret: s}},
		{"unexported pointer field", hiddenPtr{secret: &s}},
		{"pointer to unexported pointer field", &hiddenPtr{secret: &s}},
		{"nested unexported fields", nested{h: hidden{s}, hs: []hidden{{s}}, m: map[string]Secret{"k": s}, a: hidden{s}}},
		{"pointer to nested unexported fields", &nested{h: hidden{s}, hs: []hidden{{s}}, m: map[string]Secret{"k": s}, a: &hiddenPtr{&s}}},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o", "%b", "%c", "%U", "%e", "%t", "%p", "%T", "%z"}
	for _, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v.value)
			for _, leak := range leakForms(key) {
				if strings.Contains(out, leak) {
					t.Errorf("%s: Sprintf(%q) = %q, contains key form %q", v.name, verb, out, leak)
				}
			}
		}
	}
	// The three the brief names, in one call, spelled out.
	out := fmt.Sprintf("%v %+v %#v", s, s, s)
	if want := strings.Repeat(s.String()+" ", 3); out+" " != want {
		t.Errorf("Sprintf(%%v %%+v %%#v) = %q, want %q", out, strings.TrimSpace(want))
	}
}
