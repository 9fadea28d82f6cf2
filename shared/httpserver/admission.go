package httpserver

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/admission"
	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/ratelimit"
)

// shedBody is the document of every shed request, the same for all (it
// names no instance), encoded once: under overload a refusal must cost as
// little as can be, since the CPU it takes is taken from the requests
// admitted.
var shedBody = func() []byte {
	b, err := json.Marshal((&problem.Error{Code: problem.CodeOverloaded,
		Detail: "The server is at capacity; nothing was done. Retry after the time in Retry-After."}).Document(""))
	if err != nil {
		panic(err)
	}
	return b
}()

// writeShed answers a shed request: 503 with shedBody and Retry-After. A
// shed is counted where it happens (bff_admission_shed_total); a log line
// for each would add to the very load being shed, so observe writes one a
// second at most (see shedLines).
func writeShed(c *fiber.Ctx, retryAfter time.Duration) error {
	c.Locals(shedKey{}, true)
	setRetryAfter(c, retryAfter)
	c.Set(fiber.HeaderContentType, problem.ContentType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(problem.StatusOf(problem.CodeOverloaded)).Send(shedBody)
}

// shedKey marks, in a request's locals, a request writeShed answered, so
// that observe writes its line only as shedLines allows.
type shedKey struct{}

// shedLines lets one shed request a second have its log line: the first
// of each second, which says how many were shed without a line since the
// line before.
type shedLines struct {
	// next is when the next line may be written, in Unix nanoseconds;
	// unlogged counts the sheds left without a line since the last one.
	next, unlogged atomic.Int64
}

// allow reports whether the shed request answered at now gets a line, and
// if so how many went without one before it.
func (l *shedLines) allow(now time.Time) (unlogged int64, ok bool) {
	t, next := now.UnixNano(), l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(time.Second)) {
		l.unlogged.Add(1)
		return 0, false
	}
	return l.unlogged.Swap(0), true
}

// Classifier says which admission class a request is of.
type Classifier func(c *fiber.Ctx) admission.Class

// ClassOf is the Classifier of a route whose authenticated callers are of
// class cl: a request RequireUser identified the caller of is cl, any other
// is Anonymous. A credential the route does not verify earns nothing, so a
// client cannot claim a higher class by sending a made-up token.
func ClassOf(cl admission.Class) Classifier {
	return func(c *fiber.Ctx) admission.Class {
		if UserID(c) == "" {
			return admission.Anonymous
		}
		return cl
	}
}

// Always is the Classifier of a route whose every caller is of class cl:
// one that checks a credential of its own (a refresh token in the body),
// which its rate limit meters per client address.
func Always(cl admission.Class) Classifier {
	return func(*fiber.Ctx) admission.Class { return cl }
}

// Admit returns middleware that takes each request in under l, in the
// class class gives it, before any handler after it runs, or sheds it at
// once with a 503 overloaded problem and Retry-After: nothing is queued,
// and a shed request holds nothing. An admitted request keeps its place
// until the handlers after it return. Its latency is l's measure of the
// load when it was served (2xx, 3xx) or ran out of time (504); a refusal
// (4xx: invalid, over a quota) or another failure (an upstream refusing)
// is often answered at once, and a flood of them would make the replica
// look idle. Sheds are counted by class.
func (s *Server) Admit(l *admission.Limiter, class Classifier) fiber.Handler {
	return s.admit(l, class, (*fiber.Ctx).Next)
}

// Guard is the middleware each limited route carries (see Limits): Admit's
// admission control first, so that a shed request spends none of its
// caller's quota, then RateLimit's quota.
func (s *Server) Guard(l *admission.Limiter, class Classifier, rl Limiter, p ratelimit.Policy) fiber.Handler {
	return s.GuardFirst(l, class, rl, p, nil)
}

// Retry tells whether a request retries one its caller's quota already
// counted, and will be answered from it (a checkout's Idempotency-Key
// whose record is replayed, or says the key is in use).
type Retry func(c *fiber.Ctx) bool

// KeyedRetry is the Retry of a request whose Idempotency-Key isRetry says
// will be answered from its user's earlier request with it
// (orderflow.Flow.IsRetry). A request without a key, or with a malformed
// one, is no retry, nor is one isRetry cannot tell (its store down).
func KeyedRetry(isRetry func(ctx context.Context, userID, key string) (bool, error)) Retry {
	return func(c *fiber.Ctx) bool {
		key, err := idempotency.ParseLines(HeaderLines(c, HeaderIdempotencyKey))
		if err != nil || key == "" {
			return false
		}
		ok, err := isRetry(c.UserContext(), UserID(c), key)
		return err == nil && ok
	}
}

// GuardFirst is Guard for a route whose retries are answered from what the
// first request did (order creation): a request retry says is a retry
// spends none of its caller's quota and carries no RateLimit fields, so
// that a client retrying, or polling a checkout still running, is locked
// out neither of its outcome nor of its next order. retry nil counts
// every request.
func (s *Server) GuardFirst(l *admission.Limiter, class Classifier, rl Limiter, p ratelimit.Policy, retry Retry) fiber.Handler {
	quota := s.quota(rl, p)
	return s.admit(l, class, func(c *fiber.Ctx) error {
		if retry == nil || !retry(c) {
			if err := quota(c); err != nil {
				return err
			}
		}
		return c.Next()
	})
}

func (s *Server) admit(l *admission.Limiter, class Classifier, next func(*fiber.Ctx) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		cl := class(c)
		ticket, ok := l.Acquire(cl)
		if !ok {
			s.metrics.Shed(cl.String())
			return writeShed(c, l.RetryAfter())
		}
		measured := false
		// Deferred, so that a panic further down frees the place too.
		defer func() {
			if measured {
				ticket.Done()
			} else {
				ticket.Ignore()
			}
		}()
		err := next(c)
		status := answerStatus(c, err)
		measured = status < http.StatusBadRequest || status == http.StatusGatewayTimeout
		return err
	}
}

// answerStatus is the status err will be answered with, or the one already
// set when err is nil.
func answerStatus(c *fiber.Ctx, err error) int {
	if err == nil {
		return c.Response().StatusCode()
	}
	// Declared here, not before the nil check: errors.As moves them to the
	// heap, which the requests without an error must not pay for.
	var p *problem.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
		return p.Status()
	case errors.As(err, &fe):
		return fe.Code
	default:
		return http.StatusInternalServerError
	}
}
