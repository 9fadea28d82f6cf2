// Package user is the client of the user service: sign-in tokens, the keys
// that verify them, and user profiles.
package user

import (
	"context"
	"net/url"

	"storefront.dev/shared/upstream"
)

// Client calls the user service: sign-in, signing keys and profiles.
type Client struct {
	s *upstream.Service
}

// New returns a Client over s.
func New(s *upstream.Service) *Client { return &Client{s: s} }

// Token signs a user in. Wrong credentials are an *upstream.Error of
// KindUnauthorized.
func (c *Client) Token(ctx context.Context, email, password string) (Token, error) {
	return upstream.Post[Token](ctx, c.s, "token", "/auth/token", TokenRequest{Email: email, Password: password})
}

// Refresh exchanges a refresh token for a new pair; the old one is used up.
// Presenting a used one again revokes its whole family (401).
func (c *Client) Refresh(ctx context.Context, refreshToken string) (Token, error) {
	return upstream.Post[Token](ctx, c.s, "refresh", "/auth/refresh", RefreshRequest{RefreshToken: refreshToken})
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
