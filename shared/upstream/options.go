package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Defaults of a Service that are not settings: every Service runs with
// them (DefaultBackoff can be changed with WithBackoff).
const (
	// DefaultIdleTimeout closes pooled connections idle for that long. It is
	// kept below the shortest keep-alive timeout common servers use (Node's
	// 5 s) so the client, not the server, closes idle connections: a write
	// sent on a connection the server is closing cannot be told apart from
	// one that was processed.
	DefaultIdleTimeout = 4 * time.Second
	// DefaultBackoff is the first retry's backoff ceiling; it doubles on
	// each retry and the wait is drawn uniformly below it (full jitter).
	DefaultBackoff = 25 * time.Millisecond
	// DefaultMaxBackoff caps one backoff pause.
	DefaultMaxBackoff = time.Second
	// DefaultRetryRatio and DefaultRetriesPerSecond are each Service's retry
	// budget: retries may add a fifth to the calls made, plus ten a second
	// when calls are few, so that retries cannot multiply the load of a
	// service already failing.
	DefaultRetryRatio       = 0.2
	DefaultRetriesPerSecond = 10
	// DefaultEjectAfter is how many failures in a row (no answer, or a 5xx)
	// leave an instance out of the balancing, for DefaultCooldown the first
	// time, twice that the next, up to DefaultMaxCooldown, until it answers
	// again.
	DefaultEjectAfter  = 5
	DefaultMaxCooldown = 30 * time.Second
	// DefaultCooldown is how long an instance that refused a connection is
	// left out of the rotation.
	DefaultCooldown = 5 * time.Second
	// DefaultMaxResponseBytes bounds a response body.
	DefaultMaxResponseBytes = 8 << 20
	// MaxRetries is the most retries of a read: each waits a backoff
	// within the call's Timeout, so more than a few never run, and the
	// retry budget refuses most of them under load anyway.
	MaxRetries = 10
)

// Config is the settings of a Service; DefaultConfig returns every default.
type Config struct {
	// Timeout caps a whole Do, retries included, when the context has no
	// sooner deadline; it also bounds the wait for a pooled connection.
	// Default 2s.
	Timeout time.Duration
	// Retries is how many times a GET or HEAD is tried again after a
	// transient failure (timeout, 5xx, 429, dropped connection), while the
	// deadline leaves room. Writes are never retried here: their callers
	// resolve ambiguity by reference. 0 disables; at most MaxRetries.
	// Default 2.
	Retries int
	// Breaker is the service's circuit breaker. Defaults: see
	// BreakerSettings.
	Breaker BreakerSettings
	// DialTimeout caps one connection attempt, so that a host that swallows
	// SYNs costs a fraction of the call budget before failover. Default
	// 500ms.
	DialTimeout time.Duration
	// MaxConnsPerInstance sizes each instance's connection pool. Every
	// connection is kept for reuse until idle for DefaultIdleTimeout, so this
	// is also the bound on idle connections. A call that finds the pool
	// exhausted waits for a connection until its deadline. Default 256.
	MaxConnsPerInstance int
	// DNSRefresh is how often the host name of an instance URL is looked
	// up again: each address it resolves to (one per pod behind a headless
	// Kubernetes Service) is an instance of its own, so replicas that come
	// and go are followed without a restart. At least MinDNSRefresh.
	// Default 30s.
	DNSRefresh time.Duration
}

// MinDNSRefresh is the shortest DNSRefresh, 1s: DNS answers live for
// seconds, and a shorter period (1us for 1s) only loops, each lookup given
// half of it to answer in.
const MinDNSRefresh = time.Second

// BreakerSettings configures the circuit breaker of a service. Only
// transport failures and 5xx answers count as failures; 4xx answers are the
// service working as intended.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after that many failures in a
	// row. Default 5.
	ConsecutiveFailures int
	// FailureRatio opens the breaker when at least that share of the calls
	// in the current Interval failed, once MinRequests calls were made.
	// Default 0.5.
	FailureRatio float64
	// MinRequests is the number of calls in an Interval before FailureRatio
	// applies. Default 20.
	MinRequests int
	// Interval is the window over which FailureRatio is computed. Default 10s.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open, failing calls fast,
	// before letting trial calls through. Default 5s.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many trial calls a half-open breaker lets
	// through; that many successes close it. Default 1.
	HalfOpenRequests int
}

// DefaultConfig returns the defaults of every setting of a Service.
func DefaultConfig() Config {
	return Config{
		Timeout: 2 * time.Second,
		Retries: 2,
		Breaker: BreakerSettings{
			ConsecutiveFailures: 5,
			FailureRatio:        0.5,
			MinRequests:         20,
			Interval:            10 * time.Second,
			OpenTimeout:         5 * time.Second,
			HalfOpenRequests:    1,
		},
		DialTimeout:         500 * time.Millisecond,
		MaxConnsPerInstance: 256,
		DNSRefresh:          30 * time.Second,
	}
}

// Validate reports the settings a Service cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 || c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("upstream: Timeout %v and DialTimeout %v must be positive", c.Timeout, c.DialTimeout))
	}
	if c.DNSRefresh < MinDNSRefresh {
		errs = append(errs, fmt.Errorf("upstream: DNSRefresh %v must be at least %v", c.DNSRefresh, MinDNSRefresh))
	}
	if c.Retries < 0 || c.Retries > MaxRetries {
		// A Service makes 1+Retries attempts: near the int's ceiling that
		// wraps to a negative count, which bounds nothing.
		errs = append(errs, fmt.Errorf("upstream: Retries %d must be in [0, %d]", c.Retries, MaxRetries))
	}
	if c.MaxConnsPerInstance < 1 {
		errs = append(errs, fmt.Errorf("upstream: MaxConnsPerInstance %d must be positive", c.MaxConnsPerInstance))
	}
	b := c.Breaker
	counts := []int{b.ConsecutiveFailures, b.MinRequests, b.HalfOpenRequests}
	if slices.Min(counts) < 1 || uint64(slices.Max(counts)) > math.MaxUint32 || b.Interval <= 0 || b.OpenTimeout <= 0 {
		errs = append(errs, fmt.Errorf("upstream: Breaker %+v: every count (at most %d) and duration must be positive", b, uint32(math.MaxUint32)))
	}
	if b.FailureRatio <= 0 || b.FailureRatio > 1 {
		errs = append(errs, fmt.Errorf("upstream: Breaker.FailureRatio %v must be in (0, 1]", b.FailureRatio))
	}
	return errors.Join(errs...)
}

// Observer is told the outcome of every Do: outcome is "ok" or the Kind of
// the error ("timeout", "not_found"), d the time the caller waited.
type Observer interface {
	ObserveCall(service, op, outcome string, d time.Duration)
}

// AttemptObserver is implemented by an Observer that also wants every HTTP
// request sent (a retry, or a failover to another instance, is one more):
// outcome as for ObserveCall.
type AttemptObserver interface {
	ObserveAttempt(service, outcome string)
}

// HeaderFunc adds headers to every request from its context: W3C trace
// context, request ids.
type HeaderFunc func(ctx context.Context, set func(k, v string))

// Option gives a Service a collaborator, or changes its retry backoff.
type Option func(*config)

// config is what a Service runs with: its Config, what the call path
// derives from it, and its collaborators.
type config struct {
	Config
	idleTimeout time.Duration
	// retry is the GET and HEAD retry policy: 1+Retries attempts, a
	// backoff from DefaultBackoff, a budget per Service.
	retry    RetryPolicy
	cooldown time.Duration
	maxBody  int
	observer Observer
	headers  HeaderFunc
	tracer   trace.Tracer
	resolve  Resolver
	now      func() time.Time
}

func newConfig(cfg Config, opts []Option) config {
	c := config{
		Config:      cfg,
		idleTimeout: DefaultIdleTimeout,
		retry: RetryPolicy{
			Backoff:   Backoff{Base: DefaultBackoff, Max: DefaultMaxBackoff},
			Attempts:  1 + cfg.Retries,
			Retryable: retryable,
		},
		cooldown: DefaultCooldown,
		maxBody:  DefaultMaxResponseBytes,
		tracer:   noop.NewTracerProvider().Tracer(instrumentation),
		resolve:  net.DefaultResolver.LookupHost,
		now:      time.Now,
	}
	for _, o := range opts {
		o(&c)
	}
	c.retry.Budget = NewRetryBudget(DefaultRetryRatio, DefaultRetriesPerSecond, c.now)
	return c
}

// WithBackoff sets the first retry's backoff ceiling. Default
// DefaultBackoff (25 ms).
func WithBackoff(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.retry.Base = d
		}
	}
}

// WithObserver reports every call to o. Default none.
func WithObserver(o Observer) Option {
	return func(c *config) { c.observer = o }
}

// WithHeaders adds the headers h sets to every request. Default none.
func WithHeaders(h HeaderFunc) Option {
	return func(c *config) { c.headers = h }
}

// WithResolver looks the host names of instance URLs up with r. Default
// the system's resolver.
func WithResolver(r Resolver) Option {
	return func(c *config) { c.resolve = r }
}

// instrumentation names the tracer of the client spans.
const instrumentation = "storefront.dev/shared/upstream"

// WithTracerProvider makes a CLIENT span of every HTTP request with tp's
// tracer, a child of the span in the call's context. Default none: the
// headers then carry the caller's span.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracer = tp.Tracer(instrumentation) }
}

// WithClock sets the clock that times instance cooldowns and refills the
// retry budget, so tests can move them on without sleeping. Deadlines
// always use real time, since the sockets do. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
