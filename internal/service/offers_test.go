package service

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/offerflow/offerflow/internal/conf"
)

// TestDodoRateSettings: the rate limit's settings are read from the
// environment, default to Dodo's default tier, and refuse values that
// cannot be a budget.
func TestDodoRateSettings(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantLimit int
		wantBurst int
		wantErr   string
	}{
		{name: "defaults", env: nil, wantLimit: 240, wantBurst: 40},
		{name: "a share", env: map[string]string{"DODO_RATE_LIMIT": "48", "DODO_RATE_BURST": "8"}, wantLimit: 48, wantBurst: 8},
		{name: "off", env: map[string]string{"DODO_RATE_LIMIT": "0"}, wantLimit: 0, wantBurst: 40},
		{name: "negative", env: map[string]string{"DODO_RATE_LIMIT": "-1"}, wantErr: "DODO_RATE_LIMIT must be 0"},
		{name: "burst zero", env: map[string]string{"DODO_RATE_BURST": "0"}, wantErr: "DODO_RATE_BURST must be at least 1"},
		{name: "not a number", env: map[string]string{"DODO_RATE_LIMIT": "240/min"}, wantErr: `DODO_RATE_LIMIT="240/min": not an integer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c OffersConfig
			s := conf.New("worker", func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			c.Declare(s)
			err := s.Parse(nil)
			if err == nil {
				err = c.Validate(false)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DodoRateLimit != tt.wantLimit || c.DodoRateBurst != tt.wantBurst {
				t.Errorf("limit %d, burst %d; want %d, %d", c.DodoRateLimit, c.DodoRateBurst, tt.wantLimit, tt.wantBurst)
			}
		})
	}
}

// TestPublicBase: OFFERFLOW_PUBLIC_URL is an http(s) base with at most a
// path prefix; what the page URLs are built on has no trailing slash, and
// nothing that a URL appended to it would carry along (user, query,
// fragment) is allowed.
func TestPublicBase(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "empty: no page URLs", in: "", want: ""},
		{name: "host", in: "https://offers.example.com", want: "https://offers.example.com"},
		{name: "trailing slash", in: "https://offers.example.com/", want: "https://offers.example.com"},
		{name: "path prefix", in: "https://shop.example.com/offerflow/", want: "https://shop.example.com/offerflow"},
		{name: "port", in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{name: "no scheme", in: "offers.example.com", wantErr: true},
		{name: "other scheme", in: "ftp://offers.example.com", wantErr: true},
		{name: "no host", in: "https:///o", wantErr: true},
		{name: "query", in: "https://offers.example.com/?a=b", wantErr: true},
		{name: "empty query", in: "https://offers.example.com/?", wantErr: true},
		{name: "fragment", in: "https://offers.example.com/#x", wantErr: true},
		{name: "user info", in: "https://user:secret@offers.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PublicBase(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("PublicBase(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error repeats the URL's user info: %v", err)
			}
			if got != tt.want {
				t.Errorf("PublicBase(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzPublicBase(f *testing.F) {
	for _, s := range []string{"", "https://offers.example.com/", "http://h:1/p?q#f", "https://u@h", "https://h/%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := PublicBase(s)
		if err != nil || got == "" {
			return
		}
		u, perr := url.Parse(got + "/o/x?t=y")
		if perr != nil || u.Query().Get("t") != "y" || u.Fragment != "" || u.User != nil || strings.HasSuffix(got, "/") {
			t.Fatalf("PublicBase(%q) = %q: a page URL under it is %v (%v)", s, got, u, perr)
		}
	})
}
