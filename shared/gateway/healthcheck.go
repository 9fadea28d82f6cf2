package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the healthcheck subcommand's one request.
const healthcheckTimeout = 3 * time.Second

// Healthcheck asks the BFF's own GET /readyz, on the loopback address of
// the port its settings listen on, and returns nil iff it answers 200: the
// "healthcheck" subcommand, for a container HEALTHCHECK in an image that
// has no shell and no curl.
func (b BFF[C]) Healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := b.Load(getenv)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen address %q: %w", cfg.ListenAddr(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", port) + "/readyz"
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
