package main

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// viewDeadline gives a screen read one deadline for all its upstream calls,
// so that concurrent parts end together and a slow one turns into a 504 (or
// a degraded part) instead of holding the connection.
func viewDeadline(d time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), d)
		defer cancel()
		c.SetUserContext(ctx)
		return c.Next()
	}
}
