// Package user is the client of the user service: sign-in tokens, the keys
// that verify them, and user profiles.
package user

import (
	"context"
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

// Token signs a user in. Wrong credentials are an *upstream.Error of
// KindUnauthorized.
func (c *Client) Token(ctx context.Context, email, password string) (Token, error) {
	var t Token
	err := c.s.Do(ctx, upstream.Call{Op: "token", Method: http.MethodPost, Path: "/auth/token",
		Body: TokenRequest{Email: email, Password: password}}, &t)
	return t, err
}

// JWKS returns the keys that verify the service's tokens.
func (c *Client) JWKS(ctx context.Context) (JWKS, error) {
	var k JWKS
	err := c.s.Do(ctx, upstream.Call{Op: "jwks", Method: http.MethodGet, Path: "/.well-known/jwks.json"}, &k)
	return k, err
}

// Get returns a user's profile.
func (c *Client) Get(ctx context.Context, id string) (User, error) {
	var u User
	err := c.s.Do(ctx, upstream.Call{Op: "get", Method: http.MethodGet, Path: "/users/" + url.PathEscape(id)}, &u)
	return u, err
}
