package gateway

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is a BFF's main: it calls run with a context that ends on SIGINT or
// SIGTERM, the process's environment and stdout, and exits once, with
// status 1 after printing run's error, prefixed with name, on stderr. run
// keeps its injected getenv and stdout so that tests call it directly.
// With the one argument "healthcheck" it calls healthcheck instead (see
// BFF.Healthcheck).
func Main(name string, run RunFunc, healthcheck func(context.Context, func(string) string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts the drain; the signals' default comes back
	// with it, so that a second one (an impatient Ctrl-C, a supervisor's
	// repeat) ends the process at once.
	context.AfterFunc(ctx, stop)
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "healthcheck":
		err = healthcheck(ctx, os.Getenv)
	case len(os.Args) > 1:
		err = fmt.Errorf("unknown arguments %q: the only subcommand is healthcheck", os.Args[1:])
	default:
		err = run(ctx, os.Getenv, os.Stdout)
	}
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
