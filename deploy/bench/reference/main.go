// Command bench-reference is the bare gateway that make bench measures the
// BFFs against: plain Fiber and net/http, no authentication, metrics, cache,
// retries or typed upstream clients, written as a careful engineer would
// write a first version, neither slowed down nor tuned beyond the connection
// pool a load test needs. It serves two routes shaped like the BFFs' own:
//
//   - GET /orders/{id}: the order from the order service, then its products
//     in one batch and its payment concurrently, merged into
//     {"order", "products", "payment"} (bff-web's order page);
//   - GET /products/{id}: the product's id, name, price, stock and first
//     image (bff-mobile's product view).
//
// Upstream answers are decoded generically (encoding/json into map[string]any)
// and any failure is answered 502 in plain text.
//
// Environment: REFERENCE_ADDR, the listen address (default 127.0.0.1:8099);
// UPSTREAM_PRODUCT_URLS, UPSTREAM_ORDER_URLS and UPSTREAM_PAYMENT_URLS, the
// BFFs' settings, of which the first URL is used (default the sandbox's
// http://127.0.0.1:8001, 8002 and 8003).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-reference:", err)
		os.Exit(1)
	}
}

// config is what run reads from the environment.
type config struct {
	// Addr is REFERENCE_ADDR, the listen address; default 127.0.0.1:8099.
	Addr string
	// ProductURL, OrderURL and PaymentURL are the first URLs of
	// UPSTREAM_PRODUCT_URLS, UPSTREAM_ORDER_URLS and UPSTREAM_PAYMENT_URLS;
	// default the sandbox's ports 8001, 8002 and 8003 on 127.0.0.1.
	ProductURL, OrderURL, PaymentURL string
}

func loadConfig(getenv func(string) string) config {
	cfg := config{
		Addr:       "127.0.0.1:8099",
		ProductURL: "http://127.0.0.1:8001",
		OrderURL:   "http://127.0.0.1:8002",
		PaymentURL: "http://127.0.0.1:8003",
	}
	if v := getenv("REFERENCE_ADDR"); v != "" {
		cfg.Addr = v
	}
	for _, s := range []struct {
		env string
		url *string
	}{
		{"UPSTREAM_PRODUCT_URLS", &cfg.ProductURL},
		{"UPSTREAM_ORDER_URLS", &cfg.OrderURL},
		{"UPSTREAM_PAYMENT_URLS", &cfg.PaymentURL},
	} {
		first, _, _ := strings.Cut(getenv(s.env), ",")
		if first = strings.TrimRight(strings.TrimSpace(first), "/"); first != "" {
			*s.url = first
		}
	}
	return cfg
}

// run serves until ctx ends, then shuts down. It prints the address it
// listens on, which tells a caller that gave port 0 where to send requests.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg := loadConfig(getenv)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	app := newApp(newGateway(cfg))
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	fmt.Fprintf(stdout, "bench-reference: listening on %s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	}
}
