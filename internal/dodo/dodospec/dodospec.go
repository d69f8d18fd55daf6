// Package dodospec holds Dodo Payments' official OpenAPI spec, v1.113.0
// (openapi.json beside this file; Apache-2.0, https://www.apache.org/licenses/LICENSE-2.0),
// with its 47 webhook examples: what internal/dodo, its stand-in and
// internal/events are built and tested against. It is a byte-for-byte copy
// of the project's shared/dodo/openapi.json (the drift since v1.113.0 is
// listed in docs), kept here so that the tests run on a clone alone. Only
// tests use it.
package dodospec

import (
	"path/filepath"
	"runtime"
)

// Version is the spec's info.version.
const Version = "1.113.0"

// Path returns the absolute path of openapi.json in the source tree, for
// loaders and tools (Steady) that take a file.
func Path() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("dodospec: cannot locate its source directory")
	}
	return filepath.Join(filepath.Dir(file), "openapi.json")
}
