// Package conf declares settings that are both a command-line flag and an
// environment variable of the same meaning. A flag given on the command
// line wins over the variable, which wins over the default.
package conf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Set is a flag set whose defaults come from the environment.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

// New returns a Set named name reading variables with getenv. Usage goes to
// out.
func New(name string, getenv func(string) string, out io.Writer) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &Set{fs: fs, getenv: getenv}
}

// FlagSet exposes the underlying flag set (for Args and usage).
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

func (s *Set) env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v := s.getenv(name)
	return v, v != ""
}

func usage(u, env string) string {
	if env == "" {
		return u
	}
	return u + " (env " + env + ")"
}

// String declares a string setting.
func (s *Set) String(p *string, flagName, env, def, u string) {
	if v, ok := s.env(env); ok {
		def = v
	}
	s.fs.StringVar(p, flagName, def, usage(u, env))
}

// Secret declares a string setting whose value is never printed: not as
// the default in usage (-h, or a flag typo), where String would show what
// the environment holds. Use it for keys, tokens, passwords and URLs that
// may carry credentials.
func (s *Set) Secret(p *string, flagName, env, u string) {
	v, _ := s.env(env)
	s.fs.StringVar(p, flagName, "", usage(u, env))
	*p = v
}

// Duration declares a duration setting ("5m", "30s").
func (s *Set) Duration(p *time.Duration, flagName, env string, def time.Duration, u string) {
	if v, ok := s.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s, 5m): %w", env, v, err))
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, flagName, def, usage(u, env))
}

// Int declares an integer setting.
func (s *Set) Int(p *int, flagName, env string, def int, u string) {
	if v, ok := s.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, flagName, def, usage(u, env))
}

// Int64 declares a 64-bit integer setting.
func (s *Set) Int64(p *int64, flagName, env string, def int64, u string) {
	if v, ok := s.env(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.fs.Int64Var(p, flagName, def, usage(u, env))
}

// Bool declares a boolean setting ("true", "false", "1", "0").
func (s *Set) Bool(p *bool, flagName, env string, def bool, u string) {
	if v, ok := s.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, flagName, def, usage(u, env))
}

// Parse parses args (without the program name) and reports every bad
// environment variable and flag at once.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	return errors.Join(s.errs...)
}
