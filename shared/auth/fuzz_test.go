package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/problem"
)

// FuzzVerify feeds the token parser arbitrary strings. It must never panic
// nor answer anything but a 401 problem, and a token it accepts must carry
// a subject, the issuer and the audience. The checked-in corpus holds the
// attack shapes (alg none, HMAC, unknown kid, crit, broken segments); the
// seeds added here are signed with this run's keys, so that mutations start
// from tokens that pass.
func FuzzVerify(f *testing.F) {
	k1, _, ec := keys(f)
	f.Add(sign(f, jwt.SigningMethodRS256, "k1", claims(nil), k1))
	f.Add(sign(f, jwt.SigningMethodES256, "e1", claims(nil), ec))
	f.Add(sign(f, jwt.SigningMethodRS256, "k1", claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", auth.DefaultConfig().Audience} }), k1))
	v, _, _ := setup(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(ctx, token)
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) || p.Code != problem.CodeUnauthenticated {
				t.Fatalf("Verify(%q): got %v, want a %s problem", token, err, problem.CodeUnauthenticated)
			}
			return
		}
		if c.Subject == "" || c.Issuer != auth.DefaultConfig().Issuer || !slices.Contains(c.Audience, auth.DefaultConfig().Audience) || !strings.Contains(token, ".") {
			t.Fatalf("Verify(%q) accepted %+v", token, c)
		}
	})
}
