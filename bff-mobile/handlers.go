package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/user"
)

// tokenIssuer is the part of the user client the login route uses.
type tokenIssuer interface {
	Token(ctx context.Context, email, password string) (user.Token, error)
}

// handleToken exchanges an email and password for a bearer token.
func handleToken(users tokenIssuer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		creds, err := httpserver.DecodeCredentials(c.Body())
		if err != nil {
			return err
		}
		tok, err := users.Token(c.UserContext(), creds.Email, creds.Password)
		if err != nil {
			return httpserver.FromLogin(err)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(tokenView{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresIn: tok.ExpiresIn})
	}
}

// orderReader is the part of the order client the read routes use.
type orderReader interface {
	Get(ctx context.Context, id string) (order.Order, error)
	List(ctx context.Context, userID, cursor string, limit int) (order.Page, error)
}

// handleGetOrder shows one of the user's orders; another user's order is a
// 404, exactly like a missing one, so ids cannot be probed.
func handleGetOrder(orders orderReader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PathID(c, "id")
		if err != nil {
			return err
		}
		o, err := orders.Get(c.UserContext(), id)
		if err != nil {
			return httpserver.FromUpstream(err, "Order")
		}
		if o.UserID != httpserver.UserID(c) {
			return problem.New(problem.CodeNotFound, "Order not found.")
		}
		return c.JSON(newOrderView(o))
	}
}

// handleListOrders pages through the user's orders, newest first.
func handleListOrders(orders orderReader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		page, err := orders.List(c.UserContext(), httpserver.UserID(c), pg.Cursor, pg.Limit)
		if err != nil {
			return httpserver.FromUpstream(err, "Orders")
		}
		out := orderListView{Items: make([]orderView, 0, len(page.Items)), NextCursor: page.NextCursor}
		for _, o := range page.Items {
			out.Items = append(out.Items, newOrderView(o))
		}
		return c.JSON(out)
	}
}
