// Package fault classifies errors by what the caller should do about them.
//
// The worker's ack policy and the HTTP layer's status codes are decided in one
// place each; they need to know whether an error will go away on its own
// (transient: redeliver with backoff, answer 503) or never will (permanent:
// dead-letter, answer 4xx). Domain packages mark errors with Permanent;
// anything unmarked is treated as transient, because retrying something that
// cannot succeed only costs time, while dropping something that could have
// succeeded loses an event.
package fault

import "errors"

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (bad input, a 4xx from
// a dependency). It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

type waitError struct{ err error }

func (e waitError) Error() string { return e.err.Error() }
func (e waitError) Unwrap() error { return e.err }

// Wait marks err as a wait for other work in progress that will finish on
// its own (another handler holds the effect's claim, an accept has not
// recorded its outcome yet): retried like any transient failure, but it is
// the system working as designed, not a fault, so it is logged as such and
// does not page anyone. It returns nil for a nil err.
func Wait(err error) error {
	if err == nil {
		return nil
	}
	return waitError{err: err}
}

// IsWait reports whether err, or any error it wraps, was marked Wait.
func IsWait(err error) bool {
	var w waitError
	return errors.As(err, &w)
}
