package main

import (
	"context"
	"io"
)

// run serves bff-mobile until ctx ends, with the settings getenv holds and its
// logs on stdout; main calls it through gateway.Main, tests on port 0.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return bff.Run(ctx, getenv, stdout)
}
