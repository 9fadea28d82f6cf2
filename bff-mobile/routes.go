package main

import (
	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver"
)

// routes lists every endpoint of bff-mobile. Rate limits come after
// authentication, so that they count per user; anonymous requests count
// per client address, and so does a refused token (limit.Refused).
func routes(g *gateway.Gateway, cfg Config) {
	app := g.Server.App
	limit := g.Limits
	authed := httpserver.RequireUser(g.Verifier, limit.Refused)
	// The catalog is public; a signed-in phone's reads count as its user's.
	anyone := httpserver.OptionalUser(g.Verifier)
	// Every /v1 answer is compressed when the phone accepts it; every GET
	// answer carries a strong ETag and honours If-None-Match, under one
	// deadline for its upstream calls.
	httpserver.Cacheable(app, "/v1")
	app.Use("/v1", httpserver.ReadDeadline(cfg.ViewTimeout))

	// Every body is JSON, declared so: one reading of what a body is.
	jsonBody := httpserver.JSONBodies
	app.Post("/v1/auth/token", jsonBody, limit.Login, handleToken(g.Users))
	app.Post("/v1/auth/refresh", jsonBody, limit.Tokens, handleRefresh(g.Users))
	app.Post("/v1/auth/logout", jsonBody, limit.Tokens, handleLogout(g.Users))

	app.Post("/v1/orders", authed, jsonBody, limit.Orders, handlePlaceOrder(g.Flow))
	app.Get("/v1/orders", authed, limit.Default, handleListOrders(g.Orders, g.Cursors))
	app.Get("/v1/orders/:id", authed, limit.Default, handleGetOrder(g.Orders))

	app.Get("/v1/products", limit.Public, anyone, limit.Catalog, handleListProducts(g.Catalog))
	app.Get("/v1/products/:id", limit.Public, anyone, limit.Catalog, handleGetProduct(g.Catalog))

	app.Get("/openapi.json", httpserver.OpenAPI(openAPIDocument))
}
