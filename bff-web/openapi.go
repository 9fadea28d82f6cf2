package main

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument is the published contract of bff-web, kept beside the
// code it describes; the end-to-end tests check every answer they receive
// against it, so it cannot drift from what the server does.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves the contract to frontend developers and their tools.
// It changes only with a deploy, so clients may keep it for a few minutes.
func handleOpenAPI(doc []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(doc)
	}
}
