package service

import (
	"bytes"
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
