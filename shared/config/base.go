package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
	// IdempotencyTTL is IDEMPOTENCY_TTL, how long a checkout's outcome is
	// replayed for the same Idempotency-Key; default 24h.
	IdempotencyTTL time.Duration
	// IdempotencyMaxRecords is IDEMPOTENCY_MAX_RECORDS, how many checkouts
	// the state file holds at once (about 2 KiB each on disk); a new key
	// beyond it is answered 503 until records expire. Without effect when
	// RedisURL is set. Default 100000.
	IdempotencyMaxRecords int
	// StateDir is STATE_DIR, the directory of the state file that keeps
	// checkouts (their saga journal, which is also their idempotency
	// record) across restarts when RedisURL is not set: <StateDir>/<bff
	// name>.db. It must survive the process (a volume on Kubernetes), and
	// only one process may use it at a time. Default ./data.
	StateDir string
	// RedisURL is REDIS_URL (redis://[user:password@]host:port[/db], or
	// rediss:// for TLS): when set, the checkout journal and rate-limit
	// buckets live in that Redis, shared by every replica, instead of in
	// the state file and in each replica's memory. Required with more than
	// one replica. Default empty.
	RedisURL string
	// RedisKeyPrefix is REDIS_KEY_PREFIX, put before every key the BFF
	// writes, so that one Redis can serve several environments; default
	// "sf:".
	RedisKeyPrefix string
	// Cache tunes the catalog cache.
	Cache Cache
	// ViewTimeout is VIEW_TIMEOUT, the deadline of one screen read (GET of
	// products, a profile, an order page), all its upstream calls
	// included; default 3s.
	ViewTimeout time.Duration
	// PprofAddr is PPROF_ADDR: when set (e.g. 127.0.0.1:6060), Go's pprof
	// profiles are served there, on a listener of their own, never on the
	// public port. Default off.
	PprofAddr string
	// RateLimit are the per-caller request quotas.
	RateLimit RateLimit
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
	// JWKSRefreshInterval is AUTH_JWKS_REFRESH_INTERVAL, the least time
	// between two key-set fetches caused by tokens naming an unknown kid, so
	// a flood of made-up kids costs the user service one request per
	// interval; default 10s.
	JWKSRefreshInterval time.Duration
	// MaxTokenBytes is AUTH_MAX_TOKEN_BYTES: longer tokens are refused before
	// any decoding; default 8192.
	MaxTokenBytes int
}

// RateLimit are the token-bucket quotas applied per caller: the token's
// subject on authenticated routes, the client address elsewhere. A quota of
// Requests per Window lets a caller send Requests at once, then one every
// Window/Requests.
type RateLimit struct {
	// Default guards every route without a policy of its own:
	// RATE_LIMIT_DEFAULT_REQUESTS per RATE_LIMIT_DEFAULT_WINDOW; default 300
	// per 1m.
	Default Quota
	// Login guards the routes that check a password, per client address,
	// against brute force: RATE_LIMIT_LOGIN_REQUESTS per
	// RATE_LIMIT_LOGIN_WINDOW; default 10 per 1m.
	Login Quota
	// Orders guards order creation, per user: RATE_LIMIT_ORDER_REQUESTS per
	// RATE_LIMIT_ORDER_WINDOW; default 10 per 1m.
	Orders Quota
	// ClientIPHeader is RATE_LIMIT_CLIENT_IP_HEADER, a header set by a
	// trusted reverse proxy ("X-Forwarded-For", "X-Real-IP") whose last
	// address is taken as the client's. Default none: the connection's peer
	// address, because any client can send such a header to a BFF reachable
	// directly.
	ClientIPHeader string
	// MaxKeys is RATE_LIMIT_MAX_KEYS, the most callers remembered per policy
	// (idle ones are forgotten first) in memory, without effect when
	// RedisURL is set; default 100000.
	MaxKeys int
}

// Quota is Requests per Window; zero Requests turns the policy off.
type Quota struct {
	Requests int
	Window   time.Duration
}

// Order tunes the checkout saga.
type Order struct {
	// Timeout is ORDER_TIMEOUT, the one deadline for a whole checkout;
	// default 8s.
	Timeout time.Duration
	// CompensationBudget is ORDER_COMPENSATION_BUDGET, how long each undo step
	// (void, refund, cancel, release) keeps retrying; default 10s.
	CompensationBudget time.Duration
	// LeaseTTL is ORDER_LEASE_TTL, how long a replica holds a running
	// checkout without journaling progress before any replica's recovery
	// takes it over (a running checkout renews it every third of it);
	// default 10s.
	LeaseTTL time.Duration
	// RecoveryInterval is ORDER_RECOVERY_INTERVAL, how often each replica
	// looks for checkouts whose lease expired and drives them to an end;
	// default 5s.
	RecoveryInterval time.Duration
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
		Auth: Auth{
			Issuer:              "https://user.storefront.dev",
			Audience:            "storefront-bff",
			Leeway:              30 * time.Second,
			JWKSRefreshInterval: 10 * time.Second,
			MaxTokenBytes:       8 << 10,
		},
		Order: Order{Timeout: 8 * time.Second, CompensationBudget: 10 * time.Second,
			LeaseTTL: 10 * time.Second, RecoveryInterval: 5 * time.Second},
		StateDir:              "./data",
		IdempotencyTTL:        24 * time.Hour,
		IdempotencyMaxRecords: 100000,
		RedisKeyPrefix:        "sf:",
		Cache:                 DefaultCache(),
		ViewTimeout:           3 * time.Second,
		RateLimit: RateLimit{
			Default: Quota{Requests: 300, Window: time.Minute},
			Login:   Quota{Requests: 10, Window: time.Minute},
			Orders:  Quota{Requests: 10, Window: time.Minute},
			MaxKeys: 100_000,
		},
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
	l.Duration(&b.Auth.JWKSRefreshInterval, "AUTH_JWKS_REFRESH_INTERVAL")
	l.Int(&b.Auth.MaxTokenBytes, "AUTH_MAX_TOKEN_BYTES")
	l.Duration(&b.Order.Timeout, "ORDER_TIMEOUT")
	l.Duration(&b.Order.CompensationBudget, "ORDER_COMPENSATION_BUDGET")
	l.Duration(&b.Order.LeaseTTL, "ORDER_LEASE_TTL")
	l.Duration(&b.Order.RecoveryInterval, "ORDER_RECOVERY_INTERVAL")
	l.String(&b.StateDir, "STATE_DIR")
	l.Duration(&b.IdempotencyTTL, "IDEMPOTENCY_TTL")
	l.Int(&b.IdempotencyMaxRecords, "IDEMPOTENCY_MAX_RECORDS")
	l.String(&b.PprofAddr, "PPROF_ADDR")
	l.String(&b.RedisURL, "REDIS_URL")
	l.String(&b.RedisKeyPrefix, "REDIS_KEY_PREFIX")
	b.Cache.Load(l)
	l.Duration(&b.ViewTimeout, "VIEW_TIMEOUT")
	b.RateLimit.Load(l)
}

// Load reads the rate-limit settings.
func (r *RateLimit) Load(l *Loader) {
	l.Int(&r.Default.Requests, "RATE_LIMIT_DEFAULT_REQUESTS")
	l.Duration(&r.Default.Window, "RATE_LIMIT_DEFAULT_WINDOW")
	l.Int(&r.Login.Requests, "RATE_LIMIT_LOGIN_REQUESTS")
	l.Duration(&r.Login.Window, "RATE_LIMIT_LOGIN_WINDOW")
	l.Int(&r.Orders.Requests, "RATE_LIMIT_ORDER_REQUESTS")
	l.Duration(&r.Orders.Window, "RATE_LIMIT_ORDER_WINDOW")
	l.String(&r.ClientIPHeader, "RATE_LIMIT_CLIENT_IP_HEADER")
	l.Int(&r.MaxKeys, "RATE_LIMIT_MAX_KEYS")
}

// Validate reports rate-limit settings that cannot work.
func (r RateLimit) Validate() error {
	var errs []error
	for _, q := range []struct {
		name string
		q    Quota
	}{{"DEFAULT", r.Default}, {"LOGIN", r.Login}, {"ORDER", r.Orders}} {
		switch {
		case q.q.Requests < 0:
			errs = append(errs, fmt.Errorf("RATE_LIMIT_%s_REQUESTS must not be negative", q.name))
		case q.q.Requests > 0 && (q.q.Window < time.Second || q.q.Window%time.Second != 0):
			errs = append(errs, fmt.Errorf("RATE_LIMIT_%s_WINDOW=%v: want a whole number of seconds such as 1m", q.name, q.q.Window))
		}
	}
	if r.MaxKeys <= 0 {
		errs = append(errs, errors.New("RATE_LIMIT_MAX_KEYS must be positive"))
	}
	if strings.ContainsFunc(r.ClientIPHeader, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}) {
		errs = append(errs, fmt.Errorf("RATE_LIMIT_CLIENT_IP_HEADER=%q is not a header name", r.ClientIPHeader))
	}
	return errors.Join(errs...)
}

// Validate reports settings that cannot work.
func (b Base) Validate() error {
	errs := []error{b.Upstreams.Validate(), b.Cache.Validate()}
	if _, err := b.SlogLevel(); err != nil {
		errs = append(errs, err)
	}
	if b.HTTP.BodyLimit <= 0 || b.HTTP.HeaderLimit <= 0 {
		errs = append(errs, errors.New("HTTP_BODY_LIMIT and HTTP_HEADER_LIMIT must be positive"))
	}
	if b.Auth.Issuer == "" || b.Auth.Audience == "" {
		errs = append(errs, errors.New("AUTH_ISSUER and AUTH_AUDIENCE must be set"))
	}
	if b.Auth.JWKSRefreshInterval <= 0 || b.Auth.MaxTokenBytes <= 0 {
		errs = append(errs, errors.New("AUTH_JWKS_REFRESH_INTERVAL and AUTH_MAX_TOKEN_BYTES must be positive"))
	}
	if b.Order.Timeout <= 0 || b.Order.CompensationBudget <= 0 || b.Order.LeaseTTL <= 0 || b.Order.RecoveryInterval <= 0 {
		errs = append(errs, errors.New("ORDER_TIMEOUT, ORDER_COMPENSATION_BUDGET, ORDER_LEASE_TTL and ORDER_RECOVERY_INTERVAL must be positive"))
	}
	if b.RedisURL == "" && b.StateDir == "" {
		errs = append(errs, errors.New("STATE_DIR must be set when REDIS_URL is not"))
	}
	if b.Order.CompensationBudget <= b.Upstreams.BreakerOpenTimeout {
		// An undo (a refund, a void) must outlast an open breaker, or a
		// burst of failures could leave money held with no order.
		errs = append(errs, errors.New("ORDER_COMPENSATION_BUDGET must be longer than UPSTREAM_BREAKER_OPEN_TIMEOUT"))
	}
	if b.IdempotencyTTL <= 0 || b.IdempotencyMaxRecords <= 0 {
		errs = append(errs, errors.New("IDEMPOTENCY_TTL and IDEMPOTENCY_MAX_RECORDS must be positive"))
	}
	if b.ViewTimeout <= 0 {
		errs = append(errs, errors.New("VIEW_TIMEOUT must be positive"))
	}
	if b.RedisURL != "" {
		// The URL may hold a password: the error must not quote it.
		if u, err := url.Parse(b.RedisURL); err != nil || u.Host == "" && u.Scheme != "unix" ||
			u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix" {
			errs = append(errs, errors.New("REDIS_URL: want redis://host:port, rediss://host:port or unix:///path"))
		}
	}
	errs = append(errs, b.RateLimit.Validate())
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
