package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/user"
)

// HeaderCSRF carries the CSRF token on cookie-authenticated writes.
const HeaderCSRF = "X-CSRF-Token"

// sessionUsers is the part of the user client the session routes use.
type sessionUsers interface {
	Token(ctx context.Context, email, password string) (user.Token, error)
	Get(ctx context.Context, id string) (user.User, error)
}

// handleLogin checks the credentials with the user service, verifies the
// token it issues like any other, and hands it to the browser in an HttpOnly
// cookie, with a CSRF token the SPA echoes on writes.
func handleLogin(users sessionUsers, v httpserver.TokenVerifier, s Session) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		tok, err := auth.Login(ctx, users, c.Body())
		if err != nil {
			return httpserver.FromUpstream(err, "User")
		}
		claims, err := v.Verify(ctx, tok.AccessToken)
		if err != nil {
			return err
		}
		profile, err := users.Get(ctx, claims.Subject)
		if err != nil {
			return httpserver.FromUpstream(err, "User")
		}
		csrf := newCSRFToken()
		setCookie(c, s, s.CookieName, tok.AccessToken, claims.ExpiresAt, hiddenFromScripts)
		setCookie(c, s, s.CSRFCookieName, csrf, claims.ExpiresAt, readableByScripts)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(sessionView{User: newProfileView(profile), CSRFToken: csrf, ExpiresAt: claims.ExpiresAt})
	}
}

// handleLogout clears both cookies.
func handleLogout(s Session) fiber.Handler {
	return func(c *fiber.Ctx) error {
		past := time.Unix(0, 0)
		setCookie(c, s, s.CookieName, "", past, hiddenFromScripts)
		setCookie(c, s, s.CSRFCookieName, "", past, readableByScripts)
		return c.SendStatus(fiber.StatusNoContent)
	}
}

// cookieAccess says whether the SPA's scripts may read a cookie.
type cookieAccess int

const (
	// hiddenFromScripts is HttpOnly: the session token, which no script,
	// injected or not, ever needs.
	hiddenFromScripts cookieAccess = iota
	// readableByScripts is the CSRF token, which the SPA echoes in a header.
	readableByScripts
)

func setCookie(c *fiber.Ctx, s Session, name, value string, expires time.Time, access cookieAccess) {
	ck := &fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.Path,
		Expires:  expires,
		Secure:   s.Secure,
		HTTPOnly: access == hiddenFromScripts,
		SameSite: s.SameSite,
	}
	if value == "" {
		ck.MaxAge = -1
	}
	c.Cookie(ck)
}

func newCSRFToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// csrfProtect guards cookie-authenticated writes with a double-submit
// token: the X-CSRF-Token header must equal the CSRF cookie, which another
// site can neither read nor set. When the browser sends Origin it must be
// the BFF's own or an allowed one. Requests authenticated by a bearer token
// are not subject to it: a browser never attaches one by itself. Any other
// Authorization header does not exempt a request, since the cookie is then
// what authenticates it.
func csrfProtect(s Session, allowed []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if _, ok := httpserver.BearerToken(c); ok || c.Cookies(s.CookieName) == "" {
			return c.Next()
		}
		if !trustedOrigin(c, allowed) {
			return problem.New(problem.CodeForbidden, "Cross-site request refused.")
		}
		want, got := c.Cookies(s.CSRFCookieName), c.Get(HeaderCSRF)
		if want == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
			return problem.New(problem.CodeForbidden, "Missing or wrong "+HeaderCSRF+" header.")
		}
		return c.Next()
	}
}

// originGuard refuses a request whose Origin, when the browser sends one,
// is neither the BFF's own nor an allowed one. It guards the session routes,
// which no CSRF token can protect since they create or end the session: a
// page elsewhere could otherwise log the browser into the attacker's
// account (a JSON body also fits in a text/plain form, which needs no
// preflight) or log the user out.
func originGuard(allowed []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !trustedOrigin(c, allowed) {
			return problem.New(problem.CodeForbidden, "Cross-site request refused.")
		}
		return c.Next()
	}
}

// trustedOrigin reports whether the request has no Origin or comes from the
// BFF's own origin or an allowed one. Browsers send Origin on every
// cross-origin POST and DELETE, and "null" from sandboxed or opaque
// contexts, which is never trusted.
func trustedOrigin(c *fiber.Ctx, allowed []string) bool {
	origin := c.Get(fiber.HeaderOrigin)
	return origin == "" || origin == c.BaseURL() || slices.Contains(allowed, origin)
}

var _ httpserver.TokenVerifier = (*auth.Verifier)(nil)
