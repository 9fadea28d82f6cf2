package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/cursor"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/user"
)

// handleToken exchanges an email and password for a bearer token.
func handleToken(users auth.TokenIssuer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok, err := auth.Login(c.UserContext(), users, c.Body())
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		return writeTokens(c, tok)
	}
}

// handleRefresh exchanges a refresh token for a new pair; the old one is
// used up, and presenting it again revokes the newer one too.
func handleRefresh(users auth.Refresher) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok, err := auth.Refresh(c.UserContext(), users, c.Body(), httpserver.HeaderLines(c, httpserver.HeaderIdempotencyKey))
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		return writeTokens(c, tok)
	}
}

// handleLogout revokes a refresh token and every token refreshed from it.
func handleLogout(users auth.Refresher) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := auth.Logout(c.UserContext(), users, c.Body()); err != nil {
			return httpserver.UpstreamFailure(err)
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func writeTokens(c *fiber.Ctx, tok user.Token) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenView{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType, ExpiresIn: tok.ExpiresIn})
}

// orderPlacer runs the checkout.
type orderPlacer interface {
	PlaceReceived(ctx context.Context, r orderflow.Received, keys orderflow.KeyPolicy) (orderflow.Result, error)
}

// handlePlaceOrder places the caller's order. A phone must send an
// Idempotency-Key, so that a retry over a flaky network never orders twice:
// a repeated key gets the first outcome, marked Idempotent-Replayed. The 201
// body is the order as the phone lists it.
func handlePlaceOrder(flow orderPlacer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		received := orderflow.Received{UserID: httpserver.UserID(c), IdempotencyKeys: httpserver.HeaderLines(c, httpserver.HeaderIdempotencyKey), Body: c.Body()}
		res, err := flow.PlaceReceived(c.UserContext(), received, orderflow.KeyRequired)
		if res.Replayed {
			httpserver.MarkReplayed(c)
		}
		if err == nil {
			err = httpserver.Created(c, res.Order.ID, "/v1/orders/"+res.Order.ID, newOrderView(res.Order))
		}
		return err
	}
}

// orderReader is the part of the order client the read routes use.
type orderReader interface {
	Get(ctx context.Context, id string) (order.Order, error)
	List(ctx context.Context, userID, cursor string, limit int) (order.Page, error)
}

// handleGetOrder shows one of the user's orders; another user's order is a
// 404, exactly like a missing one, so ids cannot be probed, and so is one
// its checkout cancelled before placing it (see orderflow.CheckPlaced).
func handleGetOrder(orders orderReader) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := httpserver.PathID(c, "id")
		if err != nil {
			return err
		}
		o, err := orders.Get(c.UserContext(), id)
		if err == nil {
			err = httpserver.CheckAnswered("order", "get", id, o.ID)
		}
		if err == nil {
			err = orderflow.CheckPlaced(o, httpserver.UserID(c))
		}
		if err != nil {
			return httpserver.FromUpstream(err, "Order")
		}
		return c.JSON(newOrderDetailView(o))
	}
}

// handleListOrders pages through the orders the user placed, newest first
// (orderflow.History). Its cursors are the BFF's own, sealed for the user:
// a forged or another user's one is a 400 before any upstream call.
func handleListOrders(orders orderReader, cursors *cursor.Signer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pg, err := httpserver.ParsePage(c)
		if err != nil {
			return err
		}
		uid := httpserver.UserID(c)
		next, err := cursors.Open(cursor.Orders(uid), pg.Cursor)
		if err != nil {
			return err
		}
		page, foreign, err := orderflow.History(c.UserContext(), orders, uid, next, pg.Limit)
		httpserver.NoteForeign(c.UserContext(), "order", foreign)
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		sealed, err := cursors.SealNext(cursor.Orders(uid), page.NextCursor)
		if err != nil {
			// A cursor too long to seal is an answer the BFF cannot
			// carry: the order service failing (logged with its cause),
			// not the last page.
			return httpserver.UpstreamFailure(&upstream.Error{Service: "order", Op: "list", Kind: upstream.KindUnknown, Err: err})
		}
		out := orderListView{Items: make([]orderView, 0, len(page.Items)), NextCursor: sealed}
		for _, o := range page.Items {
			out.Items = append(out.Items, newOrderView(o))
		}
		return c.JSON(out)
	}
}
