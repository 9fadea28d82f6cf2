package httpserver

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/problem"
)

// TokenVerifier checks a bearer token and returns its claims. The token
// it is given is a view of the request's header, which the server reuses
// once the request is answered: Verify must copy whatever of it it keeps.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Claims, error)
}

type userKey struct{}

// RequireUser verifies the request's token, taken from "Authorization:
// Bearer" or, when cookie is not empty, from that cookie, and makes its
// subject the request's user. Anything else is a 401 problem.
func RequireUser(v TokenVerifier, cookie string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token, ok := bearer(c.Get(fiber.HeaderAuthorization))
		if !ok && cookie != "" {
			token = c.Cookies(cookie)
		}
		if token == "" {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="storefront"`)
			return problem.New(problem.CodeUnauthenticated, "A bearer token is required.")
		}
		// Not copied: a verified token is mostly found in the verifier's
		// cache, and copying it (hundreds of bytes) would be most of the
		// cost of a cached verification.
		claims, err := v.Verify(c.UserContext(), token)
		if err != nil {
			// Only a refused token is invalid_token: a client told so drops
			// it, which a 503 (keys unreachable) must not make it do.
			if p := problem.From(err); p.Code == problem.CodeUnauthenticated {
				c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="storefront", error="invalid_token"`)
			}
			return err
		}
		c.Locals(userKey{}, claims.Subject)
		return c.Next()
	}
}

// BearerToken returns the token of the request's "Authorization: Bearer"
// header, if it has one. It is what RequireUser prefers over the cookie, so
// a write that carries it is not cookie-authenticated.
func BearerToken(c *fiber.Ctx) (string, bool) {
	return bearer(c.Get(fiber.HeaderAuthorization))
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(h[len(scheme):])
	return t, t != ""
}

// UserID is the authenticated user of the request (the token's subject), or
// "" on a route without RequireUser.
func UserID(c *fiber.Ctx) string {
	id, _ := c.Locals(userKey{}).(string)
	return id
}

// SetUser makes id the request's authenticated user, for a BFF that
// authenticates a request by other means than a bearer token (a session).
func SetUser(c *fiber.Ctx, id string) { c.Locals(userKey{}, id) }
