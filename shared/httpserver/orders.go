package httpserver

import (
	"bytes"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/problem"
)

// HeaderIdempotencyKey is the draft-ietf-httpapi-idempotency-key-header field.
const HeaderIdempotencyKey = "Idempotency-Key"

// KeyPolicy says whether an order request must carry an Idempotency-Key.
type KeyPolicy int

const (
	// KeyOptional lets a request go without a key; the flow generates one.
	KeyOptional KeyPolicy = iota
	// KeyRequired refuses a request without a key with 400.
	KeyRequired
)

// PlaceOrder is the one handler both BFFs mount for order creation; they
// differ only in their key policy and in the view of the placed order (view
// returns the 201 body and the order's location). A retry of a key gets the
// first outcome with Idempotent-Replayed: true.
func PlaceOrder(flow *orderflow.Flow, keys KeyPolicy, view func(orderflow.Result) (body any, location string)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var key string
		if raw := c.Get(HeaderIdempotencyKey); raw != "" {
			k, err := idempotency.ParseKey(raw)
			if err != nil {
				return err
			}
			key = k
		} else if keys == KeyRequired {
			return problem.New(problem.CodeIdempotencyMissing, "Send an Idempotency-Key header with a unique value per order.")
		}
		// Cloned: the decoded strings must not alias fasthttp's buffer, which
		// is reused once the handler returns.
		in, err := orderflow.DecodeInput(bytes.Clone(c.Body()))
		if err != nil {
			return err
		}
		res, err := flow.Place(c.UserContext(), orderflow.Request{UserID: UserID(c), Key: key, Input: in})
		if res.Replayed {
			c.Set("Idempotent-Replayed", "true")
		}
		if err != nil {
			return err
		}
		v, loc := view(res)
		b, err := json.Marshal(v)
		if err != nil {
			// The order exists: its id is the least to show.
			b, _ = json.Marshal(map[string]string{"id": res.Order.ID})
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		if loc != "" {
			c.Set(fiber.HeaderLocation, loc)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(fiber.StatusCreated).Send(b)
	}
}
