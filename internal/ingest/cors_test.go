package ingest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseOrigins(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "https://shop.example.com", want: []string{"https://shop.example.com"}},
		{in: "https://a.example.com, http://localhost:5173/", want: []string{"https://a.example.com", "http://localhost:5173"}},
		{in: "*", want: []string{"*"}},
		{in: "shop.example.com", wantErr: "want * or scheme://host"},
		{in: "https://shop.example.com/offers", wantErr: "without a path"},
		{in: "ftp://shop.example.com", wantErr: "want *"},
		{in: "https://user@shop.example.com", wantErr: "want *"},
	}
	for _, tt := range tests {
		got, err := ParseOrigins(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseOrigins(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ParseOrigins(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseOrigins: what it accepts is "*" or an http(s) origin with no
// path, query, fragment, user or space.
func FuzzParseOrigins(f *testing.F) {
	for _, s := range []string{"*", "https://a.example.com", "http://localhost:5173, *", "https://x/y", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseOrigins(s)
		if err != nil {
			return
		}
		for _, o := range got {
			if o != "*" && !validOrigin(o) {
				t.Fatalf("ParseOrigins(%q) accepted %q", s, o)
			}
		}
	})
}

// An allowed origin's preflight is answered with the methods, and its
// calls carry its origin back (never a wildcard, never credentials); any
// other origin gets no CORS header and a 403 preflight.
func TestCORS(t *testing.T) {
	called := 0
	h := withCORS([]string{"https://shop.example.com"}, "POST", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		w.WriteHeader(http.StatusOK)
	}))
	tests := []struct {
		name, method, origin string
		wantStatus           int
		wantAllow            string
		wantCalled           int
	}{
		{"preflight, allowed", http.MethodOptions, "https://shop.example.com", http.StatusNoContent, "https://shop.example.com", 0},
		{"preflight, another origin", http.MethodOptions, "https://evil.example.com", http.StatusForbidden, "", 0},
		{"call, allowed", http.MethodPost, "https://shop.example.com", http.StatusOK, "https://shop.example.com", 1},
		{"call, another origin", http.MethodPost, "https://evil.example.com", http.StatusOK, "", 1},
		{"call, no origin (server to server)", http.MethodPost, "", http.StatusOK, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called = 0
			r := httptest.NewRequest(tt.method, "/v1/offers/ofr_1/accept", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus || w.Header().Get("Access-Control-Allow-Origin") != tt.wantAllow || called != tt.wantCalled {
				t.Fatalf("status %d allow-origin %q handler calls %d; want %d %q %d", w.Code, w.Header().Get("Access-Control-Allow-Origin"), called, tt.wantStatus, tt.wantAllow, tt.wantCalled)
			}
			if w.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials allowed")
			}
			if tt.method == http.MethodOptions && tt.wantStatus == http.StatusNoContent && w.Header().Get("Access-Control-Allow-Methods") != "POST" {
				t.Fatalf("preflight methods %q", w.Header().Get("Access-Control-Allow-Methods"))
			}
		})
	}
	// A wildcard list echoes the caller's origin.
	any := withCORS([]string{"*"}, "POST", http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodOptions, "/x", nil)
	r.Header.Set("Origin", "http://localhost:5173")
	w := httptest.NewRecorder()
	any.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Fatalf("wildcard preflight: %d %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
}
