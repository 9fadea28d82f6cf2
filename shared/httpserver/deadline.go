package httpserver

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ReadDeadline gives every GET one deadline for all its upstream calls,
// those of a screen's aggregate.Fanout included, so that a slow upstream
// turns into a 504 instead of holding the connection. Writes keep their own
// deadline (the order flow's).
func ReadDeadline(d time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
			return c.Next()
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), d)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}
