package httpserver

import "github.com/gofiber/fiber/v2"

// OpenAPI serves doc, a BFF's published contract, to frontend developers
// and their tools. It changes only with a deploy, so clients may keep it for
// a few minutes.
func OpenAPI(doc []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(doc)
	}
}
