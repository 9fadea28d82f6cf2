package httpserver

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

func itoa(n int) string { return strconv.Itoa(n) }

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
// under a one-second deadline.
func (s *Server) Health(checks ...Check) {
	s.App.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.App.Get("/readyz", func(c *fiber.Ctx) error {
		if s.draining.Load() {
			return &problem.Error{Code: problem.CodeUnavailable, Detail: "The replica is shutting down.", RetryAfter: time.Second}
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), time.Second)
		defer cancel()
		required, degraded := runChecks(ctx, checks)
		if len(required) > 0 {
			s.logger.Warn("not ready", "failing", required, "degraded", degraded)
			return (&problem.Error{Code: problem.CodeUnavailable, Detail: "A dependency is not ready.", RetryAfter: time.Second}).With("failing", required)
		}
		return c.JSON(fiber.Map{"status": "ready", "degraded": degraded})
	})
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
