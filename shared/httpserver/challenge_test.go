package httpserver_test

import (
	"slices"
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// TestEvery401HasAChallenge: every 401 names how to authenticate in
// WWW-Authenticate (RFC 9110 §11.6.1), RequireUser's or not (a session
// that ended, an account gone), and RequireUser's refusal of a token keeps
// its more specific invalid_token challenge. The one exception is the user
// service refusing a credential sent in the body to trade it (a password),
// where no HTTP authentication scheme applies.
func TestEvery401HasAChallenge(t *testing.T) {
	s := newServer(t, nil)
	s.App.Get("/bearer", httpserver.RequireUser(refusingVerifier{}, nil), func(c *fiber.Ctx) error { return c.SendStatus(200) })
	s.App.Get("/session", func(*fiber.Ctx) error {
		return problem.New(problem.CodeUnauthenticated, "The session has ended; log in again.")
	})
	s.App.Post("/login", func(*fiber.Ctx) error {
		refused := &upstream.Error{Service: "user", Op: "token", Status: 401, Kind: upstream.KindUnauthorized}
		return problem.Wrap(refused, problem.CodeUnauthenticated, "The email or password is wrong.")
	})
	s.start(t)
	tests := []struct {
		name, method, path string
		headers            []string
		want               []string
	}{
		{"no credential", "GET", "/bearer", nil, []string{`Bearer realm="storefront"`}},
		{"refused token", "GET", "/bearer", []string{"Authorization", "Bearer forged"}, []string{`Bearer realm="storefront", error="invalid_token"`}},
		{"401 of a handler", "GET", "/session", nil, []string{`Bearer realm="storefront"`}},
		{"password refused", "POST", "/login", nil, nil},
	}
	for _, tt := range tests {
		r := servertest.Do(t, tt.method, s.base+tt.path, nil, tt.headers...)
		if got := r.Header.Values("WWW-Authenticate"); r.Status != 401 || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %d with WWW-Authenticate %q, want 401 with %q", tt.name, r.Status, got, tt.want)
		}
	}
}
