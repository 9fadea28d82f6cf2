package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"storefront.dev/shared/httpserver"
)

// Command is what a BFF's main hands Main.
type Command struct {
	// Name prefixes Main's error, and names the command in its usage.
	Name string
	// AddrVar is the variable of the public listen address, which the
	// -addr flag overrides.
	AddrVar string
	// Run serves the BFF with the settings getenv holds.
	Run RunFunc
	// Healthcheck is the healthcheck subcommand (see BFF.Healthcheck).
	Healthcheck func(ctx context.Context, getenv func(string) string) error
}

// Main is a BFF's main: it runs the command its arguments name with a
// context that ends on SIGINT or SIGTERM and the process's environment, and
// exits once, with status 1 after printing the error, prefixed with the
// command's name, on stderr (2 for arguments it does not know). Without
// arguments it calls Run; with -addr host:port, Run with that listen
// address in place of AddrVar's; with the one argument "healthcheck", the
// Healthcheck. Run keeps its injected getenv and stdout so that tests call
// it directly.
func Main(cmd Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts the drain; the signals' default comes back
	// with it, so that a second one (an impatient Ctrl-C, a supervisor's
	// repeat) ends the process at once.
	context.AfterFunc(ctx, stop)
	err := cmd.main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.Name, err)
		os.Exit(1)
	}
}

// errUsage is main's error for arguments it does not take, once the usage
// has been printed.
var errUsage = errors.New("usage")

// main runs what args name, with getenv as the environment.
func (cmd Command) main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "healthcheck" {
		return cmd.Healthcheck(ctx, getenv)
	}
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := ""
	fs.Func("addr", "the public listen address, `host:port`, in place of "+cmd.AddrVar, func(v string) error {
		if err := httpserver.CheckAddr(v); err != nil {
			return err
		}
		addr = v
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-addr host:port]\n       %s healthcheck\n\n", cmd.Name, cmd.Name)
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nEvery other setting is an environment variable; the README lists them.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unknown arguments %q\n", cmd.Name, fs.Args())
		fs.Usage()
		return errUsage
	}
	if addr != "" {
		getenv = overriding(getenv, cmd.AddrVar, addr)
	}
	return cmd.Run(ctx, getenv, stdout)
}

// overriding is getenv with name set to value.
func overriding(getenv func(string) string, name, value string) func(string) string {
	return func(k string) string {
		if k == name {
			return value
		}
		return getenv(k)
	}
}
