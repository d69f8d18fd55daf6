package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsPermanent(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "plain error is transient", err: base, want: false},
		{name: "marked", err: Permanent(base), want: true},
		{name: "wrapped after marking", err: fmt.Errorf("handle: %w", Permanent(base)), want: true},
		{name: "joined with a permanent one", err: errors.Join(base, Permanent(errors.New("x"))), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) should be nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Fatal("Permanent must keep the wrapped error reachable with errors.Is")
	}
}

func TestIsWait(t *testing.T) {
	base := errors.New("held")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "plain error", err: base, want: false},
		{name: "permanent is not a wait", err: Permanent(base), want: false},
		{name: "marked", err: Wait(base), want: true},
		{name: "wrapped after marking", err: fmt.Errorf("offer x: %w", Wait(base)), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsWait(tt.err); got != tt.want {
				t.Fatalf("IsWait(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Wait(nil) != nil {
		t.Fatal("Wait(nil) should be nil")
	}
	if !errors.Is(Wait(base), base) || IsPermanent(Wait(base)) {
		t.Fatal("Wait must keep the wrapped error reachable and stay transient")
	}
}
