package conf

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	env := map[string]string{"A_STR": "from-env", "A_DUR": "2m", "A_INT": "7", "A_BOOL": "true", "A_SECRET": "s3cret"}
	tests := []struct {
		name    string
		args    []string
		wantStr string
		wantDur time.Duration
		wantInt int
	}{
		{name: "env over default", args: nil, wantStr: "from-env", wantDur: 2 * time.Minute, wantInt: 7},
		{name: "flag over env", args: []string{"-str", "from-flag", "-dur", "3s", "-int", "9"}, wantStr: "from-flag", wantDur: 3 * time.Second, wantInt: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("t", func(k string) string { return env[k] }, io.Discard)
			var str, secret string
			var dur time.Duration
			var n int
			var b bool
			s.String(&str, "str", "A_STR", "def", "a string")
			s.Duration(&dur, "dur", "A_DUR", time.Second, "a duration")
			s.Int(&n, "int", "A_INT", 1, "an int")
			s.Bool(&b, "bool", "A_BOOL", false, "a bool")
			s.Secret(&secret, "secret", "A_SECRET", "a secret")
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if str != tt.wantStr || dur != tt.wantDur || n != tt.wantInt || !b || secret != "s3cret" {
				t.Fatalf("got %q %s %d %v %q, want %q %s %d true s3cret", str, dur, n, b, secret, tt.wantStr, tt.wantDur, tt.wantInt)
			}
		})
	}
}

func TestBadEnv(t *testing.T) {
	env := map[string]string{"D": "five minutes", "I": "x", "B": "maybe", "L": "1.5"}
	s := New("t", func(k string) string { return env[k] }, io.Discard)
	var d time.Duration
	var i int
	var b bool
	var l int64
	s.Duration(&d, "d", "D", 0, "")
	s.Int(&i, "i", "I", 0, "")
	s.Bool(&b, "b", "B", false, "")
	s.Int64(&l, "l", "L", 0, "")
	err := s.Parse(nil)
	if err == nil {
		t.Fatal("want an error for every bad variable")
	}
	for _, name := range []string{`D="five minutes"`, `I="x"`, `B="maybe"`, `L="1.5"`} {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("error %q does not mention %s", err, name)
		}
	}
}
