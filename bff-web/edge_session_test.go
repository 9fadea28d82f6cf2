package main

import (
	"net"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// deadRedisURL is the URL of a Redis that is not running: a loopback port
// nothing listens on any more, so that every call is refused at once.
func deadRedisURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "redis://" + addr
}

// sessionCookieName is the session cookie's name under shop's settings
// (BFF_COOKIE_SECURE=false: no __Host- prefix).
func sessionCookieName() string {
	sc := defaultConfig().Session
	sc.Secure = false
	id, _ := sc.cookieNames()
	return id
}

// TestSessionStoreDownIsRetryable: with the session store unreachable,
// every session route answers 503 with Retry-After, as every 503 does, so
// that a client knows when to come back rather than hammering at once.
func TestSessionStoreDownIsRetryable(t *testing.T) {
	s := startStack(t, "REDIS_URL", deadRedisURL(t))
	// Of the shape of a session id: one of another shape is refused
	// without asking the store.
	cookie := []string{"Cookie", sessionCookieName() + "=a-session-the-store-cannot-look-up-00000000"}
	login := map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}
	calls := []struct {
		method, path string
		body         any
		headers      []string
	}{
		{"GET", "/api/me", nil, cookie},
		{"POST", "/api/session", login, nil},
		{"DELETE", "/api/session", nil, cookie},
	}
	for _, c := range calls {
		r := servertest.Do(t, c.method, s.Base+c.path, c.body, c.headers...)
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the session store down: %d, Retry-After %q (%s); want 503 with Retry-After",
				c.method, c.path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
}

// TestEvery401HasAChallenge: a 401 of bff-web's own, for a cookie naming
// no live session or for an account gone at checkout, names how to
// authenticate in WWW-Authenticate (RFC 9110 §11.6.1), as the 401 of a
// request without a credential does.
func TestEvery401HasAChallenge(t *testing.T) {
	s, ada := startAsAda(t)
	const challenge = `Bearer realm="storefront"`
	check := func(what string, r servertest.Response) {
		t.Helper()
		if got := r.Header.Values("WWW-Authenticate"); r.Status != 401 || len(got) != 1 || got[0] != challenge {
			t.Errorf("%s: %d with WWW-Authenticate %q (%s), want 401 with %q", what, r.Status, got, r.Body, challenge)
		}
	}
	check("no credential", servertest.Do(t, "GET", s.Base+"/api/me", nil))
	check("a cookie naming no session",
		servertest.Do(t, "GET", s.Base+"/api/me", nil, "Cookie", sessionCookieName()+"=a-session-that-never-was"))

	s.Inject(t, "user", sandbox.Fault{Route: sandbox.RouteUser, Status: 404})
	r := s.order(t, ada, orderBody("tok_visa", line(1, 1)))
	if p := r.Problem(t); p["detail"] != "The account no longer exists." {
		t.Fatalf("an order of an account gone: %d %s, want the 401 of an account gone", r.Status, r.Body)
	}
	check("an account gone at checkout", r)
}
