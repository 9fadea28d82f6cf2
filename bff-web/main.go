// Command bff-web is the backend-for-frontend of the web SPA: rich,
// screen-shaped payloads under /api, cookie sessions with CSRF protection.
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
		fmt.Fprintln(os.Stderr, "bff-web:", err)
		os.Exit(1)
	}
}
