package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// healthcheckTimeout bounds the healthcheck subcommand's one request.
const healthcheckTimeout = 3 * time.Second

// Healthcheck asks the BFF's own GET /readyz on its admin listener
// (ADMIN_ADDR), which a flood of the public port cannot fail, and returns
// nil iff it answers 200: the "healthcheck" subcommand, for a container
// HEALTHCHECK in an image that has no shell and no curl.
func (b BFF[C]) Healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := b.Load(getenv)
	if err != nil {
		return err
	}
	url, err := readinessURL(cfg.GatewayConfig().AdminAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// readinessURL is the URL of /readyz on the listener at addr, asked from
// its own host: the address's host, or loopback where it listens on every
// interface.
func readinessURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %w", addr, err)
	}
	if port == "0" {
		return "", errors.New("admin address " + addr + ": port 0 is any free one, which a healthcheck cannot know; set ADMIN_ADDR to a fixed port")
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
