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
	"storefront.dev/shared/upstream"
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
		creds, err := httpserver.DecodeCredentials(c.Body())
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		tok, err := users.Token(ctx, creds.Email, creds.Password)
		if err != nil {
			if upstream.KindOf(err) == upstream.KindUnauthorized {
				return problem.Wrap(err, problem.CodeUnauthenticated, "The email or password is wrong.")
			}
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
		setCookie(c, s, s.CookieName, tok.AccessToken, claims.ExpiresAt, true)
		setCookie(c, s, s.CSRFCookieName, csrf, claims.ExpiresAt, false)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(sessionView{User: newProfileView(profile), CSRFToken: csrf, ExpiresAt: claims.ExpiresAt})
	}
}

// handleLogout clears both cookies.
func handleLogout(s Session) fiber.Handler {
	return func(c *fiber.Ctx) error {
		past := time.Unix(0, 0)
		setCookie(c, s, s.CookieName, "", past, true)
		setCookie(c, s, s.CSRFCookieName, "", past, false)
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func setCookie(c *fiber.Ctx, s Session, name, value string, expires time.Time, httpOnly bool) {
	ck := &fiber.Cookie{
		Name:     name,
		Value:    value,
		Path:     s.Path,
		Expires:  expires,
		Secure:   s.Secure,
		HTTPOnly: httpOnly,
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
// the BFF's own or an allowed one. Requests carrying a bearer token are not
// subject to it: a browser never attaches one by itself.
func csrfProtect(s Session, allowed []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if c.Get(fiber.HeaderAuthorization) != "" || c.Cookies(s.CookieName) == "" {
			return c.Next()
		}
		if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != c.BaseURL() && !slices.Contains(allowed, origin) {
			return problem.New(problem.CodeForbidden, "Cross-site request refused.")
		}
		want, got := c.Cookies(s.CSRFCookieName), c.Get(HeaderCSRF)
		if want == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
			return problem.New(problem.CodeForbidden, "Missing or wrong "+HeaderCSRF+" header.")
		}
		return c.Next()
	}
}

var _ httpserver.TokenVerifier = (*auth.Verifier)(nil)
