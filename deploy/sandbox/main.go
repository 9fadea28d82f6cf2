// Command sandbox serves the reference implementations of the five upstream
// services (product, order, payment, user, notification) on their default
// ports, so that both gateways run locally with nothing else installed.
//
// Environment: SANDBOX_PRODUCT_ADDR, SANDBOX_ORDER_ADDR, SANDBOX_PAYMENT_ADDR,
// SANDBOX_USER_ADDR and SANDBOX_NOTIFICATION_ADDR override the listen
// addresses (default 127.0.0.1:8001..8005); SANDBOX_RESERVATION_TTL and
// SANDBOX_HOLD_TTL (Go durations, default 10m) set how long reservations and
// payment holds live, and SANDBOX_ACCESS_TOKEN_TTL (default 15m) how long an
// issued access token lives.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"storefront.dev/shared/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

// defaultAddrs are the services' listen addresses and the variables that
// override them.
var defaultAddrs = []struct {
	service, env, addr string
}{
	{sandbox.ServiceProduct, "SANDBOX_PRODUCT_ADDR", "127.0.0.1:8001"},
	{sandbox.ServiceOrder, "SANDBOX_ORDER_ADDR", "127.0.0.1:8002"},
	{sandbox.ServicePayment, "SANDBOX_PAYMENT_ADDR", "127.0.0.1:8003"},
	{sandbox.ServiceUser, "SANDBOX_USER_ADDR", "127.0.0.1:8004"},
	{sandbox.ServiceNotification, "SANDBOX_NOTIFICATION_ADDR", "127.0.0.1:8005"},
}

// config is everything run reads from the environment.
type config struct {
	addrs   map[string]string
	sandbox sandbox.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{addrs: map[string]string{}}
	for _, d := range defaultAddrs {
		cfg.addrs[d.service] = d.addr
		if v := getenv(d.env); v != "" {
			cfg.addrs[d.service] = v
		}
	}
	durations := []struct {
		env  string
		into *time.Duration
	}{
		{"SANDBOX_RESERVATION_TTL", &cfg.sandbox.ReservationTTL},
		{"SANDBOX_HOLD_TTL", &cfg.sandbox.HoldTTL},
		{"SANDBOX_ACCESS_TOKEN_TTL", &cfg.sandbox.TokenTTL},
	}
	for _, d := range durations {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return config{}, fmt.Errorf("%s: want a positive Go duration such as 10m, got %q", d.env, v)
		}
		*d.into = dur
	}
	return cfg, nil
}

// run serves the sandbox until ctx is done.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	sb := sandbox.New(cfg.sandbox)
	srv, err := sb.Listen(cfg.addrs)
	if err != nil {
		return err
	}
	for _, name := range sandbox.Services {
		fmt.Fprintf(stdout, "%-12s %s\n", name, srv.URL(name))
	}
	return srv.Serve(ctx)
}
