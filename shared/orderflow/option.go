package orderflow

import (
	"log/slog"
	"time"
)

// Observer is told the outcome of every order and every notification, for
// metrics. Implementations must be safe for concurrent use and fast: they are
// called on the request path.
type Observer interface {
	// OrderOutcome receives "confirmed" or the problem code of the failure
	// ("out_of_stock", "payment_declined", "upstream_unavailable", ...).
	OrderOutcome(outcome string)
	// NotificationOutcome receives "sent", "failed" (retries exhausted or
	// refused) or "dropped" (queue full or closed).
	NotificationOutcome(outcome string)
	// SagaRecovered receives the end of each saga recovery took over:
	// "completed", "failed" or "pending" (still unfinished; tried again on
	// the next pass).
	SagaRecovered(outcome string)
	// JournalBacklog receives the number of unfinished sagas after each
	// recovery pass.
	JournalBacklog(n int)
}

// Option configures a Flow.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is every setting of a Flow, starting from the defaults in newConfig.
type config struct {
	// timeout bounds the whole flow, forward steps only. Default 8 s.
	timeout time.Duration
	// compensationBudget bounds each compensation, retries included. Default 10 s.
	compensationBudget time.Duration
	// maxAttempts is the number of tries of one forward step. Default 4.
	maxAttempts int
	// backoff is the base of the exponential backoff with full jitter. Default 20 ms.
	backoff time.Duration
	// maxBackoff caps one backoff pause. Default 1 s.
	maxBackoff time.Duration
	// retryAfter is the Retry-After given with CodeUnavailable. Default 2 s.
	retryAfter time.Duration
	// notifyQueueSize bounds the notifications waiting for a worker. Default 1024.
	notifyQueueSize int
	// notifyWorkers is the number of goroutines sending notifications. Default 8:
	// at two, a checkout burst outran them and the bounded queue dropped notifications.
	notifyWorkers int
	// notifyAttempts is the number of tries of one notification. Default 5.
	notifyAttempts int
	// notifyTimeout bounds one notification attempt. Default 2 s.
	notifyTimeout time.Duration
	// logger receives what is handled here and not returned: compensations
	// that could not finish, notifications given up. Default: discarded.
	logger *slog.Logger
	// observer receives outcomes. Default: none.
	observer Observer
	// jitter returns a uniformly random duration in [0, d). Default math/rand/v2.
	jitter func(d time.Duration) time.Duration
	// name is the BFF's name; saga ids and upstream references derive from
	// it, so two BFFs never share a checkout. Default "bff".
	name string
	// leaseTTL is how long a runner holds a saga without writing to it
	// before recovery may take it over. Default 10 s.
	leaseTTL time.Duration
	// recoveryInterval is the pause between two recovery passes. Default 5 s.
	recoveryInterval time.Duration
	// retention is how long a finished saga's outcome is replayed to
	// retries of its key. Default 24 h.
	retention time.Duration
	// now is the clock of leases and expiries. Default time.Now.
	now func() time.Time
}

func newConfig(opts []Option) config {
	c := config{
		timeout:            8 * time.Second,
		compensationBudget: 10 * time.Second,
		maxAttempts:        4,
		backoff:            20 * time.Millisecond,
		maxBackoff:         time.Second,
		retryAfter:         2 * time.Second,
		notifyQueueSize:    1024,
		notifyWorkers:      8,
		notifyAttempts:     5,
		notifyTimeout:      2 * time.Second,
		logger:             slog.New(slog.DiscardHandler),
		observer:           nopObserver{},
		jitter:             randomJitter,
		name:               "bff",
		leaseTTL:           10 * time.Second,
		recoveryInterval:   5 * time.Second,
		retention:          24 * time.Hour,
		now:                time.Now,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithTimeout bounds the whole flow (ctx's deadline wins when sooner).
// Non-positive values are ignored. Default 8 s.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithCompensationBudget bounds each compensation (cancel, void or refund,
// release), retries included. It runs on a context detached from the
// request's, so it also bounds how long Place may outlive its deadline.
// Non-positive values are ignored. Default 10 s.
func WithCompensationBudget(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.compensationBudget = d
		}
	})
}

// WithMaxAttempts sets how many times a forward step is tried while its
// answer is ambiguous or transient. Values below 1 are ignored. Default 4.
func WithMaxAttempts(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 1 {
			c.maxAttempts = n
		}
	})
}

// WithBackoff sets the base of the exponential backoff between attempts; each
// pause is uniformly random in [0, base·2^attempt), capped at max (full
// jitter). Non-positive values are ignored. Defaults 20 ms and 1 s.
func WithBackoff(base, max time.Duration) Option {
	return optionFunc(func(c *config) {
		if base > 0 {
			c.backoff = base
		}
		if max > 0 {
			c.maxBackoff = max
		}
	})
}

// WithRetryAfter sets the Retry-After suggested with CodeUnavailable.
// Non-positive values are ignored. Default 2 s.
func WithRetryAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.retryAfter = d
		}
	})
}

// WithNotifyQueueSize bounds the notifications waiting to be sent; when the
// queue is full a new one is dropped and reported. Values below 1 are ignored.
// Default 1024.
func WithNotifyQueueSize(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 1 {
			c.notifyQueueSize = n
		}
	})
}

// WithNotifyWorkers sets how many goroutines send notifications. Values
// below 1 are ignored. Default 8.
func WithNotifyWorkers(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 1 {
			c.notifyWorkers = n
		}
	})
}

// WithNotifyAttempts sets how many times one notification is tried. Values
// below 1 are ignored. Default 5.
func WithNotifyAttempts(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 1 {
			c.notifyAttempts = n
		}
	})
}

// WithNotifyTimeout bounds one notification attempt. Non-positive values are
// ignored. Default 2 s.
func WithNotifyTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.notifyTimeout = d
		}
	})
}

// WithLogger sets the logger for what the flow handles itself rather than
// returns. A nil logger is ignored. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithObserver sets the receiver of order and notification outcomes. A nil
// observer is ignored. Default: none.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) {
		if o != nil {
			c.observer = o
		}
	})
}

// WithJitter replaces the random source of the backoff: j(d) must return a
// duration in [0, d). Tests use it to make pauses deterministic. A nil j is
// ignored. Default: math/rand/v2.
func WithJitter(j func(d time.Duration) time.Duration) Option {
	return optionFunc(func(c *config) {
		if j != nil {
			c.jitter = j
		}
	})
}

// WithName sets the name of the BFF the flow serves; saga ids and upstream
// references derive from it. Empty names are ignored. Default "bff".
func WithName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.name = name
		}
	})
}

// WithLeaseTTL sets how long a runner holds a saga without writing to it
// before another (recovery, on any replica) may take it over; a running
// saga renews it every third of it. Non-positive values are ignored.
// Default 10 s.
func WithLeaseTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.leaseTTL = d
		}
	})
}

// WithRecoveryInterval sets the pause between two recovery passes of
// RunRecovery. Non-positive values are ignored. Default 5 s.
func WithRecoveryInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.recoveryInterval = d
		}
	})
}

// WithRetention sets how long a finished checkout's outcome is kept and
// replayed to retries of its Idempotency-Key. Non-positive values are
// ignored. Default 24 h.
func WithRetention(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.retention = d
		}
	})
}

// WithClock sets the clock of leases and expiries. A nil clock is ignored.
// Default time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

type nopObserver struct{}

func (nopObserver) SagaRecovered(string) {}
func (nopObserver) JournalBacklog(int)   {}

func (nopObserver) OrderOutcome(string)        {}
func (nopObserver) NotificationOutcome(string) {}
