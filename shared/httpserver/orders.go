package httpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"

	json "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/problem"
)

// HeaderIdempotencyKey is the draft-ietf-httpapi-idempotency-key-header field.
const HeaderIdempotencyKey = "Idempotency-Key"

// PlaceOrder is the one handler both BFFs mount for order creation; they
// differ only in whether the Idempotency-Key is required and in the view of
// the placed order (view returns the 201 body and the order's location).
func PlaceOrder(flow *orderflow.Flow, idem *idempotency.Manager, requireKey bool, view func(orderflow.Result) (body any, location string)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		userID := UserID(c)
		var key string
		if raw := c.Get(HeaderIdempotencyKey); raw != "" {
			k, err := idempotency.ParseKey(raw)
			if err != nil {
				return err
			}
			key = k
		} else if requireKey {
			return problem.New(problem.CodeIdempotencyMissing, "Send an Idempotency-Key header with a unique value per order.")
		}
		body := bytes.Clone(c.Body())
		in, err := orderflow.DecodeInput(body)
		if err != nil {
			return err
		}
		path := c.Path()
		place := func(ctx context.Context) (idempotency.Response, *problem.Error) {
			ref := idempotency.Reference(ctx)
			if ref == "" {
				ref = newReference()
			}
			res, err := flow.Place(ctx, userID, "chk_"+ref, in)
			if err != nil {
				p := problem.From(err)
				b, _ := json.Marshal(p.Document(path))
				return idempotency.Response{Status: p.Status(), ContentType: problem.ContentType, Body: b}, p
			}
			v, loc := view(res)
			b, err := json.Marshal(v)
			if err != nil {
				// The order exists: answering 5xx would free the key and let
				// a retry place a second one. Its id is the least to show.
				b, _ = json.Marshal(map[string]string{"id": res.Order.ID})
			}
			return idempotency.Response{Status: fiber.StatusCreated, ContentType: fiber.MIMEApplicationJSON, Location: loc, Body: b}, nil
		}
		if key == "" {
			resp, perr := place(c.UserContext())
			if perr != nil {
				return perr
			}
			return writeResponse(c, resp)
		}
		var perr *problem.Error
		resp, replayed, err := idem.Do(c.UserContext(), userID, key, body, func(ctx context.Context) idempotency.Response {
			var resp idempotency.Response
			resp, perr = place(ctx)
			return resp
		})
		if err != nil {
			return err
		}
		if replayed {
			c.Set("Idempotent-Replayed", "true")
		} else if perr != nil {
			// Written from the error, not the stored copy, so that headers
			// such as Retry-After go out and a 5xx is logged once.
			return perr
		}
		return writeResponse(c, resp)
	}
}

func writeResponse(c *fiber.Ctx, r idempotency.Response) error {
	c.Set(fiber.HeaderContentType, r.ContentType)
	if r.Location != "" {
		c.Set(fiber.HeaderLocation, r.Location)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(r.Status).Send(r.Body)
}

// newReference names one order attempt; the saga derives the upstream
// references from it.
func newReference() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
