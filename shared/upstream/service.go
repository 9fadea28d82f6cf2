package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sony/gobreaker/v2"
)

// maxInstances bounds the instance list so one call can track the instances
// it tried in a bit set.
const maxInstances = 64

// Call is one request to a service.
type Call struct {
	// Op names the operation in errors and metrics ("reserve").
	Op string
	// Method is the HTTP method.
	Method string
	// Path is the request path with its segments already escaped
	// (url.PathEscape); it is sent as is.
	Path string
	// Query is encoded into the URL when non-empty.
	Query url.Values
	// Body is sent as JSON when non-nil.
	Body any
	// IdempotencyKey is sent as the Idempotency-Key header when non-empty.
	IdempotencyKey string
	// AnswerOptional takes a 204 or 202 without a body as a success that
	// leaves the value decoded into at its zero: for a call whose caller
	// can do without the answer (an undo). Otherwise a 2xx without the
	// value asked for is the service's failure.
	AnswerOptional bool
}

// Service is one upstream service behind one circuit breaker: its
// instances (each address of each instance URL, host names looked up
// again every DNSRefresh), balanced by the power of two choices on the
// requests in flight, an instance that refuses connections or keeps
// failing left out for a while. It is safe for concurrent use.
type Service struct {
	name    string
	cfg     config
	pool    *pool
	breaker *gobreaker.CircuitBreaker[struct{}]
}

// NewService returns the service name reached at urls (base URLs such as
// "http://10.0.0.7:8001", optionally with a path prefix), with the settings
// cfg (start from DefaultConfig) and the collaborators opts.
func NewService(name string, urls []string, cfg Config, opts ...Option) (*Service, error) {
	if name == "" {
		return nil, errors.New("new service: empty name")
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("new service %s: no instance url", name)
	}
	if len(urls) > maxInstances {
		return nil, fmt.Errorf("new service %s: %d instance urls, at most %d", name, len(urls), maxInstances)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new service %s: %w", name, err)
	}
	s := &Service{name: name, cfg: newConfig(cfg, opts)}
	p, err := newPool(urls, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("new service %s: %w", name, err)
	}
	s.pool = p
	b := s.cfg.Breaker
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: uint32(b.HalfOpenRequests),
		Interval:    b.Interval,
		Timeout:     b.OpenTimeout,
		// Excluded calls (see IsExcluded) are in Requests too: the ratio
		// leaves them out.
		ReadyToTrip: func(c gobreaker.Counts) bool {
			counted := c.Requests - c.TotalExclusions
			return c.ConsecutiveFailures >= uint32(b.ConsecutiveFailures) ||
				(counted >= uint32(b.MinRequests) && float64(c.TotalFailures) >= b.FailureRatio*float64(counted))
		},
		IsSuccessful: func(err error) bool { return !tripsBreaker(err) },
		// A caller that gave up, or ran out of its own time first, says
		// nothing about the service.
		IsExcluded: saysNothing,
	}
	s.breaker = gobreaker.NewCircuitBreaker[struct{}](st)
	if bw, ok := s.cfg.observer.(BreakerWatcher); ok {
		bw.WatchBreaker(name, s.BreakerState)
	}
	return s, nil
}

// BreakerWatcher is implemented by an Observer that reads a service's
// circuit breaker state when it needs it (state returns "closed",
// "half-open" or "open"), for a gauge read at each scrape: an open breaker
// turns half-open only when asked, so a state reported on each change
// would say "open" for as long as no call comes.
type BreakerWatcher interface {
	WatchBreaker(service string, state func() string)
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

// BreakerState returns the circuit breaker's state: "closed", "half-open" or
// "open".
func (s *Service) BreakerState() string { return s.breaker.State().String() }

// Close stops looking host names up and closes the idle pooled
// connections; calls may still be made, to the addresses known by then.
func (s *Service) Close() { s.pool.close() }

// Do sends c and decodes a 2xx JSON answer into out (nil out discards it).
// Every failure is an *Error carrying the service, c.Op and the status. The
// call ends at the context's deadline or after the timeout cap, whichever
// is sooner; GET and HEAD are retried on transient failures while that
// deadline leaves room.
func (s *Service) Do(ctx context.Context, c Call, out any) error {
	start := time.Now()
	err := s.do(ctx, start, c, out)
	if o := s.cfg.observer; o != nil {
		outcome := "ok"
		if err != nil {
			outcome = KindOf(err).String()
		}
		o.ObserveCall(s.name, c.Op, outcome, time.Since(start))
	}
	return err
}

func (s *Service) do(ctx context.Context, start time.Time, c Call, out any) error {
	if err := ctx.Err(); err != nil {
		return &Error{Service: s.name, Op: c.Op, Kind: KindTimeout, NotSent: true, Err: err}
	}
	var body []byte
	if c.Body != nil {
		b, err := json.Marshal(c.Body)
		if err != nil {
			return &Error{Service: s.name, Op: c.Op, Kind: KindInvalid, NotSent: true, Err: fmt.Errorf("encode body: %w", err)}
		}
		body = b
	}
	deadline := start.Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	policy := s.cfg.retry
	if c.Method != http.MethodGet && c.Method != http.MethodHead {
		// A write is sent once: its caller resolves an ambiguous failure
		// by its reference, with its own policy.
		policy.Attempts = 1
	}
	s.cfg.retry.Budget.deposit()
	return retryUntil(ctx, deadline, policy, func(_ context.Context, attempt int) error {
		now := start // the first attempt starts as the call does
		if attempt > 0 {
			now = time.Now()
		}
		return s.attempt(ctx, now, deadline, c, body, out, attempt)
	})
}

// retryable reports whether a GET that failed with err may be tried again.
// An open breaker is not: it would fail fast again.
func retryable(err error) bool {
	e, ok := As(err)
	if !ok || !e.Transient() {
		return false
	}
	return !errors.Is(e.Err, gobreaker.ErrOpenState) && !errors.Is(e.Err, gobreaker.ErrTooManyRequests) &&
		!errors.Is(e.Err, context.Canceled)
}

// errCallerDeadline marks a timeout at the caller's deadline when that
// left the attempt less than half the call's own Timeout (a view part
// chained after a slow one, a late retry): the caller was short of time,
// which says little of the service. Neither the breaker nor the
// instance's health counts it; attempts given half the Timeout or more
// still find a slow service out.
var errCallerDeadline = errors.New("at the caller's deadline")

// callersTimeout marks err with errCallerDeadline when it is a timeout
// without an answer, at ctx's deadline, of an attempt started at start
// with less than half of timeout to go.
func callersTimeout(ctx context.Context, start, deadline time.Time, timeout time.Duration, err error) error {
	e, ok := As(err)
	if !ok || e.Kind != KindTimeout || e.Status != 0 || deadline.Sub(start) >= timeout/2 {
		return err
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
		return err
	}
	if e.Err == nil {
		e.Err = errCallerDeadline
	} else {
		e.Err = fmt.Errorf("%w: %w", errCallerDeadline, e.Err)
	}
	return err
}

// tripsBreaker reports whether err says the service is unwell: no answer or
// a 5xx. Business answers (4xx) and undecodable 2xx bodies do not count.
func tripsBreaker(err error) bool {
	if err == nil {
		return false
	}
	e, ok := As(err)
	if !ok {
		return true
	}
	if e.Status >= 500 {
		return true
	}
	return e.Status == 0 && e.Transient()
}

// saysNothing reports whether err ended a call without telling anything
// of the service: the caller gave up or ran short of time (see
// errCallerDeadline), the deadline passed before the request could be sent
// (errOutOfTime), or no connection of this replica's own pool freed up
// (errNoConnection). The breaker leaves such calls out, neither failures
// nor successes, and an instance's health ignores them.
func saysNothing(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errCallerDeadline) ||
		errors.Is(err, errOutOfTime) || errors.Is(err, errNoConnection)
}

// errOutOfTime is the cause of a call whose deadline passed before its
// request was sent: a retry begun too late, or an instance left to try
// after others took the time.
var errOutOfTime = fmt.Errorf("the deadline passed before the request was sent: %w", context.DeadlineExceeded)

// attempt makes one breaker-guarded try, starting at now, failing over
// between instances that refuse the connection.
func (s *Service) attempt(ctx context.Context, now, deadline time.Time, c Call, body []byte, out any, attempt int) error {
	// A caller out of time says nothing about the service: it must not
	// spend the breaker's trial call or count as its failure.
	if !now.Before(deadline) {
		return &Error{Service: s.name, Op: c.Op, Kind: KindTimeout, NotSent: true, Err: errOutOfTime}
	}
	// Execute rather than the two-step breaker's Allow, whose done func is
	// an allocation per call.
	_, err := s.breaker.Execute(func() (struct{}, error) {
		return struct{}{}, s.send(ctx, now, deadline, c, body, out, attempt)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return &Error{Service: s.name, Op: c.Op, Kind: KindUnavailable, NotSent: true, Err: fmt.Errorf("circuit breaker: %w", err)}
	}
	return err
}

// send picks an instance (see pick) and moves on to another only while the
// request certainly was not sent: a refused connection. A service whose
// instances are all left out is still tried, because the breaker, not the
// health marks, decides when to fail fast; otherwise one refused dial
// would black out a single-instance service for the whole cooldown.
func (s *Service) send(ctx context.Context, start, deadline time.Time, c Call, body []byte, out any, attempt int) error {
	insts := s.pool.instances()
	now := s.cfg.now()
	var tried uint64
	var err error
	for idx := s.pool.pick(insts, tried, now); idx >= 0; idx = s.pool.pick(insts, tried, now) {
		tried |= 1 << idx
		err = s.roundTrip(ctx, insts[idx], start, deadline, c, body, out, attempt)
		if !refused(err) {
			return err
		}
	}
	return err
}

// Ping reports whether the service answers at all: any HTTP response from one
// instance counts, a 404 included. It bypasses the breaker and the retries,
// for readiness probes.
func (s *Service) Ping(ctx context.Context) error {
	const op = "ping"
	if err := ctx.Err(); err != nil {
		return &Error{Service: s.name, Op: op, Kind: KindTimeout, NotSent: true, Err: err}
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var err error
	for _, inst := range s.pool.instances() {
		if err = inst.ping(ctx, deadline); err == nil {
			return nil
		}
	}
	return transportError(s.name, op, deadline, err)
}
