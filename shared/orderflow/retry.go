package orderflow

import (
	"context"
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

func progressOf(d doubt, err error) progress {
	switch {
	case err == nil:
		return done
	case d != noDoubt:
		return unknown
	}
	return notDone
}

// doubt is whether a step that failed may nevertheless have taken effect.
type doubt int

const (
	// noDoubt: refused, or never sent.
	noDoubt doubt = iota
	// answered: the service answered (a 5xx of its own), so whatever it
	// did is done by now.
	answered
	// unanswered: no answer came (see upstream.Error.Unanswered), so the
	// request may still be applied after the step gave up on it.
	unanswered
)

// doubtOf is the doubt a failed attempt's err leaves.
func doubtOf(err error) doubt {
	ue, ok := upstream.As(err)
	switch {
	case !ok:
		// No promise either way: the worst case.
		return unanswered
	case ue.Unanswered():
		return unanswered
	case ue.Ambiguous():
		return answered
	}
	return noDoubt
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
// still to run under ctx's deadline, with the flow's step policy: until it
// gives a definitive answer, the attempts run out, or the deadline leaves
// no room for another attempt. Each attempt gets a share of what remains
// (see shareOf), so a slow service cannot eat the time of the steps after
// it. It reports whether the step may have taken effect although it
// returned an error: the worst doubt any attempt left.
func (f *Flow) step(ctx context.Context, stepsLeft int, call func(context.Context) error) (d doubt, err error) {
	err = upstream.Retry(ctx, f.cfg.stepPolicy(), func(ctx context.Context, _ int) error {
		actx, cancel := shareOf(ctx, stepsLeft)
		defer cancel()
		err := call(actx)
		if err != nil {
			d = max(d, doubtOf(err))
		}
		return err
	})
	if err == nil {
		return noDoubt, nil
	}
	if retry, _ := classify(err); !retry {
		// A definitive answer to a call keyed by the same reference is the
		// outcome of every earlier attempt too.
		return noDoubt, err
	}
	return d, err
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
	per := f.cfg.undoAttempt()
	p := f.cfg.stepPolicy()
	p.Attempts = 0 // an undo goes on until its budget ends
	return upstream.Retry(ctx, p, func(ctx context.Context, _ int) error {
		actx, cancel := context.WithTimeout(ctx, per)
		defer cancel()
		return call(actx)
	})
}

// undoAttempt bounds one attempt of an undo or a read-back: a quarter of
// the budget, so that a hung connection leaves room for a few more tries.
func (c *config) undoAttempt() time.Duration { return c.CompensationBudget / 4 }

// stepPolicy is how the flow retries its writes: any failure that may be
// transient or ambiguous, since every write is idempotent upstream (a
// reference, or a state transition that holds when repeated). The flow's
// writes are never budgeted: an undo must not be refused for want of one.
func (c *config) stepPolicy() upstream.RetryPolicy {
	return upstream.RetryPolicy{
		Backoff:   c.backoff,
		Attempts:  c.maxAttempts,
		Retryable: func(err error) bool { retry, _ := classify(err); return retry },
	}
}
