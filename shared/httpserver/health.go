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

// Check is one readiness probe: nil when the dependency answers.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health registers GET /healthz (the process is alive) and GET /readyz (every
// check passes, run concurrently under a one-second deadline).
func (s *Server) Health(checks ...Check) {
	s.App.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	s.App.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), time.Second)
		defer cancel()
		failed := runChecks(ctx, checks)
		if len(failed) > 0 {
			s.logger.Warn("not ready", "failing", failed)
			return (&problem.Error{Code: problem.CodeUnavailable, Detail: "A dependency is not ready.", RetryAfter: time.Second}).With("failing", failed)
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
}

func runChecks(ctx context.Context, checks []Check) []string {
	var (
		mu     sync.Mutex
		failed = []string{}
		wg     sync.WaitGroup
	)
	for _, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ch.Fn(ctx); err != nil {
				mu.Lock()
				failed = append(failed, ch.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(failed)
	return failed
}
