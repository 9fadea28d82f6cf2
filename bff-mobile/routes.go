package main

import (
	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver"
)

// routes lists every endpoint of bff-mobile.
func routes(g *gateway.Gateway) {
	app := g.Server.App
	authed := httpserver.RequireUser(g.Verifier, "")

	app.Post("/v1/auth/token", handleToken(g.Users))

	app.Post("/v1/orders", authed, httpserver.PlaceOrder(g.Flow, g.Idempotency, true, placedOrderView))
	app.Get("/v1/orders", authed, handleListOrders(g.Orders))
	app.Get("/v1/orders/:id", authed, handleGetOrder(g.Orders))
}
