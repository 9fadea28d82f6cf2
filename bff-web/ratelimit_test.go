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

// wantLimited checks a 429 answer of policy: a rate_limited problem with
// Retry-After at most perRequest and at least perRequest minus the time the
// test has taken, and the RateLimit field with nothing remaining.
func wantLimited(t *testing.T, r servertest.Response, policy string, perRequest, elapsed time.Duration) {
	t.Helper()
	if r.Status != 429 {
		t.Fatalf("got status %d, want 429; body %s", r.Status, r.Body)
	}
	if p := r.Problem(t); p["code"] != "rate_limited" {
		t.Errorf("got problem %v, want rate_limited", p)
	}
	got, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if lo, hi := int((perRequest-elapsed)/time.Second), int(perRequest/time.Second); err != nil || got < lo || got > hi {
		t.Errorf("got Retry-After %q, want %d..%d", r.Header.Get("Retry-After"), lo, hi)
	}
	if rl := r.Header.Get("RateLimit"); !strings.HasPrefix(rl, fmt.Sprintf("%q;r=0;t=", policy)) {
		t.Errorf("got RateLimit %q, want %q with r=0", rl, policy)
	}
}

// TestLoginBruteForceIsCutOff guesses ada's password through the session
// route: past the login quota every attempt is a 429, the right password
// included, and no further attempt reaches the user service.
func TestLoginBruteForceIsCutOff(t *testing.T) {
	s := startStack(t, "RATE_LIMIT_LOGIN_REQUESTS", "3", "RATE_LIMIT_LOGIN_WINDOW", "1h")
	start := time.Now()
	for i := range 3 {
		r := servertest.Do(t, "POST", s.base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": fmt.Sprintf("guess-%d", i)})
		if r.Status != 401 {
			t.Fatalf("guess %d: got status %d, want 401", i, r.Status)
		}
		if got, want := r.Header.Get("RateLimit-Policy"), `"login";q=3;w=3600`; got != want {
			t.Errorf("guess %d: got RateLimit-Policy %q, want %q", i, got, want)
		}
	}
	for range 3 {
		r := servertest.Do(t, "POST", s.base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
		wantLimited(t, r, "login", 20*time.Minute, time.Since(start)+time.Second)
		if len(r.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("got cookies %v on a refused login", r.Header.Values("Set-Cookie"))
		}
	}
	st, err := s.rt.FetchState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.User.Requests["POST /auth/token"]; got != 3 {
		t.Errorf("got %d password checks at the user service, want 3", got)
	}
}

// TestOrderRateLimit spends ada's order quota through her cookie session;
// grace, in another session, is unaffected.
func TestOrderRateLimit(t *testing.T) {
	s := startStack(t, "RATE_LIMIT_ORDER_REQUESTS", "2", "RATE_LIMIT_ORDER_WINDOW", "1h")
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	grace := s.login(t, sandbox.Grace.Email, sandbox.Grace.Password)
	start := time.Now()
	for i := range 2 {
		if r := s.order(t, ada, orderBody("tok_visa", line(8, 1))); r.Status != 201 {
			t.Fatalf("order %d: got status %d, want 201; body %s", i+1, r.Status, r.Body)
		}
	}
	wantLimited(t, s.order(t, ada, orderBody("tok_visa", line(8, 1))), "orders", 30*time.Minute, time.Since(start)+time.Second)
	if r := s.order(t, grace, orderBody("tok_visa", line(8, 1))); r.Status != 201 {
		t.Errorf("grace's order: got status %d, want 201", r.Status)
	}
	if got := s.orders(t); got != 3 {
		t.Errorf("got %d orders, want 3", got)
	}
}
