package httpserver

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"storefront.dev/shared/problem"
)

// Check is one dependency /readyz looks at: Fn returns nil when it
// answers.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Required marks what this replica cannot serve without, and other
	// replicas may have (the token keys it loaded): its failure makes the
	// replica unready. Any other failure (an upstream, the shared Redis,
	// which every replica shares) is reported as degraded: taking every
	// replica out of the load balancer would turn a partial outage into a
	// total one.
	Required bool
}

// Health registers GET /healthz (the process is alive; it looks at
// nothing else) and GET /readyz: 200 while this replica can take traffic,
// with the dependencies that fail listed as degraded; 503 once it is
// shutting down or when a Required check fails. Checks run concurrently
// under ReadinessTimeout, once for every caller at the same moment,
// and their outcome answers the callers of the next second (a tenth of it
// when a check failed): /readyz is public, and each check calls a
// dependency. The admin listener answers /readyz the same (see Admin).
func (s *Server) Health(checks ...Check) {
	s.App.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.ready.Store(&readiness{checks: checks})
	s.App.Get("/readyz", func(c *fiber.Ctx) error {
		degraded, p := s.readiness(c.UserContext())
		if p != nil {
			return p
		}
		return c.JSON(readyBody{Status: "ready", Degraded: degraded})
	})
}

// readyBody is the 200 answer of /readyz.
type readyBody struct {
	Status   string   `json:"status"`
	Degraded []string `json:"degraded"`
}

// readiness is /readyz's verdict: the dependencies that fail but leave the
// replica ready, or the 503 problem of a replica shutting down or missing
// a Required check. A failing check is logged with ctx, the request's.
func (s *Server) readiness(ctx context.Context) (degraded []string, notReady *problem.Error) {
	if s.draining.Load() {
		return nil, &problem.Error{Code: problem.CodeUnavailable, Detail: "The replica is shutting down.", RetryAfter: time.Second}
	}
	ready := s.ready.Load()
	if ready == nil {
		return []string{}, nil
	}
	required, degraded := ready.check()
	if len(required) > 0 {
		s.logger.WarnContext(ctx, "not ready", "failing", required, "degraded", degraded)
		return nil, (&problem.Error{Code: problem.CodeUnavailable, Detail: "A dependency is not ready.", RetryAfter: time.Second}).With("failing", required)
	}
	return degraded, nil
}

// ReadinessTimeout bounds /readyz's checks: a probe must wait longer for
// its answer, or a dependency that hangs fails the probe of every replica.
const ReadinessTimeout = time.Second

// How long a readiness outcome answers /readyz: a failed one is asked
// again sooner, so that a replica becomes ready soon after its
// dependencies do.
const (
	readyFor    = time.Second
	notReadyFor = readyFor / 10
)

// readiness runs the checks for every /readyz at the same moment at once,
// and keeps their outcome a while.
type readiness struct {
	checks []Check
	flight singleflight.Group

	mu                 sync.Mutex
	until              time.Time // when the outcome below stops answering
	required, degraded []string
}

// check returns the names of the failing checks, required and not, from
// the last outcome while it holds, else from checks run now.
func (r *readiness) check() (required, degraded []string) {
	r.mu.Lock()
	if time.Now().Before(r.until) {
		defer r.mu.Unlock()
		return r.required, r.degraded
	}
	r.mu.Unlock()
	_, _, _ = r.flight.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), ReadinessTimeout)
		defer cancel()
		required, degraded := runChecks(ctx, r.checks)
		hold := readyFor
		if len(required)+len(degraded) > 0 {
			hold = notReadyFor
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.required, r.degraded, r.until = required, degraded, time.Now().Add(hold)
		return nil, nil
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.required, r.degraded
}

// runChecks returns the names of the required checks and of the others
// that failed, each sorted.
func runChecks(ctx context.Context, checks []Check) (required, degraded []string) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	required, degraded = []string{}, []string{}
	for _, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ch.Fn(ctx); err != nil {
				mu.Lock()
				if ch.Required {
					required = append(required, ch.Name)
				} else {
					degraded = append(degraded, ch.Name)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(required)
	sort.Strings(degraded)
	return required, degraded
}
