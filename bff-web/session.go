package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
	serversession "storefront.dev/shared/session"
	"storefront.dev/shared/upstream/user"
)

// HeaderCSRF carries the CSRF token on cookie-authenticated writes.
const HeaderCSRF = "X-CSRF-Token"

// sessionUsers is the part of the user client the session routes use.
type sessionUsers interface {
	Token(ctx context.Context, email, password string) (user.Token, error)
	Get(ctx context.Context, id string) (user.User, error)
	Revoke(ctx context.Context, refreshToken string) error
}

// revokeWait bounds the revocation of the refresh token of a login that
// failed after the user service issued it.
const revokeWait = 2 * time.Second

// handleLogin checks the credentials with the user service, verifies the
// token it issues like any other, and keeps the user's tokens in a
// server-side session: the browser gets only the session's opaque id, in
// an HttpOnly cookie, and a CSRF token the SPA echoes on writes. The
// session the browser had before, if any, ends: a login replaces it. A
// login that fails once its tokens are issued revokes its refresh token,
// which no session holds.
func handleLogin(users sessionUsers, v httpserver.TokenVerifier, sessions *serversession.Manager, s Session) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		tok, err := auth.Login(ctx, users, c.Body())
		if err != nil {
			return httpserver.UpstreamFailure(err)
		}
		profile, id, sess, err := openSession(ctx, users, v, sessions, tok)
		if err != nil {
			revokeUnheld(ctx, users, tok.RefreshToken)
			return err
		}
		idName, csrfName := s.cookieNames()
		if old := c.Cookies(idName); old != "" {
			// Best effort: a session left behind still ends at its idle
			// timeout.
			_ = sessions.End(ctx, strings.Clone(old))
		}
		// The cookies last as long as the session may; its idle timeout is
		// enforced on the server.
		until := sess.Created.Add(s.Lifetime.MaxAge)
		setCookie(c, s, idName, id, until, hiddenFromScripts)
		setCookie(c, s, csrfName, sess.CSRF, until, readableByScripts)
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(sessionView{User: newProfileView(profile), CSRFToken: sess.CSRF, ExpiresAt: sessions.Expires(sess)})
	}
}

// openSession verifies the tokens of a login, reads the user's profile and
// starts the session that holds them.
func openSession(ctx context.Context, users sessionUsers, v httpserver.TokenVerifier, sessions *serversession.Manager,
	tok user.Token) (user.User, string, serversession.Session, error) {
	claims, err := v.Verify(ctx, tok.AccessToken)
	if err != nil && problem.From(err).Code == problem.CodeUnauthenticated {
		// The password was right: a token the user service has just issued
		// that does not verify here (an audience or issuer set otherwise,
		// a key not published yet) is a failure of the service or of the
		// settings, not the user's.
		err = &problem.Error{Code: problem.CodeUnavailable, Detail: "The sign-in could not be completed; retry later.",
			RetryAfter: time.Second, Err: err}
	}
	if err != nil {
		return user.User{}, "", serversession.Session{}, err
	}
	profile, err := users.Get(ctx, claims.Subject)
	if err == nil {
		err = httpserver.CheckAnswered("user", "get", claims.Subject, profile.ID)
	}
	if err != nil {
		return user.User{}, "", serversession.Session{}, httpserver.UpstreamFailure(err)
	}
	id, sess, err := sessions.Create(ctx, claims.Subject, tok, claims.ExpiresAt)
	if err != nil {
		return user.User{}, "", serversession.Session{}, err
	}
	return profile, id, sess, nil
}

// tokensByTheirExpiry is the user service as sessions refresh their tokens
// through it: a refreshed access token lasts no longer than its own
// lifetime, from its iat to its exp, verified, rather than the expires_in
// the service answers beside it, which may say more (the session would then
// keep a token past its end, and answer 401 rather than refresh it). The
// lifetime is the issuer's own figure, so that a clock skew between the two
// (within the leeway) does not shorten it; but a token issued more than the
// leeway ago by this clock is not a new one (the first answer to a refresh
// sent again with its key, see serversession.Manager's renew), and lasts
// what it has left. A token without an iat is timed by its exp on this
// clock. A replayed token already past its exp is spent: the session
// refreshes once more, with the refresh token that came with it. A token
// that does not verify for another reason keeps the service's figure:
// every request verifies it again.
type tokensByTheirExpiry struct {
	serversession.Tokens
	v      httpserver.TokenVerifier
	leeway time.Duration
}

func (t tokensByTheirExpiry) Refresh(ctx context.Context, refreshToken, retryKey string) (user.Token, error) {
	tok, err := t.Tokens.Refresh(ctx, refreshToken, retryKey)
	if err != nil {
		return tok, err
	}
	claims, err := t.v.Verify(ctx, tok.AccessToken)
	if errors.Is(err, auth.ErrTokenExpired) {
		tok.ExpiresIn = 0
		return tok, nil
	}
	if err != nil {
		return tok, nil
	}
	// Without an iat, or long after it, the time left by this clock is
	// the best figure.
	lifetime := time.Until(claims.ExpiresAt)
	if iat := claims.IssuedAt; !iat.IsZero() && time.Since(iat) <= t.leeway {
		lifetime = claims.ExpiresAt.Sub(iat)
	}
	if secs := int(max(0, lifetime/time.Second)); tok.ExpiresIn <= 0 || secs < tok.ExpiresIn {
		tok.ExpiresIn = secs
	}
	return tok, nil
}

// revokeUnheld revokes refreshToken, issued to a login that then failed, so
// that no refresh token nobody holds stays live until it expires. It is
// best effort (the login's answer is its failure, whatever happens here)
// and detached from the request, so that a client giving up, or a request
// whose deadline the failure spent, does not leave the token live.
func revokeUnheld(ctx context.Context, users sessionUsers, refreshToken string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeWait)
	defer cancel()
	_ = users.Revoke(ctx, refreshToken)
}

// handleLogout ends the session on the server (its cookie, even replayed,
// is refused from then on; its refresh token is revoked upstream) and
// clears both cookies.
func handleLogout(sessions *serversession.Manager, s Session) fiber.Handler {
	return func(c *fiber.Ctx) error {
		idName, _ := s.cookieNames()
		if err := sessions.End(c.UserContext(), c.Cookies(idName)); err != nil {
			return err
		}
		clearSessionCookies(c, s)
		return c.SendStatus(fiber.StatusNoContent)
	}
}

// requireUser authenticates a request by its bearer token, when it has one
// (verified like mobile's, a refused one answered by refused), or else by
// its session cookie: the session's user, its access token refreshed on
// the server when near its expiry and verified like a bearer token, whose
// subject must be the session's user, so that a session written into the
// store by someone who can write there (but cannot sign a token) names
// nobody. A cookie naming no live session is a 401 not charged to the
// address: it cost a store read, and a stale tab sending the cookie of an
// ended session would otherwise lock its user out of logging in again.
// (The 401 does not clear the cookie: a request of the old session that
// comes back after a login would clear the new one.)
func requireUser(v httpserver.TokenVerifier, sessions *serversession.Manager, s Session, refused httpserver.Refusal) fiber.Handler {
	bearer := httpserver.RequireUser(v, refused)
	idName, _ := s.cookieNames()
	return func(c *fiber.Ctx) error {
		if _, ok := httpserver.BearerToken(c); ok {
			return bearer(c)
		}
		id := c.Cookies(idName)
		if id == "" {
			return bearer(c) // the 401 of a request with no credential
		}
		ctx := c.UserContext()
		sess, err := sessions.Resolve(ctx, strings.Clone(id))
		if err == nil {
			err = checkSessionToken(ctx, v, sess)
		}
		if err != nil {
			return err
		}
		httpserver.SetUser(c, sess.UserID)
		c.Locals(sessionCSRFKey, sess.CSRF)
		return c.Next()
	}
}

// optionalUser is requireUser for a route anyone may call (the catalog),
// so that its rate limit counts a signed-in browser's reads as its
// user's: a request without a credential, or whose credential fails (see
// httpserver.OptionalUser), goes on anonymous. The session is only looked
// at (Peek): a public read neither refreshes its tokens nor records its
// use, so it waits on the store alone, never on the user service.
func optionalUser(v httpserver.TokenVerifier, sessions *serversession.Manager, s Session) fiber.Handler {
	bearer := httpserver.OptionalUser(v)
	idName, _ := s.cookieNames()
	return func(c *fiber.Ctx) error {
		if _, ok := httpserver.BearerToken(c); ok {
			return bearer(c)
		}
		if id := c.Cookies(idName); id != "" {
			ctx := c.UserContext()
			if sess, err := sessions.Peek(ctx, strings.Clone(id)); err == nil && checkSessionToken(ctx, v, sess) == nil {
				httpserver.SetUser(c, sess.UserID)
			}
		}
		return c.Next()
	}
}

// checkSessionToken verifies sess's access token, which must be its user's.
func checkSessionToken(ctx context.Context, v httpserver.TokenVerifier, sess serversession.Session) error {
	claims, err := v.Verify(ctx, sess.AccessToken)
	if problem.From(err).Code == problem.CodeUnauthenticated || err == nil && claims.Subject != sess.UserID {
		return problem.New(problem.CodeUnauthenticated, "The session has ended; log in again.")
	}
	return err
}

// clearSessionCookies makes the browser drop the session's cookies.
func clearSessionCookies(c *fiber.Ctx, s Session) {
	idName, csrfName := s.cookieNames()
	past := time.Unix(0, 0)
	setCookie(c, s, idName, "", past, hiddenFromScripts)
	setCookie(c, s, csrfName, "", past, readableByScripts)
}

// csrfLocal is the type of sessionCSRFKey.
type csrfLocal struct{}

// sessionCSRFKey holds, in a request's locals, the CSRF token of the
// session requireUser resolved from its cookie.
var sessionCSRFKey csrfLocal

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
		Path:     "/",
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

// csrfProtect guards cookie-authenticated writes, after requireUser: the
// X-CSRF-Token header must equal the token of the session the cookie
// names, which the SPA reads from the CSRF cookie (or the login's answer)
// and another site can neither read nor, by planting a cookie of its own,
// choose. When the browser sends Origin it must be the BFF's own or an
// allowed one. Requests authenticated by a bearer token are not subject to
// it: a browser never attaches one by itself. Any other Authorization
// header does not exempt a request, since the cookie is then what
// authenticates it.
func csrfProtect(o origins) fiber.Handler {
	return func(c *fiber.Ctx) error {
		want, fromCookie := c.Locals(sessionCSRFKey).(string)
		if _, ok := httpserver.BearerToken(c); ok || !fromCookie {
			return c.Next()
		}
		if !o.trusted(c) {
			return problem.New(problem.CodeForbidden, "Cross-site request refused.")
		}
		got, err := httpserver.HeaderOnce(c, HeaderCSRF)
		if err != nil {
			return err
		}
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
func originGuard(o origins) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !o.trusted(c) {
			return problem.New(problem.CodeForbidden, "Cross-site request refused.")
		}
		return c.Next()
	}
}

// origins are the origins a browser's write may come from: the BFF's own
// and the allowed ones.
type origins struct {
	allowed []string
	// scheme is the BFF's own: https when its cookies are Secure, since it
	// is then served over TLS, which a proxy in front of it may end.
	scheme string
}

func newOrigins(cfg Config) origins {
	o := origins{allowed: cfg.AllowedOrigins, scheme: "http"}
	if cfg.Session.Secure {
		o.scheme = "https"
	}
	return o
}

// trusted reports whether the request comes from the BFF's own origin (its
// scheme and the request's Host) or an allowed one. Browsers send Origin
// on every cross-origin POST and DELETE, and "null" from sandboxed or
// opaque contexts, which is never trusted. A request without one is
// trusted unless its Sec-Fetch-Site says a page of another site sent it
// (a browser that strips Origin still sends that). The own origin is not
// read from X-Forwarded-Host or X-Forwarded-Proto, nor from an
// absolute-form request target: any client may send those. Behind a proxy
// that sends the BFF another Host than the browser's, the public origin
// must be one of the allowed ones. Two Origin lines, which no browser
// sends, are not trusted: a proxy in front may have read the other one.
func (o origins) trusted(c *fiber.Ctx) bool {
	origin, err := httpserver.HeaderOnce(c, fiber.HeaderOrigin)
	if err != nil {
		return false
	}
	if origin == "" {
		return c.Get("Sec-Fetch-Site") != "cross-site"
	}
	if slices.Contains(o.allowed, origin) {
		return true
	}
	// Both in the form a browser sends: the case of a host and a default
	// port do not matter ("Shop.Example:443" is https://shop.example).
	own, err := canonicalOrigin(o.scheme + "://" + string(c.Request().Header.Host()))
	if err != nil {
		return false
	}
	sent, err := canonicalOrigin(origin)
	return err == nil && sent == own
}

var _ httpserver.TokenVerifier = (*auth.Verifier)(nil)
