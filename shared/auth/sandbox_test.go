package auth_test

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/user"
)

// The user client is the KeySource the BFFs use.
var _ auth.KeySource = (*user.Client)(nil)

// TestVerifySandboxTokens verifies tokens the sandbox user service issues,
// with its JWKS fetched over HTTP through the user client, across a key
// rotation.
func TestVerifySandboxTokens(t *testing.T) {
	clk := clocktest.New(start)
	rn := sandboxtest.Start(t, sandbox.Config{Clock: clk.Now})
	users := rn.Clients(t, upstream.DefaultConfig()).User
	v := auth.NewVerifier(users, auth.DefaultConfig(), auth.WithClock(clk.Now))
	ctx := context.Background()

	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	login := func(u sandbox.SeedUser) string {
		t.Helper()
		tok, err := users.Token(ctx, u.Email, u.Password)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		return tok.AccessToken
	}
	for _, u := range []sandbox.SeedUser{sandbox.Ada, sandbox.Grace} {
		got, err := v.Verify(ctx, login(u))
		if err != nil {
			t.Fatalf("Verify %s: %v", u.Email, err)
		}
		if got.Subject != u.ID || got.ID == "" || !got.ExpiresAt.Equal(start.Add(15*time.Minute)) {
			t.Errorf("got %+v, want sub %s, a jti and exp %v", got, u.ID, start.Add(15*time.Minute))
		}
	}

	old := login(sandbox.Ada)
	newKid := rn.Sandbox.RotateKey()
	clk.Advance(auth.DefaultConfig().RefreshInterval)
	got, err := v.Verify(ctx, login(sandbox.Ada))
	if err != nil {
		t.Fatalf("Verify after rotation: %v", err)
	}
	if got.KeyID != newKid {
		t.Errorf("got kid %q, want the rotated %q", got.KeyID, newKid)
	}
	// The old key is still published, so its tokens still pass.
	if _, err := v.Verify(ctx, old); err != nil {
		t.Errorf("Verify a token of the previous key: %v", err)
	}
	clk.Advance(15*time.Minute + auth.DefaultConfig().Leeway)
	_, err = v.Verify(ctx, old)
	wantProblem(t, err, problem.CodeUnauthenticated, "token expired")
}
