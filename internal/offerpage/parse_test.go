package offerpage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/offerflow/offerflow/internal/offerpage"
)

const tok = "v1.k1.AAAAAGnM7KD8e9Qgvht-_mJTLUFvjKwOBkHG9mcl81.4Kgvlr4egAWG2ThzQETITNnOm1tsgmR0xCv2zDLeH9Q"

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name, query string
		want        offerpage.Input
		wantErr     bool
	}{
		{name: "token", query: "t=" + tok, want: offerpage.Input{Token: tok}},
		{name: "token and lang", query: "lang=es&t=" + tok, want: offerpage.Input{Token: tok, Lang: "es"}},
		{name: "others ignored", query: "utm_source=mail&t=" + tok, want: offerpage.Input{Token: tok}},
		{name: "lang too long is none", query: "t=" + tok + "&lang=" + strings.Repeat("e", 40), want: offerpage.Input{Token: tok}},
		{name: "no token", query: "lang=es", wantErr: true},
		{name: "empty token", query: "t=", wantErr: true},
		{name: "two tokens", query: "t=" + tok + "&t=" + tok, wantErr: true},
		{name: "two langs", query: "t=" + tok + "&lang=es&lang=en", wantErr: true},
		{name: "a token with a space", query: "t=v1.k1+AAAA", wantErr: true},
		{name: "a token with markup", query: "t=%3Cscript%3E", wantErr: true},
		{name: "a token too long", query: "t=" + strings.Repeat("A", 513), wantErr: true},
		{name: "a bad escape", query: "t=%zz", wantErr: true},
		{name: "a semicolon", query: "t=" + tok + ";lang=es", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := offerpage.ParseQuery(tt.query)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseQuery(%q) error %v, want error %v", tt.query, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, offerpage.ErrBadInput) {
				t.Errorf("error %v is not ErrBadInput", err)
			}
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("the error repeats the token: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, ctype, body string
		want              offerpage.Input
		wantErr           bool
	}{
		{name: "form", ctype: form, body: "t=" + tok + "&lang=es", want: offerpage.Input{Token: tok, Lang: "es"}},
		{name: "with a charset", ctype: form + "; charset=UTF-8", body: "t=" + tok, want: offerpage.Input{Token: tok}},
		{name: "JSON", ctype: "application/json", body: `{"t":"` + tok + `"}`, wantErr: true},
		{name: "multipart", ctype: "multipart/form-data; boundary=x", body: "t=" + tok, wantErr: true},
		{name: "no type", ctype: "", body: "t=" + tok, wantErr: true},
		{name: "no token", ctype: form, body: "lang=es", wantErr: true},
		{name: "two tokens", ctype: form, body: "t=" + tok + "&t=x", wantErr: true},
		{name: "too big", ctype: form, body: "t=" + tok + "&pad=" + strings.Repeat("x", 5000), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := offerpage.ParseForm(tt.ctype, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseForm(%q, %q) error %v, want error %v", tt.ctype, tt.body, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeViewRequest(t *testing.T) {
	tests := []struct {
		name, body string
		want       offerpage.Input
		wantErr    bool
	}{
		{name: "token", body: `{"token":"` + tok + `"}`, want: offerpage.Input{Token: tok}},
		{name: "token and lang", body: `{"token":"` + tok + `","lang":"es-MX"}`, want: offerpage.Input{Token: tok, Lang: "es-MX"}},
		{name: "no token", body: `{"lang":"es"}`, wantErr: true},
		{name: "empty token", body: `{"token":""}`, wantErr: true},
		{name: "token not a string", body: `{"token":1}`, wantErr: true},
		{name: "unknown field", body: `{"token":"` + tok + `","t":"x"}`, wantErr: true},
		{name: "two values", body: `{"token":"` + tok + `"} {}`, wantErr: true},
		{name: "not JSON", body: `token=` + tok, wantErr: true},
		{name: "null", body: `null`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := offerpage.DecodeViewRequest([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeViewRequest(%q) error %v, want error %v", tt.body, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// checkInput is what every parser promises of what it accepts: a token of
// the token alphabet, of a bounded length, and a bounded lang.
func checkInput(t *testing.T, in offerpage.Input) {
	t.Helper()
	if in.Token == "" || len(in.Token) > 512 || len(in.Lang) > 35 {
		t.Fatalf("accepted %+v", in)
	}
	for _, c := range in.Token {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", c) {
			t.Fatalf("accepted a token with %q", c)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"t=" + tok, "lang=es&t=x", "t=%zz", "t=a&t=b", "t=a;b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if in, err := offerpage.ParseQuery(q); err == nil {
			checkInput(t, in)
		}
	})
}

func FuzzParseForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "t="+tok+"&lang=es")
	f.Add("application/x-www-form-urlencoded; charset=\"", "t=x")
	f.Add("text/plain", "t=x")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		if in, err := offerpage.ParseForm(ctype, []byte(body)); err == nil {
			checkInput(t, in)
		}
	})
}

func FuzzDecodeViewRequest(f *testing.F) {
	for _, s := range []string{`{"token":"` + tok + `","lang":"es"}`, `{"token":null}`, `[]`, `{"token":"a"}{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if in, err := offerpage.DecodeViewRequest([]byte(body)); err == nil {
			checkInput(t, in)
		}
	})
}
