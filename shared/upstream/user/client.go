// Package user is the client of the user service: sign-in tokens, the keys
// that verify them, and user profiles.
package user

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"

	"storefront.dev/shared/upstream"
)

// Client calls the user service: sign-in, signing keys and profiles.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Token signs a user in. Wrong credentials are an error Refused reports.
func (c *Client) Token(ctx context.Context, email, password string) (Token, error) {
	return upstream.Post[Token](ctx, c.s, "token", "/auth/token", TokenRequest{Email: email, Password: password})
}

// Refused reports whether err is the user service refusing a credential
// (a password, a refresh token): its 401. A 403 is not: the service (or a
// proxy before it) forbids the call itself, which says nothing of the
// credential, and is answered as any other failure of the service.
func Refused(err error) bool {
	e, ok := upstream.As(err)
	return ok && e.Status == http.StatusUnauthorized
}

// Refresh exchanges a refresh token for a new pair; the old one is used up.
// Presenting a used one again revokes its whole family (401), unless it is
// a retry: a retryKey not empty makes the request's Idempotency-Key (see
// rotationKey), so that the same token sent again with the same retryKey,
// after the answer to the first was lost, gets that answer.
func (c *Client) Refresh(ctx context.Context, refreshToken, retryKey string) (Token, error) {
	return upstream.Send[Token](ctx, c.s, upstream.Call{Op: "refresh", Method: http.MethodPost, Path: "/auth/refresh",
		Body: RefreshRequest{RefreshToken: refreshToken}, IdempotencyKey: rotationKey(refreshToken, retryKey)})
}

// rotationKey is the Idempotency-Key of a refresh of refreshToken retried
// under retryKey, "" for none. It names the token, so that two refreshes
// sharing a retryKey (two users' phones, say) never share a key, and hashes
// it, so that the header, which proxies may log, does not carry it.
func rotationKey(refreshToken, retryKey string) string {
	if retryKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(refreshToken + "\x00" + retryKey))
	return "refresh-" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Revoke revokes the family of a refresh token; an unknown one is no error.
func (c *Client) Revoke(ctx context.Context, refreshToken string) error {
	_, err := upstream.Post[struct{}](ctx, c.s, "revoke", "/auth/revoke", RefreshRequest{RefreshToken: refreshToken})
	return err
}

// JWKS returns the keys that verify the service's tokens.
func (c *Client) JWKS(ctx context.Context) (JWKS, error) {
	return upstream.Get[JWKS](ctx, c.s, "jwks", "/.well-known/jwks.json")
}

// Get returns a user's profile.
func (c *Client) Get(ctx context.Context, id string) (User, error) {
	return upstream.Get[User](ctx, c.s, "get", "/users/"+url.PathEscape(id))
}
