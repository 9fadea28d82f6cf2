package httpserver

import (
	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
)

// The fields of draft-ietf-httpapi-idempotency-key-header.
const (
	// HeaderIdempotencyKey carries the client's key on a write.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed marks an answer that repeats the first
	// outcome of its key rather than the outcome of this request.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// MarkReplayed sets Idempotent-Replayed: true on the answer, success or
// problem, to a write whose key was seen before.
func MarkReplayed(c *fiber.Ctx) {
	c.Set(HeaderIdempotentReplayed, "true")
}

// Created answers 201 with body as JSON, the new resource's location, and
// Cache-Control: no-store. The resource exists whatever happens here: should
// body fail to encode, the answer is {"id": id}, the least a client needs to
// find it again.
func Created(c *fiber.Ctx, id, location string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"id": id})
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if location != "" {
		c.Set(fiber.HeaderLocation, location)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).Send(b)
}
