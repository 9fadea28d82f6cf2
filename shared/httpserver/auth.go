package httpserver

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/ratelimit"
)

// TokenVerifier checks a bearer token and returns its claims. The token
// it is given is a view of the request's header, which the server reuses
// once the request is answered: Verify must copy whatever of it it keeps.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Claims, error)
}

type userKey struct{}

// The WWW-Authenticate challenges of a 401 (RFC 6750 §3), in the one
// realm of the API; the problem writer gives bearerChallenge to a 401 that
// set none (see refusedExchange).
const (
	realm                 = "storefront"
	bearerChallenge       = `Bearer realm="` + realm + `"`
	invalidTokenChallenge = bearerChallenge + `, error="invalid_token"`
)

// Refusal is what a route answers a request whose credential was refused
// with err: err itself, or another problem (see Server.Refused).
type Refusal func(c *fiber.Ctx, err error) error

// RequireUser verifies the request's "Authorization: Bearer" token and
// makes its subject the request's user. A request without one is a 401
// problem; one whose token is refused is answered by refused (nil: the 401
// problem itself, or the verifier's 503 when the keys are unreachable); one
// with two Authorization lines is a 400 (see HeaderOnce).
func RequireUser(v TokenVerifier, refused Refusal) fiber.Handler {
	if refused == nil {
		refused = func(_ *fiber.Ctx, err error) error { return err }
	}
	return func(c *fiber.Ctx) error {
		h, err := HeaderOnce(c, fiber.HeaderAuthorization)
		if err != nil {
			return err
		}
		token, _ := bearer(h)
		if token == "" {
			c.Set(fiber.HeaderWWWAuthenticate, bearerChallenge)
			return problem.New(problem.CodeUnauthenticated, "A bearer token is required.")
		}
		// Not copied: a verified token is mostly found in the verifier's
		// cache, and copying it (hundreds of bytes) would be most of the
		// cost of a cached verification.
		claims, err := v.Verify(c.UserContext(), token)
		if err != nil {
			err = refused(c, err)
			// Only a refused token is invalid_token: a client told so drops
			// it, which a 503 (keys unreachable) or a 429 must not make it
			// do.
			if p := problem.From(err); p.Code == problem.CodeUnauthenticated {
				c.Set(fiber.HeaderWWWAuthenticate, invalidTokenChallenge)
			}
			return err
		}
		c.Locals(userKey{}, claims.Subject)
		return c.Next()
	}
}

// OptionalUser is RequireUser for a route anyone may call (the catalog):
// the subject of a verified bearer token becomes the request's user, so
// that the route's rate limit counts per user, not per client address
// (phones behind one carrier NAT would share one quota). A request without
// a token, or whose token fails (expired, refused, the keys unreachable),
// goes on anonymous, counted by its client address like any anonymous
// read. A refused token is not charged to the address's login quota, as
// on the routes that require one: the answer is the same with or without
// it, so it tells a guesser nothing, and a client still sending a token it
// was not told is refused would spend the logins of everyone behind its
// address. Two Authorization lines are a 400, as on RequireUser's routes.
func OptionalUser(v TokenVerifier) fiber.Handler {
	return func(c *fiber.Ctx) error {
		h, err := HeaderOnce(c, fiber.HeaderAuthorization)
		if err != nil {
			return err
		}
		if token, ok := bearer(h); ok {
			if claims, err := v.Verify(c.UserContext(), token); err == nil {
				c.Locals(userKey{}, claims.Subject)
			}
		}
		return c.Next()
	}
}

// Refused returns the Refusal that charges a request whose credential
// failed verification (a token forged, tampered with, of an unknown key)
// to its client address under p,
// and answers it with the 429 problem once the address is over p's quota.
// Verifying a credential costs the server more than refusing a request
// without one, and a route's rate limit, which counts per user, comes
// after authentication: without this, guessing credentials would be
// unmetered. A token that merely expired is not charged: its signature
// was good, and its holder is a client about to refresh it.
func (s *Server) Refused(l Limiter, p ratelimit.Policy) Refusal {
	quota := s.quota(l, p)
	return func(c *fiber.Ctx, err error) error {
		if problem.From(err).Code != problem.CodeUnauthenticated || errors.Is(err, auth.ErrTokenExpired) {
			return err
		}
		if over := quota(c); over != nil {
			return over
		}
		return err
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
