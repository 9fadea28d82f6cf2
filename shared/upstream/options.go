package upstream

import (
	"context"
	"time"
)

// The defaults NewService starts from; each has an Option to change it.
const (
	// DefaultTimeout bounds a whole Do (every attempt and backoff) when the
	// context has no sooner deadline.
	DefaultTimeout = 2 * time.Second
	// DefaultDialTimeout bounds one connection attempt, so that a host that
	// swallows SYNs costs a fraction of the call budget before failover.
	DefaultDialTimeout = 500 * time.Millisecond
	// DefaultMaxConns is the connection pool size per instance.
	DefaultMaxConns = 256
	// DefaultIdleTimeout closes pooled connections idle for that long. It is
	// kept below the shortest keep-alive timeout common servers use (Node's
	// 5 s) so the client, not the server, closes idle connections: a write
	// sent on a connection the server is closing cannot be told apart from
	// one that was processed.
	DefaultIdleTimeout = 4 * time.Second
	// DefaultRetries is how many times a GET is tried again after a
	// transient failure.
	DefaultRetries = 2
	// DefaultBackoff is the first retry's backoff ceiling; it doubles on
	// each retry and the wait is drawn uniformly below it (full jitter).
	DefaultBackoff = 25 * time.Millisecond
	// DefaultCooldown is how long an instance that refused a connection is
	// left out of the rotation.
	DefaultCooldown = 5 * time.Second
	// DefaultMaxResponseBytes bounds a response body.
	DefaultMaxResponseBytes = 8 << 20
)

// Observer is told the outcome of every Do: outcome is "ok" or the Kind of
// the error ("timeout", "not_found"), d the time the caller waited.
type Observer interface {
	ObserveCall(service, op, outcome string, d time.Duration)
}

// BreakerObserver is implemented by an Observer that also wants to know
// when a service's circuit breaker changes state ("closed", "half-open",
// "open").
type BreakerObserver interface {
	ObserveBreaker(service, state string)
}

// HeaderFunc adds headers to every request from its context: W3C trace
// context, request ids.
type HeaderFunc func(ctx context.Context, set func(k, v string))

// BreakerSettings configures the circuit breaker of a service. Zero fields
// take their defaults. Only transport failures and 5xx answers count as
// failures; 4xx answers are the service working as intended.
type BreakerSettings struct {
	// ConsecutiveFailures opens the breaker after that many failures in a
	// row. Default 5.
	ConsecutiveFailures uint32
	// FailureRatio opens the breaker when at least that share of the calls
	// in the current Interval failed, once MinRequests calls were made.
	// Default 0.5.
	FailureRatio float64
	// MinRequests is the number of calls in an Interval before FailureRatio
	// applies. Default 20.
	MinRequests uint32
	// Interval is the window over which FailureRatio is computed. Default 10 s.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before letting trial
	// calls through. Default 5 s.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many trial calls a half-open breaker lets
	// through; that many successes close it. Default 1.
	HalfOpenRequests uint32
}

func (b BreakerSettings) withDefaults() BreakerSettings {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.FailureRatio <= 0 {
		b.FailureRatio = 0.5
	}
	if b.MinRequests == 0 {
		b.MinRequests = 20
	}
	if b.Interval <= 0 {
		b.Interval = 10 * time.Second
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = 5 * time.Second
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = 1
	}
	return b
}

// Option configures a Service.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	timeout     time.Duration
	dialTimeout time.Duration
	maxConns    int
	idleTimeout time.Duration
	retries     int
	backoff     time.Duration
	cooldown    time.Duration
	maxBody     int
	breaker     BreakerSettings
	observer    Observer
	headers     HeaderFunc
	now         func() time.Time
}

func newConfig(opts []Option) config {
	c := config{
		timeout:     DefaultTimeout,
		dialTimeout: DefaultDialTimeout,
		maxConns:    DefaultMaxConns,
		idleTimeout: DefaultIdleTimeout,
		retries:     DefaultRetries,
		backoff:     DefaultBackoff,
		cooldown:    DefaultCooldown,
		maxBody:     DefaultMaxResponseBytes,
		now:         time.Now,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	c.breaker = c.breaker.withDefaults()
	return c
}

// WithTimeout caps a whole Do, retries included, when the context has no
// sooner deadline. Default DefaultTimeout (2 s).
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithDialTimeout caps one connection attempt. Default DefaultDialTimeout
// (500 ms).
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.dialTimeout = d
		}
	})
}

// WithMaxConnsPerInstance sizes each instance's connection pool. Every
// connection is kept for reuse until idle for the idle timeout, so this is
// also the bound on idle connections. A call that finds the pool exhausted
// waits for a connection until its deadline. Default DefaultMaxConns (256).
func WithMaxConnsPerInstance(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxConns = n
		}
	})
}

// WithIdleTimeout closes pooled connections idle for d. Default
// DefaultIdleTimeout (4 s).
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.idleTimeout = d
		}
	})
}

// WithRetries sets how many times a GET or HEAD is tried again after a
// transient failure (timeout, 5xx, 429, dropped connection), while the
// deadline leaves room. Writes are never retried here: their callers
// resolve ambiguity by reference. Default DefaultRetries (2); 0 disables.
func WithRetries(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 0 {
			c.retries = n
		}
	})
}

// WithBackoff sets the first retry's backoff ceiling. Default
// DefaultBackoff (25 ms).
func WithBackoff(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.backoff = d
		}
	})
}

// WithCooldown sets how long an instance that refused a connection stays
// out of the rotation. Default DefaultCooldown (5 s).
func WithCooldown(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.cooldown = d
		}
	})
}

// WithMaxResponseBytes bounds a response body. Default
// DefaultMaxResponseBytes (8 MiB).
func WithMaxResponseBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxBody = n
		}
	})
}

// WithBreaker configures the service's circuit breaker; zero fields keep
// their defaults (see BreakerSettings).
func WithBreaker(b BreakerSettings) Option {
	return optionFunc(func(c *config) { c.breaker = b })
}

// WithObserver reports every call to o. Default none.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) { c.observer = o })
}

// WithHeaders adds the headers h sets to every request. Default none.
func WithHeaders(h HeaderFunc) Option {
	return optionFunc(func(c *config) { c.headers = h })
}

// WithClock sets the clock that times instance cooldowns, so tests can
// expire them without sleeping. Deadlines always use real time, since the
// sockets do. Default time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}
