package orderflow

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/upstream"
)

// Observer is told the outcome of every order and every notification, for
// metrics. Implementations must be safe for concurrent use and fast: they are
// called on the request path.
type Observer interface {
	// OrderOutcome receives one of OrderOutcomes for each order attempt
	// (a replay or a refused key is none).
	OrderOutcome(outcome string)
	// NotificationOutcome receives "sent", "failed" (retries exhausted or
	// refused) or "dropped" (queue full or closed).
	NotificationOutcome(outcome string)
	// SagaRecovered receives the end of each saga recovery took over:
	// "completed", "failed" or "pending" (still unfinished; tried again on
	// the next pass).
	SagaRecovered(outcome string)
	// JournalBacklog receives, after each recovery pass, the number of
	// unfinished sagas nobody runs (their lease has ended): those recovery
	// could not finish, and any beyond its batch.
	JournalBacklog(n int)
	// JournalWrite receives how long one journal write took, op being one
	// of JournalOps, failed writes included: a checkout makes four, three
	// before its answer, so their time bounds the checkouts a replica
	// serves.
	JournalWrite(op string, d time.Duration)
}

// unavailableRetryAfter is the Retry-After suggested with CodeUnavailable
// when an upstream is down.
const unavailableRetryAfter = 2 * time.Second

// Config is the settings of a Flow; DefaultConfig returns every default.
type Config struct {
	// Name is the name of the BFF the flow serves; saga ids and upstream
	// references derive from it, so two BFFs never share a checkout.
	// Default "bff".
	Name string
	// Timeout bounds a whole checkout, forward steps only (ctx's deadline
	// wins when sooner). Default 8s.
	Timeout time.Duration
	// CompensationBudget bounds each compensation (cancel, void or refund,
	// release), retries included. It runs on a context detached from the
	// request's, so it also bounds how long Place may outlive its deadline.
	// Default 10s.
	CompensationBudget time.Duration
	// LateWrites is how long after a checkout's Timeout an upstream may
	// still apply a reservation or a payment hold whose answer never came
	// (a timeout, a dropped connection): one found missing when it is
	// undone is taken as never made only after that: until then the saga
	// stays unfinished under its lease (retries of its key wait), and
	// recovery then looks again, so that one landing late is undone too.
	// Default 30s.
	LateWrites time.Duration
	// LeaseTTL is how long a runner holds a saga without writing to it
	// before another (recovery, on any replica) may take it over; a running
	// saga renews it every third of it. Default 10s.
	LeaseTTL time.Duration
	// RecoveryInterval is the pause between two recovery passes of
	// RunRecovery. Default 5s.
	RecoveryInterval time.Duration
	// Retention is how long a finished checkout's outcome is kept and
	// replayed to retries of its Idempotency-Key. Default 24h. (A checkout
	// sent without a key, or refused at its first attempt as it was priced,
	// is kept keylessRetention.)
	Retention time.Duration
	// NotifyQueueSize bounds the notifications waiting to be sent; when the
	// queue is full a new one is dropped and reported. Default 1024.
	NotifyQueueSize int
	// NotifyWorkers is how many goroutines send notifications. Default 8:
	// at two, a checkout burst outran them and the bounded queue dropped
	// notifications.
	NotifyWorkers int
	// NotifyAttempts is how many times one notification is tried.
	// Default 5.
	NotifyAttempts int
	// NotifyTimeout bounds one notification attempt. Default 2s.
	NotifyTimeout time.Duration
}

// DefaultConfig returns the defaults of every setting of a Flow.
func DefaultConfig() Config {
	return Config{
		Name:               "bff",
		Timeout:            8 * time.Second,
		CompensationBudget: 10 * time.Second,
		LateWrites:         30 * time.Second,
		LeaseTTL:           10 * time.Second,
		RecoveryInterval:   5 * time.Second,
		Retention:          24 * time.Hour,
		NotifyQueueSize:    1024,
		NotifyWorkers:      8,
		NotifyAttempts:     5,
		NotifyTimeout:      2 * time.Second,
	}
}

// minLeaseTTL is the shortest lease a running saga can keep renewed.
const minLeaseTTL = 100 * time.Millisecond

// Validate reports the settings a Flow cannot work with.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("orderflow: Name must be set"))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"Timeout", c.Timeout}, {"CompensationBudget", c.CompensationBudget}, {"LeaseTTL", c.LeaseTTL},
		{"RecoveryInterval", c.RecoveryInterval}, {"Retention", c.Retention}, {"NotifyTimeout", c.NotifyTimeout}} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("orderflow: %s %v must be positive", d.name, d.d))
		}
	}
	if c.LeaseTTL > 0 && c.LeaseTTL < minLeaseTTL {
		// Renewed every third of it, each write bounded by half of it.
		errs = append(errs, fmt.Errorf("orderflow: LeaseTTL %v must be at least %v", c.LeaseTTL, minLeaseTTL))
	}
	if c.LateWrites < 0 {
		errs = append(errs, fmt.Errorf("orderflow: LateWrites %v must not be negative", c.LateWrites))
	}
	if c.NotifyQueueSize < 1 || c.NotifyWorkers < 1 || c.NotifyAttempts < 1 {
		errs = append(errs, fmt.Errorf("orderflow: NotifyQueueSize %d, NotifyWorkers %d and NotifyAttempts %d must be positive",
			c.NotifyQueueSize, c.NotifyWorkers, c.NotifyAttempts))
	}
	return errors.Join(errs...)
}

// Option gives a Flow a collaborator, or changes its retry backoff.
type Option func(*config)

// config is what a Flow runs with: its Config, the retry settings of its
// steps, and its collaborators.
type config struct {
	Config
	// maxAttempts is the number of tries of one forward step. Default 4.
	maxAttempts int
	// backoff paces the retries of steps, undos and notifications.
	// Default 20 ms, doubling up to 1 s, with full jitter.
	backoff upstream.Backoff
	// logger receives what is handled here and not returned: compensations
	// that could not finish, notifications given up. Default: discarded.
	logger *slog.Logger
	// observer receives outcomes. Default: none.
	observer Observer
	// tracer makes the saga's spans. Default: none.
	tracer trace.Tracer
	// now is the clock of leases and expiries. Default time.Now.
	now func() time.Time
}

func newConfig(cfg Config, opts []Option) config {
	c := config{
		Config:      cfg,
		maxAttempts: 4,
		backoff:     upstream.Backoff{Base: 20 * time.Millisecond, Max: time.Second},
		logger:      slog.New(slog.DiscardHandler),
		observer:    nopObserver{},
		tracer:      noTracer,
		now:         time.Now,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithBackoff sets the base of the exponential backoff between attempts; each
// pause is uniformly random in [0, base·2^attempt), capped at max (full
// jitter). Non-positive values are ignored. Defaults 20 ms and 1 s.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) {
		if base > 0 {
			c.backoff.Base = base
		}
		if max > 0 {
			c.backoff.Max = max
		}
	}
}

// WithLogger sets the logger for what the flow handles itself rather than
// returns. A nil logger is ignored. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithObserver sets the receiver of order and notification outcomes. A nil
// observer is ignored. Default: none.
func WithObserver(o Observer) Option {
	return func(c *config) {
		if o != nil {
			c.observer = o
		}
	}
}

// WithClock sets the clock of leases and expiries. A nil clock is ignored.
// Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

type nopObserver struct{}

func (nopObserver) SagaRecovered(string)               {}
func (nopObserver) JournalBacklog(int)                 {}
func (nopObserver) JournalWrite(string, time.Duration) {}

func (nopObserver) OrderOutcome(string)        {}
func (nopObserver) NotificationOutcome(string) {}
