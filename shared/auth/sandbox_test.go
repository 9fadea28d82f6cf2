package auth_test

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/upstreamtest"
	"storefront.dev/shared/upstream/user"
)

// The user client is the KeySource the BFFs use.
var _ auth.KeySource = (*user.Client)(nil)

// TestVerifySandboxTokens verifies tokens the sandbox user service issues,
// with its JWKS fetched over HTTP through the user client, across a key
// rotation.
func TestVerifySandboxTokens(t *testing.T) {
	clk := upstreamtest.NewManualClock(start)
	rn := upstreamtest.Start(t, upstreamtest.Config{Clock: clk})
	svc, err := upstream.NewService("user", []string{rn.UserURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	users := user.New(svc)
	v := auth.NewVerifier(users, auth.WithClock(clk.Now))
	ctx := context.Background()

	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	login := func(u upstreamtest.SeedUser) string {
		t.Helper()
		tok, err := users.Token(ctx, u.Email, u.Password)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		return tok.AccessToken
	}
	for _, u := range []upstreamtest.SeedUser{upstreamtest.Ada, upstreamtest.Grace} {
		got, err := v.Verify(ctx, login(u))
		if err != nil {
			t.Fatalf("Verify %s: %v", u.Email, err)
		}
		if got.Subject != u.ID || got.ID == "" || !got.ExpiresAt.Equal(start.Add(time.Hour)) {
			t.Errorf("got %+v, want sub %s, a jti and exp %v", got, u.ID, start.Add(time.Hour))
		}
	}

	old := login(upstreamtest.Ada)
	newKid := rn.Sandbox.RotateKey()
	clk.Advance(auth.DefaultRefreshInterval)
	got, err := v.Verify(ctx, login(upstreamtest.Ada))
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
	clk.Advance(time.Hour + auth.DefaultLeeway)
	_, err = v.Verify(ctx, old)
	wantProblem(t, err, problem.CodeUnauthenticated, "token expired")
}
