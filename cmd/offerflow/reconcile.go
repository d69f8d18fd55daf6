package main

import (
	"context"
	"errors"
	"io"
)

// runReconcile is offerflow reconcile --since T.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return errors.New("reconcile: not built yet")
}
