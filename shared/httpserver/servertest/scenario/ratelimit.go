package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// orderRateLimit spends Ada's order quota: each order says what remains of
// it, the one past the quota is a 429 with Retry-After and the RateLimit
// fields and places nothing, and Grace's orders and Ada's reads are
// unaffected.
func orderRateLimit(t *testing.T, sh Shop) {
	// Three orders per hour: one comes back every 20 minutes, so the wall
	// time the test takes moves Retry-After by seconds at most.
	s := sh.Start(t, "RATE_LIMIT_ORDER_REQUESTS", "3", "RATE_LIMIT_ORDER_WINDOW", "1h")
	ada := sh.Login(t, s, sandbox.Ada.Email, sandbox.Ada.Password)
	grace := sh.Login(t, s, sandbox.Grace.Email, sandbox.Grace.Password)
	body := servertest.OrderBody("tok_visa", servertest.Line(3, 1))
	start := time.Now()
	for i := range 3 {
		r := sh.order(t, s, ada, body)
		if r.Status != 201 {
			t.Fatalf("order %d: got status %d, want 201; body %s", i+1, r.Status, r.Body)
		}
		if got, want := r.Header.Get("RateLimit-Policy"), `"orders";q=3;w=3600`; got != want {
			t.Errorf("order %d: got RateLimit-Policy %q, want %q", i+1, got, want)
		}
		if got, want := r.Header.Get("RateLimit"), fmt.Sprintf(`"orders";r=%d;t=`, 2-i); !strings.HasPrefix(got, want) {
			t.Errorf("order %d: got RateLimit %q, want %s...", i+1, got, want)
		}
	}
	sh.order(t, s, ada, body).CheckRateLimited(t, "orders", 20*time.Minute, time.Hour, time.Since(start)+time.Second)

	if r := sh.order(t, s, grace, body); r.Status != 201 {
		t.Errorf("grace's order: got status %d, want 201", r.Status)
	}
	r := servertest.Do(t, "GET", s.Base+sh.Orders, nil, ada()...)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("RateLimit-Policy"), `"default";`) {
		t.Errorf("ada's reads: got status %d RateLimit-Policy %q, want 200 under the default policy", r.Status, r.Header.Get("RateLimit-Policy"))
	}
	if got := len(s.CheckInvariants(t).Order.Orders); got != 4 {
		t.Errorf("got %d orders, want 4 (three of ada's, one of grace's)", got)
	}
	if want := `bff_rate_limited_total{policy="orders"} 1`; !strings.Contains(servertest.Metrics(t, s.Base), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// loginBruteForceIsCutOff guesses Ada's password from one client address:
// past the login quota every attempt is a 429, even with the right
// password, sets no cookie and never reaches the user service; a client at
// another address still logs in.
func loginBruteForceIsCutOff(t *testing.T, sh Shop) {
	s := sh.Start(t, "RATE_LIMIT_LOGIN_REQUESTS", "5", "RATE_LIMIT_LOGIN_WINDOW", "1h",
		"RATE_LIMIT_CLIENT_IP_HEADER", "X-Forwarded-For")
	attempt := func(password, clientIP string) servertest.Response {
		return servertest.Do(t, "POST", s.Base+sh.LoginPath,
			map[string]string{"email": sandbox.Ada.Email, "password": password}, "X-Forwarded-For", clientIP)
	}
	const attacker, user = "203.0.113.66", "198.51.100.7"
	start := time.Now()
	for i := range 5 {
		r := attempt(fmt.Sprintf("guess-%d", i), attacker)
		if r.Status != 401 {
			t.Fatalf("guess %d: got status %d, want 401", i, r.Status)
		}
		if got, want := r.Header.Get("RateLimit-Policy"), `"login";q=5;w=3600`; got != want {
			t.Errorf("guess %d: got RateLimit-Policy %q, want %q", i, got, want)
		}
	}
	for i := range 3 {
		r := attempt(sandbox.Ada.Password, attacker)
		r.CheckRateLimited(t, "login", 12*time.Minute, time.Hour, time.Since(start)+time.Second)
		if cookies := r.Header.Values("Set-Cookie"); len(cookies) != 0 {
			t.Errorf("got cookies %v on a refused login", cookies)
		}
		if t.Failed() {
			t.Fatalf("attempt %d past the quota", 6+i)
		}
	}
	if got := s.State(t).User.Requests[sandbox.RouteIssueToken]; got != 5 {
		t.Errorf("got %d password checks at the user service, want 5", got)
	}
	if r := attempt(sandbox.Ada.Password, user); r.Status != 200 {
		t.Errorf("login from another address: got status %d, want 200", r.Status)
	}
}
