package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// readBody allocates as the bytes arrive: a Content-Length of a megabyte
// with a few bytes behind it holds no megabyte (before, the buffer was sized
// from the header, before the body was known to be signed), and a typical
// webhook still costs one buffer of its size.
func TestReadBodyAllocatesAsBytesArrive(t *testing.T) {
	tests := []struct {
		name          string
		announced     int64
		body          string
		wantErr       bool
		maxCap        int
		wantBodyBytes int
	}{
		{name: "typical webhook", announced: 1300, body: strings.Repeat("w", 1300), maxCap: 2 * (1300 + bytes.MinRead), wantBodyBytes: 1300},
		{name: "announces a megabyte, sends ten bytes", announced: 1 << 20, body: "0123456789", wantErr: true},
		{name: "no Content-Length", announced: -1, body: "{}", maxCap: 64 << 10, wantBodyBytes: 2},
		{name: "over the limit", announced: -1, body: strings.Repeat("x", 2<<20), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/dodo", strings.NewReader(tt.body))
			r.ContentLength = tt.announced
			b, err := readBody(httptest.NewRecorder(), r, 1<<20)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("readBody = %d bytes, want an error", len(b))
				}
				return
			}
			if err != nil || len(b) != tt.wantBodyBytes {
				t.Fatalf("readBody = %d bytes, %v; want %d", len(b), err, tt.wantBodyBytes)
			}
			if cap(b) > tt.maxCap {
				t.Fatalf("buffer of %d bytes for a %d-byte body, want at most %d", cap(b), len(b), tt.maxCap)
			}
		})
	}
	// What a megabyte announcement with ten bytes behind it makes us
	// allocate: bounded by initialBodyBuf, not by the claim.
	r := httptest.NewRequest(http.MethodPost, "/webhooks/dodo", strings.NewReader("0123456789"))
	r.ContentLength = 1 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _ = readBody(httptest.NewRecorder(), r, 1<<20)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4*initialBodyBuf {
		t.Fatalf("a 10-byte body announced as 1 MiB allocated %d bytes", n)
	}
}
