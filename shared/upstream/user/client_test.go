package user_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/upstreamtest"
	"storefront.dev/shared/upstream/user"
)

func start(t *testing.T) (*sandboxtest.Running, *user.Client) {
	t.Helper()
	rt := sandboxtest.Start(t, sandbox.Config{})
	return rt, rt.Clients(t, upstream.DefaultConfig()).User
}

var wantError = upstreamtest.WantError("user")

// tokenKid reads the kid from a JWT's header without verifying it: the
// verifier lives elsewhere; here it only ties the token to the JWKS.
func tokenKid(t *testing.T, token string) string {
	t.Helper()
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("got token %q, want a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("decode header: %v", err)
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("decode header: %v", err)
	}
	if h.Alg != "RS256" {
		t.Errorf("got alg %q, want RS256", h.Alg)
	}
	return h.Kid
}

func TestTokenAndJWKS(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	tok, err := c.Token(ctx, "ada@example.com", "correct-horse")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Errorf("got %+v, want a bearer token with a lifetime", tok)
	}
	keys, err := c.JWKS(ctx)
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	kid := tokenKid(t, tok.AccessToken)
	found := false
	for _, k := range keys.Keys {
		if k.Kid == kid && k.Kty == "RSA" && k.N != "" && k.E != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("got keys %+v, want an RSA key with kid %q", keys.Keys, kid)
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name, email, password string
		kind                  upstream.Kind
		status                int
		code                  string
	}{
		{name: "wrong password", email: "ada@example.com", password: "battery-staple", kind: upstream.KindUnauthorized, status: 401, code: "invalid_credentials"},
		{name: "unknown user", email: "eve@example.com", password: "x", kind: upstream.KindUnauthorized, status: 401, code: "invalid_credentials"},
		{name: "empty", kind: upstream.KindInvalid, status: 400, code: "invalid_request"},
	}
	_, c := start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Token(context.Background(), tt.email, tt.password)
			wantError(t, err, "token", tt.kind, tt.status, tt.code)
		})
	}
}

func TestGet(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	u, err := c.Get(ctx, "usr_grace")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if u.ID != "usr_grace" || u.Name != "Grace Hopper" || u.Email != "grace@example.com" || u.Preferences.Currency != "EUR" {
		t.Errorf("got %+v, want Grace Hopper's profile", u)
	}
	defaults := 0
	for _, a := range u.Addresses {
		if a.Default {
			defaults++
		}
	}
	if defaults != 1 {
		t.Errorf("got %d default addresses in %+v, want 1", defaults, u.Addresses)
	}
	_, err = c.Get(ctx, "usr_nobody/..")
	wantError(t, err, "get", upstream.KindNotFound, 404, "not_found")
}
