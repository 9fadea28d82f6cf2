package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Base holds the settings both BFFs share. Each BFF's own Config embeds it
// and adds what only that BFF has; DefaultBase is every default.
type Base struct {
	// LogLevel is LOG_LEVEL: debug (logs every request), info, warn or error;
	// default info.
	LogLevel string
	// Upstreams are the five services' instance lists.
	Upstreams Upstreams
	// HTTP bounds what a client may send and how long it may take.
	HTTP HTTP
	// Auth says which tokens are accepted.
	Auth Auth
	// Order tunes the checkout saga.
	Order Order
	// IdempotencyTTL is IDEMPOTENCY_TTL, how long a stored response is
	// replayed for the same Idempotency-Key; default 24h.
	IdempotencyTTL time.Duration
}

// HTTP are the server's limits against large and slow clients.
type HTTP struct {
	// BodyLimit is HTTP_BODY_LIMIT in bytes; larger bodies get 413. Default 65536.
	BodyLimit int
	// HeaderLimit is HTTP_HEADER_LIMIT in bytes, for the request line and
	// headers together. Default 8192.
	HeaderLimit int
	// ReadTimeout is HTTP_READ_TIMEOUT; default 5s.
	ReadTimeout time.Duration
	// WriteTimeout is HTTP_WRITE_TIMEOUT; default 15s.
	WriteTimeout time.Duration
	// IdleTimeout is HTTP_IDLE_TIMEOUT for keep-alive connections; default 60s.
	IdleTimeout time.Duration
	// ShutdownTimeout is SHUTDOWN_TIMEOUT, the graceful drain on SIGTERM
	// (in-flight requests, then queued notifications); default 15s.
	ShutdownTimeout time.Duration
	// HSTS is HTTP_HSTS: send Strict-Transport-Security (behind TLS); default false.
	HSTS bool
}

// Auth are the token checks.
type Auth struct {
	// Issuer is AUTH_ISSUER, the required iss; default https://user.storefront.dev.
	Issuer string
	// Audience is AUTH_AUDIENCE, the required aud; default storefront-bff.
	Audience string
	// Leeway is AUTH_LEEWAY, the clock skew allowed on exp/nbf/iat; default 30s.
	Leeway time.Duration
}

// Order tunes the checkout saga.
type Order struct {
	// Timeout is ORDER_TIMEOUT, the one deadline for a whole checkout;
	// default 8s.
	Timeout time.Duration
	// CompensationBudget is ORDER_COMPENSATION_BUDGET, how long each undo step
	// (void, refund, cancel, release) keeps retrying; default 10s.
	CompensationBudget time.Duration
}

// DefaultBase returns every shared default.
func DefaultBase() Base {
	return Base{
		LogLevel:  "info",
		Upstreams: DefaultUpstreams(),
		HTTP: HTTP{
			BodyLimit:       64 << 10,
			HeaderLimit:     8 << 10,
			ReadTimeout:     5 * time.Second,
			WriteTimeout:    15 * time.Second,
			IdleTimeout:     60 * time.Second,
			ShutdownTimeout: 15 * time.Second,
		},
		Auth:           Auth{Issuer: "https://user.storefront.dev", Audience: "storefront-bff", Leeway: 30 * time.Second},
		Order:          Order{Timeout: 8 * time.Second, CompensationBudget: 10 * time.Second},
		IdempotencyTTL: 24 * time.Hour,
	}
}

// Load reads every shared setting that is set.
func (b *Base) Load(l *Loader) {
	l.String(&b.LogLevel, "LOG_LEVEL")
	b.Upstreams.Load(l)
	l.Int(&b.HTTP.BodyLimit, "HTTP_BODY_LIMIT")
	l.Int(&b.HTTP.HeaderLimit, "HTTP_HEADER_LIMIT")
	l.Duration(&b.HTTP.ReadTimeout, "HTTP_READ_TIMEOUT")
	l.Duration(&b.HTTP.WriteTimeout, "HTTP_WRITE_TIMEOUT")
	l.Duration(&b.HTTP.IdleTimeout, "HTTP_IDLE_TIMEOUT")
	l.Duration(&b.HTTP.ShutdownTimeout, "SHUTDOWN_TIMEOUT")
	l.Bool(&b.HTTP.HSTS, "HTTP_HSTS")
	l.String(&b.Auth.Issuer, "AUTH_ISSUER")
	l.String(&b.Auth.Audience, "AUTH_AUDIENCE")
	l.Duration(&b.Auth.Leeway, "AUTH_LEEWAY")
	l.Duration(&b.Order.Timeout, "ORDER_TIMEOUT")
	l.Duration(&b.Order.CompensationBudget, "ORDER_COMPENSATION_BUDGET")
	l.Duration(&b.IdempotencyTTL, "IDEMPOTENCY_TTL")
}

// Validate reports settings that cannot work.
func (b Base) Validate() error {
	errs := []error{b.Upstreams.Validate()}
	if _, err := b.SlogLevel(); err != nil {
		errs = append(errs, err)
	}
	if b.HTTP.BodyLimit <= 0 || b.HTTP.HeaderLimit <= 0 {
		errs = append(errs, errors.New("HTTP_BODY_LIMIT and HTTP_HEADER_LIMIT must be positive"))
	}
	if b.Auth.Issuer == "" || b.Auth.Audience == "" {
		errs = append(errs, errors.New("AUTH_ISSUER and AUTH_AUDIENCE must be set"))
	}
	if b.Order.Timeout <= 0 || b.Order.CompensationBudget <= 0 {
		errs = append(errs, errors.New("ORDER_TIMEOUT and ORDER_COMPENSATION_BUDGET must be positive"))
	}
	if b.IdempotencyTTL <= 0 {
		errs = append(errs, errors.New("IDEMPOTENCY_TTL must be positive"))
	}
	return errors.Join(errs...)
}

// SlogLevel parses LogLevel.
func (b Base) SlogLevel() (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(b.LogLevel))); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", b.LogLevel)
	}
	return lvl, nil
}
