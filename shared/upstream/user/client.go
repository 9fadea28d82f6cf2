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

// JWKS returns the keys that verify the service's tokens.
func (c *Client) JWKS(ctx context.Context) (JWKS, error) {
	return upstream.Get[JWKS](ctx, c.s, "jwks", "/.well-known/jwks.json")
}

// Get returns a user's profile.
func (c *Client) Get(ctx context.Context, id string) (User, error) {
	return upstream.Get[User](ctx, c.s, "get", "/users/"+url.PathEscape(id))
}
