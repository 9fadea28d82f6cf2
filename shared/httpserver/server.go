// Package httpserver is the Fiber edge both BFFs share: the app with
// goccy/go-json, the middleware every request passes (request id, panic
// recovery, security headers, access log and metrics), problem+json errors,
// health endpoints, and a graceful Serve.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"storefront.dev/shared/telemetry"
)

// Config holds the server's limits. Every zero field takes its default.
type Config struct {
	// Name is the application name used in logs ("bff-web").
	Name string
	// BodyLimit is the largest request body accepted, in bytes; default 64 KiB.
	// Larger bodies are refused with 413.
	BodyLimit int
	// HeaderLimit bounds the request line and headers, in bytes; default 8 KiB.
	HeaderLimit int
	// ReadTimeout bounds reading one request; default 5s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response; default 15s.
	WriteTimeout time.Duration
	// IdleTimeout bounds an idle keep-alive connection; default 60s.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain on SIGTERM; default 15s.
	ShutdownTimeout time.Duration
	// HSTS sends Strict-Transport-Security; default off (turn on behind TLS).
	HSTS bool
	// ClientIPHeader names a header set by a trusted reverse proxy whose last
	// address is the client's, for rate limits keyed by address; default
	// none (the connection's peer address).
	ClientIPHeader string
}

func (c Config) withDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = 64 << 10
	}
	if c.HeaderLimit <= 0 {
		c.HeaderLimit = 8 << 10
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 5 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 15 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	return c
}

// Server is a Fiber app with the shared middleware installed.
type Server struct {
	// App is where the BFF adds its routes.
	App     *fiber.App
	cfg     Config
	logger  *slog.Logger
	metrics *telemetry.Metrics
}

// New returns a Server whose app already carries the shared middleware and
// serves /metrics.
func New(cfg Config, logger *slog.Logger, metrics *telemetry.Metrics) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, logger: logger, metrics: metrics}
	s.App = fiber.New(fiber.Config{
		AppName:               cfg.Name,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
		BodyLimit:             cfg.BodyLimit,
		ReadBufferSize:        cfg.HeaderLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		// Routes are matched exactly: /api/orders/ is not /api/orders.
		StrictRouting: true,
		CaseSensitive: true,
	})
	s.App.Use(requestID, traceContext, s.observe, securityHeaders(cfg.HSTS), s.recoverPanic)
	s.App.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))
	return s
}

// Serve listens on addr, logs the bound address (so a caller that asked for
// port 0 can find it), and serves until ctx ends; then it stops accepting,
// drains in-flight requests within the shutdown timeout, and runs each
// onShutdown hook (draining background queues) before returning.
func (s *Server) Serve(ctx context.Context, addr string, onShutdown ...func(context.Context) error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.logger.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.App.Listener(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.App.ShutdownWithContext(sctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	for _, hook := range onShutdown {
		if err := hook(sctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	return errors.Join(errs...)
}
