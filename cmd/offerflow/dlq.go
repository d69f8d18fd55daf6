package main

import (
	"context"
	"errors"
	"io"
)

// runDLQ is offerflow dlq list|show|redrive.
func runDLQ(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return errors.New("dlq: not built yet")
}
