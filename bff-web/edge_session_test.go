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
	cookie := []string{"Cookie", sessionCookieName() + "=a-session-the-store-cannot-look-up"}
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
