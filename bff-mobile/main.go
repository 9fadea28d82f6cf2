// Command bff-mobile is the backend-for-frontend of the mobile apps: trimmed
// payloads under /v1, bearer tokens, mandatory Idempotency-Key on writes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bff-mobile:", err)
		os.Exit(1)
	}
}
