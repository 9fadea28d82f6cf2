package main

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"

	"storefront.dev/shared/aggregate"
	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver"
	serversession "storefront.dev/shared/session"
)

// routes lists every endpoint of bff-web.
func routes(g *gateway.Gateway, cfg Config) {
	app := g.Server.App
	api := app.Group("/api", corsPolicy(cfg.AllowedOrigins))
	g.Server.RefusalHeaders(corsGrant(cfg.AllowedOrigins))
	// Every GET answer carries a strong ETag and honours If-None-Match,
	// under one deadline for its upstream calls.
	httpserver.Cacheable(app, "/api")
	app.Use("/api", httpserver.ReadDeadline(cfg.ViewTimeout))
	sessions := serversession.New(g.Sessions, tokensByTheirExpiry{g.Users, g.Verifier, cfg.Auth.Leeway}, cfg.Session.Lifetime)
	// Rate limits come after authentication, so that they count per user;
	// anonymous routes count per client address, and so does a refused
	// credential (limit.Refused).
	limit := g.Limits
	authed := requireUser(g.Verifier, sessions, cfg.Session, limit.Refused)
	// The catalog is public; a signed-in browser's reads count as its
	// user's.
	anyone := optionalUser(g.Verifier, sessions, cfg.Session)
	trusted := newOrigins(cfg)
	csrf := csrfProtect(trusted)

	sameOrigin := originGuard(trusted)
	api.Post("/session", sameOrigin, httpserver.JSONBodies, limit.Login, handleLogin(g.Users, g.Verifier, sessions, cfg.Session))
	api.Delete("/session", sameOrigin, limit.Tokens, handleLogout(sessions, cfg.Session))

	// Every screen is one fan-out of its upstream reads; the optional parts
	// it leaves out are counted in bff_degraded_parts_total.
	screens := aggregate.New(g.Metrics)

	api.Post("/orders", authed, csrf, httpserver.JSONBodies, limit.Orders, handlePlaceOrder(g.Flow))
	api.Get("/orders", authed, limit.Default, handleListOrders(g.Orders, g.Catalog, g.Cursors, screens))
	api.Get("/orders/:id", authed, limit.Default, handleGetOrder(g.Orders, g.Catalog, g.Payments, screens))

	api.Get("/me", authed, limit.Default, handleMe(g.Users, g.Orders, g.Catalog, screens))
	api.Get("/products", limit.Public, anyone, limit.Catalog, handleListProducts(g.Catalog, screens))
	api.Get("/products/:id", limit.Public, anyone, limit.Catalog, handleGetProduct(g.Catalog, screens))

	app.Get("/openapi.json", httpserver.OpenAPI(openAPIDocument))
}

// corsPolicy lets the SPA's origins call the API with credentials, with the
// methods and headers the API uses. Any other origin gets nothing, not even
// the list of methods and headers: its preflight finds no route (405), and
// with no origin configured no origin gets a grant (Fiber's default would be
// "*"). Every answer varies by Origin, so a cache never hands one origin's
// grant to another. If-None-Match and ETag are granted so that the SPA can
// revalidate its reads (a 304 when nothing changed), as the document offers:
// a browser sends the one and shows the other cross-origin only when told.
func corsPolicy(allowed []string) fiber.Handler {
	grant := cors.New(cors.Config{
		AllowOriginsFunc: func(origin string) bool { return slices.Contains(allowed, origin) },
		AllowCredentials: true,
		AllowMethods:     "GET,POST,DELETE",
		AllowHeaders:     "Content-Type,Authorization,Idempotency-Key,X-CSRF-Token,X-Request-ID,If-None-Match",
		ExposeHeaders:    exposedHeaders,
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

// exposedHeaders are the answer's fields the SPA's script may read.
const exposedHeaders = "Location,Retry-After,Idempotent-Replayed,X-Request-ID,RateLimit,RateLimit-Policy,ETag"

// corsGrant gives an answer under /api refused before corsPolicy ran (a
// body too large, one sent gzipped: see httpserver.Server.RefusalHeaders)
// the grant corsPolicy gives the allowed origins' requests, so that the
// SPA can read the problem.
func corsGrant(allowed []string) func(c *fiber.Ctx) {
	return func(c *fiber.Ctx) {
		if p := c.Path(); p != "/api" && !strings.HasPrefix(p, "/api/") {
			return
		}
		c.Vary(fiber.HeaderOrigin)
		origin := c.Get(fiber.HeaderOrigin)
		if origin == "" || !slices.Contains(allowed, origin) {
			return
		}
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Set(fiber.HeaderAccessControlExposeHeaders, exposedHeaders)
	}
}
