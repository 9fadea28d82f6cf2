package main

import (
	"strings"

	"github.com/gofiber/fiber/v2/middleware/cors"

	"storefront.dev/shared/gateway"
	"storefront.dev/shared/httpserver"
)

// routes lists every endpoint of bff-web.
func routes(g *gateway.Gateway, cfg Config) {
	app := g.Server.App
	api := app.Group("/api", cors.New(cors.Config{
		AllowOrigins:     strings.Join(cfg.AllowedOrigins, ","),
		AllowCredentials: len(cfg.AllowedOrigins) > 0,
		AllowMethods:     "GET,POST,DELETE",
		AllowHeaders:     "Content-Type,Authorization,Idempotency-Key,X-CSRF-Token,X-Request-ID",
		ExposeHeaders:    "Location,Retry-After,Idempotent-Replayed,X-Request-ID",
		MaxAge:           600,
	}))
	authed := httpserver.RequireUser(g.Verifier, cfg.Session.CookieName)
	csrf := csrfProtect(cfg.Session, cfg.AllowedOrigins)

	api.Post("/session", handleLogin(g.Users, g.Verifier, cfg.Session))
	api.Delete("/session", handleLogout(cfg.Session))

	api.Post("/orders", csrf, authed, httpserver.PlaceOrder(g.Flow, g.Idempotency, false, placedOrderView))
	api.Get("/orders", authed, handleListOrders(g.Orders, g.Products))
	api.Get("/orders/:id", authed, handleGetOrder(g.Orders, g.Products, g.Payments))
}
