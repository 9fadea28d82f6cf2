package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redistest"
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

// TestAShedCatalogReadLooksUpNoSession: admission control takes a catalog
// read in before its session cookie is looked up, so that a read shed
// under overload costs the session store nothing; an admitted one looks
// its session up, so that its quota is its user's. The store's commands
// are watched with Redis MONITOR, by the test's own key prefix.
func TestAShedCatalogReadLooksUpNoSession(t *testing.T) {
	prefix, url := redistest.Prefix(t), redistest.URL(t)
	// A fixed limit of 2, of which the catalog's class may fill half.
	s, ada := startAsAda(t, "REDIS_URL", url, "REDIS_KEY_PREFIX", prefix,
		"ADMISSION_MIN_LIMIT", "2", "ADMISSION_INITIAL_LIMIT", "2", "ADMISSION_MAX_LIMIT", "2")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })

	// One anonymous read holds the catalog's place.
	s.Inject(t, "product", sandbox.Fault{Route: sandbox.RouteProduct, LatencyMS: 3000, Count: 1})
	held := make(chan servertest.Response, 1)
	go func() { held <- servertest.Do(t, "GET", s.Base+"/api/products/1", nil) }()
	waitFor(t, "the held read admitted", func() bool {
		return strings.Contains(servertest.Metrics(t, s.Base), "bff_admission_in_flight 1\n")
	})

	sessionGets := func(read func()) int {
		t.Helper()
		lines := monitor(t, opts.Addr)
		read()
		// Every command sent before the sentinel has been seen once it is.
		sentinel := prefix + "sentinel"
		client.Get(context.Background(), sentinel)
		n := 0
		for l := range lines {
			if strings.Contains(l, sentinel) {
				return n
			}
			if strings.Contains(l, `"get" "`+prefix+"session:") {
				n++
			}
		}
		t.Fatal("MONITOR ended before it showed the sentinel")
		return 0
	}
	if n := sessionGets(func() {
		r := servertest.Do(t, "GET", s.Base+"/api/products/2", nil, ada.headers(reading)...)
		if p := r.Problem(t); r.Status != 503 || p["code"] != "overloaded" {
			t.Fatalf("a catalog read beside a held one: %d %s, want 503 overloaded", r.Status, r.Body)
		}
	}); n != 0 {
		t.Errorf("the shed read looked its session up %d times, want none", n)
	}

	// Its answer (a 504 once its deadline passes) frees the place.
	<-held
	if n := sessionGets(func() {
		if r := servertest.Do(t, "GET", s.Base+"/api/products/2", nil, ada.headers(reading)...); r.Status != 200 {
			t.Fatalf("a catalog read alone: %d %s", r.Status, r.Body)
		}
	}); n != 1 {
		t.Errorf("the admitted read looked its session up %d times, want once", n)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// monitor sends MONITOR to the Redis at addr and returns the commands it
// reports from then on, until the test ends or 10 s pass.
func monitor(t *testing.T, addr string) <-chan string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	// Commands are reported once the +OK is.
	if l, err := r.ReadString('\n'); err != nil || l != "+OK\r\n" {
		t.Fatalf("MONITOR: %q, %v", l, err)
	}
	lines, done := make(chan string), make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		defer close(lines)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			select {
			case lines <- l:
			case <-done:
				return
			}
		}
	}()
	return lines
}
