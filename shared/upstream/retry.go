package upstream

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff is exponential backoff with full jitter: the pause before retry n
// is drawn uniformly below min(Base·2^(n-1), Max), so that callers failing
// together do not retry together.
type Backoff struct {
	// Base is the first retry's ceiling.
	Base time.Duration
	// Max caps every ceiling.
	Max time.Duration
}

// Pause returns the wait before retry n (n >= 1).
func (b Backoff) Pause(n int) time.Duration {
	ceiling := b.Max
	if n-1 < 30 {
		if c := b.Base << (n - 1); c > 0 && c < ceiling {
			ceiling = c
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// RetryPolicy says when a failed call is tried again. It is the one retry
// mechanism of the client layer and of the order flow, which retries its
// steps and compensations with policies of its own.
type RetryPolicy struct {
	Backoff
	// Attempts bounds the tries, the first included; 0 leaves only the
	// context's end.
	Attempts int
	// Retryable reports whether a try that failed with err may be made
	// again: the call is idempotent and the failure transient.
	Retryable func(err error) bool
	// Budget, when set, must grant every retry, so that a service in
	// trouble is not sent a multiple of its usual load. Nil: no budget.
	Budget *RetryBudget
}

// Retry calls try (attempt counts from 0) until it succeeds, fails in a way
// p.Retryable refuses, the attempts or the budget run out, or ctx ends. A
// retry whose pause would leave less than p.Base before ctx's deadline is
// not made: it would only turn a clear failure into a timeout. It returns
// the last try's error.
func Retry(ctx context.Context, p RetryPolicy, try func(ctx context.Context, attempt int) error) error {
	deadline, _ := ctx.Deadline()
	return retryUntil(ctx, deadline, p, try)
}

// retryUntil is Retry under ctx and, unless it is zero, deadline, which is
// sooner than ctx's own: a call under its cap needs no context of its own
// (and its timer) to be bounded.
func retryUntil(ctx context.Context, deadline time.Time, p RetryPolicy, try func(ctx context.Context, attempt int) error) error {
	for attempt := 0; ; attempt++ {
		err := try(ctx, attempt)
		if err == nil || !p.Retryable(err) || ctx.Err() != nil ||
			(p.Attempts > 0 && attempt+1 >= p.Attempts) {
			return err
		}
		pause := p.Pause(attempt + 1)
		if left := time.Until(deadline); !deadline.IsZero() && (left <= 0 || left < pause+p.Base) {
			return err
		}
		if !p.Budget.withdraw() || !Sleep(ctx, pause) {
			return err
		}
	}
}

// Sleep waits d, or less if ctx ends first; it reports whether ctx is still
// live afterwards.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// RetryBudget caps retries at a share of the calls made, plus a small
// floor, as Finagle's and gRPC's retry budgets do: every call deposits
// ratio of a token, the floor adds perSecond tokens a second, every retry
// withdraws one, and the balance is capped at ten seconds of floor, so a
// long quiet spell does not bank a retry storm. It is safe for concurrent
// use; a nil *RetryBudget grants everything.
type RetryBudget struct {
	mu      sync.Mutex
	ratio   float64
	floor   float64 // tokens granted per second whatever the traffic
	max     float64
	tokens  float64
	updated time.Time
	now     func() time.Time
}

// NewRetryBudget returns a budget letting retries be ratio of the calls,
// plus perSecond retries a second when calls are few.
func NewRetryBudget(ratio float64, perSecond int, now func() time.Time) *RetryBudget {
	floor := float64(perSecond)
	return &RetryBudget{ratio: ratio, floor: floor, max: max(floor, 1) * 10, tokens: floor, updated: now(), now: now}
}

// deposit records one call. It leaves the floor's tokens to the next
// withdraw, which adds them for all the time since the last one: a call
// does not read the clock.
func (b *RetryBudget) deposit() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, b.max)
	b.mu.Unlock()
}

// withdraw takes one retry from the budget; false means none is left.
func (b *RetryBudget) withdraw() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refill adds the floor's tokens for the time since the last update. Called
// with b.mu held.
func (b *RetryBudget) refill() {
	now := b.now()
	if d := now.Sub(b.updated); d > 0 {
		b.tokens = min(b.tokens+b.floor*d.Seconds(), b.max)
		b.updated = now
	}
}
