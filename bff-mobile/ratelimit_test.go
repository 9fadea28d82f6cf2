package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// wantLimited checks a 429 answer: a rate_limited problem, Retry-After
// within (full-elapsed, full] seconds, and the RateLimit fields of policy
// with nothing remaining.
func wantLimited(t *testing.T, r servertest.Response, policy string, perRequest, window, elapsed time.Duration) {
	t.Helper()
	if r.Status != 429 {
		t.Fatalf("got status %d, want 429; body %s", r.Status, r.Body)
	}
	if p := r.Problem(t); p["code"] != "rate_limited" {
		t.Errorf("got problem %v, want rate_limited", p)
	}
	within := func(name, got string, full time.Duration) {
		t.Helper()
		n, err := strconv.Atoi(got)
		lo := int((full - elapsed) / time.Second)
		if err != nil || n < lo || n > int(full/time.Second) {
			t.Errorf("got %s %q, want %d..%d", name, got, lo, int(full/time.Second))
		}
	}
	within("Retry-After", r.Header.Get("Retry-After"), perRequest)
	rl := r.Header.Get("RateLimit")
	prefix := fmt.Sprintf("%q;r=0;t=", policy)
	if !strings.HasPrefix(rl, prefix) {
		t.Fatalf("got RateLimit %q, want %s...", rl, prefix)
	}
	within("RateLimit t", strings.TrimPrefix(rl, prefix), window)
}

// TestOrderRateLimit spends ada's order quota: the N+1th order in the
// window is a 429 with Retry-After and the RateLimit fields and places
// nothing; grace's orders and ada's reads are unaffected.
func TestOrderRateLimit(t *testing.T) {
	// Three orders per hour: one comes back every 20 minutes, so the wall
	// time the test takes moves Retry-After by seconds at most.
	s := startStack(t, "RATE_LIMIT_ORDER_REQUESTS", "3", "RATE_LIMIT_ORDER_WINDOW", "1h")
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	grace := s.login(t, sandbox.Grace.Email, sandbox.Grace.Password)
	start := time.Now()
	for i := range 3 {
		r := s.order(t, ada, orderBody("tok_visa", line(3, 1)))
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
	wantLimited(t, s.order(t, ada, orderBody("tok_visa", line(3, 1))), "orders", 20*time.Minute, time.Hour, time.Since(start)+time.Second)

	if r := s.order(t, grace, orderBody("tok_visa", line(3, 1))); r.Status != 201 {
		t.Errorf("grace's order: got status %d, want 201", r.Status)
	}
	r := servertest.Do(t, "GET", s.base+"/v1/orders", nil, "Authorization", ada)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("RateLimit-Policy"), `"default";`) {
		t.Errorf("ada's reads: got status %d RateLimit-Policy %q, want 200 under the default policy", r.Status, r.Header.Get("RateLimit-Policy"))
	}
	st := s.rt.CheckInvariants(t)
	if got := len(st.Order.Orders); got != 4 {
		t.Errorf("got %d orders, want 4 (three of ada's, one of grace's)", got)
	}
	metrics := servertest.Do(t, "GET", s.base+"/metrics", nil)
	if want := `bff_rate_limited_total{policy="orders"} 1`; !strings.Contains(string(metrics.Body), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestLoginBruteForceIsCutOff tries passwords from one client address: after
// the login quota every attempt is a 429, even with the right password, and
// never reaches the user service; a client at another address still logs in.
func TestLoginBruteForceIsCutOff(t *testing.T) {
	s := startStack(t, "RATE_LIMIT_LOGIN_REQUESTS", "5", "RATE_LIMIT_LOGIN_WINDOW", "1h",
		"RATE_LIMIT_CLIENT_IP_HEADER", "X-Forwarded-For")
	attempt := func(password, clientIP string) servertest.Response {
		return servertest.Do(t, "POST", s.base+"/v1/auth/token",
			map[string]string{"email": sandbox.Ada.Email, "password": password}, "X-Forwarded-For", clientIP)
	}
	const attacker, user = "203.0.113.66", "198.51.100.7"
	start := time.Now()
	for i := range 5 {
		if r := attempt(fmt.Sprintf("guess-%d", i), attacker); r.Status != 401 {
			t.Fatalf("guess %d: got status %d, want 401", i, r.Status)
		}
	}
	for i := range 3 {
		wantLimited(t, attempt("correct-horse", attacker), "login", 12*time.Minute, time.Hour, time.Since(start)+time.Second)
		if t.Failed() {
			t.Fatalf("attempt %d past the quota", 6+i)
		}
	}
	st, err := s.rt.FetchState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.User.Requests["POST /auth/token"]; got != 5 {
		t.Errorf("got %d password checks at the user service, want 5", got)
	}
	if r := attempt(sandbox.Ada.Password, user); r.Status != 200 {
		t.Errorf("login from another address: got status %d, want 200", r.Status)
	}
}

// TestEveryRouteCarriesRateLimitFields checks that each limited route
// describes its policy, with the caller's state, on success and on refusal.
func TestEveryRouteCarriesRateLimitFields(t *testing.T) {
	s := startStack(t)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	placed := s.order(t, ada, orderBody("tok_visa", line(5, 1)))
	var o orderView
	placed.JSON(t, &o)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		auth   string
		policy string
	}{
		{"login", "POST", "/v1/auth/token", map[string]string{"email": sandbox.Ada.Email, "password": "wrong"}, "", "login"},
		{"order", "POST", "/v1/orders", orderBody("tok_visa", line(5, 1)), ada, "orders"},
		{"refused order", "POST", "/v1/orders", "{", ada, "orders"},
		{"orders", "GET", "/v1/orders", nil, ada, "default"},
		{"one order", "GET", "/v1/orders/" + o.ID, nil, ada, "default"},
		{"missing order", "GET", "/v1/orders/ord_missing", nil, ada, "default"},
		{"products", "GET", "/v1/products", nil, "", "default"},
		{"one product", "GET", "/v1/products/1", nil, "", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, tt.method, s.base+tt.path, tt.body, "Authorization", tt.auth, "Idempotency-Key", newKey())
			prefix := fmt.Sprintf("%q;", tt.policy)
			if p, rl := r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"); !strings.HasPrefix(p, prefix) || !strings.HasPrefix(rl, prefix) {
				t.Errorf("status %d: got RateLimit-Policy %q and RateLimit %q, want both for %s", r.Status, p, rl, tt.policy)
			}
		})
	}
	if r := servertest.Do(t, "GET", s.base+"/healthz", nil); r.Header.Get("RateLimit") != "" {
		t.Errorf("got RateLimit %q on /healthz, want none: probes are not metered", r.Header.Get("RateLimit"))
	}
}
