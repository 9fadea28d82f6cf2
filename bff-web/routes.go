package main

import (
	"slices"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver"
)

// routes lists every endpoint of bff-web.
func routes(g *gateway.Gateway, cfg Config) {
	app := g.Server.App
	api := app.Group("/api", corsPolicy(cfg.AllowedOrigins))
	authed := httpserver.RequireUser(g.Verifier, cfg.Session.CookieName)
	csrf := csrfProtect(cfg.Session, cfg.AllowedOrigins)
	// Rate limits come after authentication, so that they count per user;
	// anonymous routes count per client address.
	limit := g.Limits

	sameOrigin := originGuard(cfg.AllowedOrigins)
	api.Post("/session", sameOrigin, limit.Login, handleLogin(g.Users, g.Verifier, cfg.Session))
	api.Delete("/session", sameOrigin, handleLogout(cfg.Session))

	// Every screen read has one deadline for all its upstream calls.
	view := httpserver.ReadDeadline(cfg.ViewTimeout)

	api.Post("/orders", csrf, authed, limit.Orders, httpserver.PlaceOrder(g.Flow, httpserver.KeyOptional, placedOrderView))
	api.Get("/orders", authed, limit.Default, view, handleListOrders(g.Orders, g.Catalog, g.Metrics))
	api.Get("/orders/:id", authed, limit.Default, view, handleGetOrder(g.Orders, g.Catalog, g.Payments, g.Metrics))

	api.Get("/me", authed, limit.Default, view, handleMe(g.Users, g.Orders, g.Catalog, g.Metrics))
	api.Get("/products", limit.Default, view, handleListProducts(g.Catalog))
	api.Get("/products/:id", limit.Default, view, handleGetProduct(g.Catalog, g.Metrics))

	app.Get("/openapi.json", handleOpenAPI(openAPIDocument))
}

// corsPolicy lets the SPA's origins call the API with credentials, with the
// methods and headers the API uses. Any other origin gets nothing, not even
// the list of methods and headers: its preflight finds no route (405), and
// with no origin configured no origin gets a grant (Fiber's default would be
// "*"). Every answer varies by Origin, so a cache never hands one origin's
// grant to another.
func corsPolicy(allowed []string) fiber.Handler {
	grant := cors.New(cors.Config{
		AllowOriginsFunc: func(origin string) bool { return slices.Contains(allowed, origin) },
		AllowCredentials: true,
		AllowMethods:     "GET,POST,DELETE",
		AllowHeaders:     "Content-Type,Authorization,Idempotency-Key,X-CSRF-Token,X-Request-ID",
		ExposeHeaders:    "Location,Retry-After,Idempotent-Replayed,X-Request-ID,RateLimit,RateLimit-Policy",
		MaxAge:           600,
	})
	return func(c *fiber.Ctx) error {
		c.Vary(fiber.HeaderOrigin)
		if origin := c.Get(fiber.HeaderOrigin); origin == "" || !slices.Contains(allowed, origin) {
			return c.Next()
		}
		return grant(c)
	}
}
