package bench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGrowth runs the growth bench at two small levels: the fill reaches
// each level, the worker processes it, and the measured phase's effects
// are all seen.
func TestGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, the ingest and the worker as processes")
	}
	cfg := GrowthConfig{Levels: []int{300, 1200}, Rate: 200, Measure: 200, Drain: time.Minute, BodyBytes: 1300,
		Spawn: testSpawn, Command: "offerflow bench growth (test)", Settings: "-test=1"}
	out := runBench(t, func(ctx context.Context, w *bytes.Buffer) error { return Growth(ctx, cfg, w) })
	for _, want := range []string{
		"offerflow bench growth (deployed shape)\ncommand:  offerflow bench growth (test)\nsettings: -test=1\n",
		// Each level holds exactly what was filled and measured: the fill
		// tops up to the level, the phase adds Measure.
		"\n300 ", "\n1200 ",
		"from 300 to 1200 stored webhooks (x4):",
		"every webhook answered 200 and its access.granted effect was seen: OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The ledger holds two keys per processed webhook (claim and done) and
	// the access bucket one per customer: the worker processed every
	// filled webhook, not only the measured ones.
	if !strings.Contains(out, " 2400      1200 ") {
		t.Errorf("the last level does not show 2400 ledger keys and 1200 customers:\n%s", out)
	}
}

func TestParseLevels(t *testing.T) {
	tests := []struct {
		name, in string
		want     []int
		wantErr  bool
	}{
		{name: "plain", in: "1000,20000", want: []int{1000, 20000}},
		{name: "suffixes", in: "10k, 100k,1M", want: []int{10_000, 100_000, 1_000_000}},
		{name: "empty", in: "", wantErr: true},
		{name: "zero", in: "0", wantErr: true},
		{name: "decreasing", in: "100k,10k", wantErr: true},
		{name: "repeated", in: "10k,10000", wantErr: true},
		{name: "lower-case m is not mega", in: "1m", wantErr: true},
		{name: "too many", in: "101M", wantErr: true},
		{name: "overflow", in: "9999999999999999999k", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLevels(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) && !tt.wantErr {
				t.Fatalf("ParseLevels(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseLevels(f *testing.F) {
	for _, s := range []string{"10k,100k,1M", "1", "", "0", "5,4", "1M,2M", "-1k", "1kk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		levels, err := ParseLevels(s)
		if err != nil {
			return
		}
		if len(levels) == 0 || levels[0] < 1 || levels[len(levels)-1] > 100_000_000 {
			t.Fatalf("ParseLevels(%q) = %v without an error", s, levels)
		}
		for i := 1; i < len(levels); i++ {
			if levels[i] <= levels[i-1] {
				t.Fatalf("ParseLevels(%q) = %v: not increasing", s, levels)
			}
		}
	})
}
