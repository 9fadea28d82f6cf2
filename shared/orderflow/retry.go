package orderflow

import (
	"context"
	"math/rand/v2"
	"time"

	"storefront.dev/shared/upstream"
)

// progress is what is known about one forward step.
type progress int

const (
	// notDone: never tried, or definitively refused, so nothing to undo.
	notDone progress = iota
	// done: the service confirmed it.
	done
	// unknown: it may have happened; read it back before undoing it.
	unknown
)

func progressOf(ambiguous bool, err error) progress {
	switch {
	case err == nil:
		return done
	case ambiguous:
		return unknown
	}
	return notDone
}

// classify says whether the same call may be tried again (retry) and whether
// the failed attempt may nevertheless have taken effect (ambiguous). An error
// that is not an *upstream.Error carries no such promise, so it is treated as
// the worst case: ambiguous and retryable. Retrying is safe because every
// write the flow makes is idempotent upstream (a reference, or a state
// transition that holds when repeated).
func classify(err error) (retry, ambiguous bool) {
	ue, ok := upstream.As(err)
	if !ok {
		return true, true
	}
	return ue.Transient() || ue.Ambiguous(), ue.Ambiguous()
}

// isCode reports whether err is a definitive upstream answer of kind k with
// the given upstream code ("" matches any code).
func isCode(err error, k upstream.Kind, code string) bool {
	ue, ok := upstream.As(err)
	return ok && ue.Kind == k && (code == "" || ue.Code == code)
}

// step tries call, a forward step with stepsLeft steps (this one included)
// still to run under ctx's deadline, until it gives a definitive answer, the
// attempts run out, or the deadline leaves no room for another attempt. Each
// attempt gets a share of what remains (see shareOf), so a slow service
// cannot eat the time of the steps after it. It reports whether the step may
// have taken effect although it returned an error.
func (f *Flow) step(ctx context.Context, stepsLeft int, call func(context.Context) error) (ambiguous bool, err error) {
	for attempt := 0; attempt < f.cfg.maxAttempts; attempt++ {
		if attempt > 0 {
			pause := f.cfg.pause(attempt)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= pause {
				break
			}
			if !sleep(ctx, pause) {
				break
			}
		}
		actx, cancel := shareOf(ctx, stepsLeft)
		err = call(actx)
		cancel()
		if err == nil {
			return false, nil
		}
		retry, amb := classify(err)
		if !retry {
			// A definitive answer to a call keyed by the same reference is the
			// outcome of every earlier attempt too.
			return false, err
		}
		ambiguous = ambiguous || amb
		if ctx.Err() != nil {
			break
		}
	}
	return ambiguous, err
}

// shareOf derives the context of one attempt: remaining/(stepsLeft+1) of
// ctx's remaining time. The extra share keeps room for one retry even on the
// last step, so that a single slow answer there does not end the flow.
func shareOf(ctx context.Context, stepsLeft int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/time.Duration(max(stepsLeft, 1)+1))
}

// settle tries a compensation until it gives a definitive answer or ctx, its
// budget, ends. It returns nil on success and otherwise the last error, which
// the caller inspects: some definitive answers mean the work is already done.
func (f *Flow) settle(ctx context.Context, call func(context.Context) error) error {
	// One attempt may use a quarter of the budget, so a hung connection
	// leaves room for a few more tries.
	per := f.cfg.compensationBudget / 4
	var err error
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !sleep(ctx, f.cfg.pause(attempt)) {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, per)
		err = call(actx)
		cancel()
		if err == nil {
			return nil
		}
		if retry, _ := classify(err); !retry || ctx.Err() != nil {
			return err
		}
	}
}

// pause is the full-jitter backoff before retry number n (n >= 1).
func (c *config) pause(n int) time.Duration {
	ceiling := c.maxBackoff
	if n-1 < 30 {
		if b := c.backoff << (n - 1); b > 0 && b < ceiling {
			ceiling = b
		}
	}
	return c.jitter(ceiling)
}

func randomJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is still
// live afterwards.
func sleep(ctx context.Context, d time.Duration) bool {
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
