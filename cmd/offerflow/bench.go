package main

import (
	"context"
	"errors"
	"io"
)

func runBenchIngest(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("TODO")
}

func runBenchWorker(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("TODO")
}
