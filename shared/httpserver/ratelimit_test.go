package httpserver_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/redisstore"
)

// subjectVerifier accepts any token and makes it the subject, so a test
// picks its user by the token it sends.
type subjectVerifier struct{}

func (subjectVerifier) Verify(_ context.Context, token string) (auth.Claims, error) {
	return auth.Claims{Subject: strings.Clone(token)}, nil // the token is the request's
}

// limitedServer serves GET /anon and GET /me (authenticated) under one
// policy of 2 requests per 10s.
func limitedServer(t *testing.T, edit func(*httpserver.Config), l httpserver.Limiter) (*testServer, ratelimit.Policy) {
	t.Helper()
	p := ratelimit.Policy{Name: "tight", Quota: 2, Window: 10 * time.Second}
	s := newServer(t, edit)
	limit := s.RateLimit(l, p)
	ok := func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"user": httpserver.UserID(c)}) }
	s.App.Get("/anon", limit, ok)
	s.App.Get("/me", httpserver.RequireUser(subjectVerifier{}, nil), limit, ok)
	s.start(t)
	return s, p
}

func TestRateLimitAnswers(t *testing.T) {
	clk := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _ := limitedServer(t, nil, ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(clk.Now)))
	ada := []string{"Authorization", "Bearer usr_ada"}
	grace := []string{"Authorization", "Bearer usr_grace"}
	steps := []struct {
		name       string
		path       string
		headers    []string
		advance    time.Duration
		status     int
		rateLimit  string
		retryAfter string
	}{
		{"ada's first", "/me", ada, 0, 200, `"tight";r=1;t=5`, ""},
		{"ada's second", "/me", ada, 0, 200, `"tight";r=0;t=10`, ""},
		{"ada's third is over", "/me", ada, 0, 429, `"tight";r=0;t=10`, "5"},
		{"grace is unaffected", "/me", grace, 0, 200, `"tight";r=1;t=5`, ""},
		{"anonymous callers are counted apart", "/anon", nil, 0, 200, `"tight";r=1;t=5`, ""},
		{"ada still refused 4s later", "/me", ada, 4 * time.Second, 429, `"tight";r=0;t=6`, "1"},
		{"ada after Retry-After", "/me", ada, time.Second, 200, `"tight";r=0;t=10`, ""},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		r := servertest.Do(t, "GET", s.base+st.path, nil, st.headers...)
		if r.Status != st.status {
			t.Fatalf("%s: got status %d, want %d; body %s", st.name, r.Status, st.status, r.Body)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"tight";q=2;w=10` {
			t.Errorf("%s: got RateLimit-Policy %q, want %q", st.name, got, `"tight";q=2;w=10`)
		}
		if got := r.Header.Get("RateLimit"); got != st.rateLimit {
			t.Errorf("%s: got RateLimit %q, want %q", st.name, got, st.rateLimit)
		}
		if got := r.Header.Get("Retry-After"); got != st.retryAfter {
			t.Errorf("%s: got Retry-After %q, want %q", st.name, got, st.retryAfter)
		}
		if st.status == 429 {
			if p := r.Problem(t); p["code"] != "rate_limited" || p["status"] != float64(429) {
				t.Errorf("%s: got problem %v, want rate_limited 429", st.name, p)
			}
		}
	}
	if got := s.counter(t, "bff_rate_limited_total", "policy", "tight"); got != 2 {
		t.Errorf("got %v rejections counted, want 2", got)
	}
}

// TestRateLimitClientAddress checks which address an anonymous caller is
// counted by: the connection's, unless a trusted proxy header is configured,
// and then the last address of that header's last line, which a client
// cannot forge, with or without a port, in X-Forwarded-For's form or
// Forwarded's (quoted strings honoured: a host the client sent cannot name
// another client); an IPv6 client by its /64. A last hop that is no
// address counts as the proxy, not by a name a client could vary.
func TestRateLimitClientAddress(t *testing.T) {
	const xff, fwd = "X-Forwarded-For", "Forwarded"
	tests := []struct {
		name   string
		header string
		first  []string // header lines of the two requests that spend the quota
		third  []string // header lines of the third request
		status int
	}{
		{"header ignored by default", "", []string{"203.0.113.1"}, []string{"203.0.113.2"}, 429},
		{"another proxied client", xff, []string{"203.0.113.1"}, []string{"203.0.113.2"}, 200},
		{"same proxied client", xff, []string{"203.0.113.1"}, []string{"203.0.113.1"}, 429},
		{"forged first hop does not escape", xff, []string{"198.51.100.7, 203.0.113.1"}, []string{"10.9.9.9, 203.0.113.1"}, 429},
		{"last hop decides", xff, []string{"203.0.113.1, 198.51.100.7"}, []string{"203.0.113.1, 198.51.100.8"}, 200},
		{"forged line before the proxy's does not escape", xff, []string{"10.9.9.1", "203.0.113.1"}, []string{"10.9.9.2", "203.0.113.1"}, 429},
		{"the proxy's line decides", xff, []string{"10.9.9.1", "203.0.113.1"}, []string{"10.9.9.1", "203.0.113.2"}, 200},
		{"one IPv6 /64 counts once", xff, []string{"2001:db8:1:2::1"}, []string{"2001:db8:1:2:ffff::9"}, 429},
		{"another IPv6 /64", xff, []string{"2001:db8:1:2::1"}, []string{"2001:db8:1:3::1"}, 200},
		{"another client with a port", xff, []string{"198.51.100.1:50123"}, []string{"203.0.113.9:40000"}, 200},
		{"same client, another port", xff, []string{"198.51.100.1:50123"}, []string{"198.51.100.1:40000"}, 429},
		{"another IPv6 client in brackets", xff, []string{"[2001:db8::1]"}, []string{"[2001:db9::1]:443"}, 200},
		{"same IPv6 client in brackets", xff, []string{"[2001:db8::1]:80"}, []string{"2001:db8::1"}, 429},
		{"another client by Forwarded", fwd, []string{"for=198.51.100.1;proto=https"}, []string{`for="203.0.113.9:4711"`}, 200},
		{"same client by Forwarded", fwd, []string{"for=192.0.2.1, for=198.51.100.1"}, []string{`for="[::ffff:198.51.100.1]";proto=http`}, 429},
		{"a name that is no address counts as the proxy", xff, []string{"not-an-ip"}, []string{"still-not"}, 429},
		{"an obfuscated node counts as the proxy", fwd, []string{"for=_hidden"}, []string{"for=_other"}, 429},
		{"a comma in a quoted host does not split", fwd, []string{"for=198.51.100.7"}, []string{`for=198.51.100.7;host="shop.example, for=203.0.113.1"`}, 429},
		{"a semicolon in a quoted host does not split", fwd, []string{"for=198.51.100.7"}, []string{`host="shop.example;for=203.0.113.1";for=198.51.100.7`}, 429},
		{"a quote the client left open does not swallow the proxy's element", fwd, []string{"for=198.51.100.7"}, []string{`for=9.9.9.9;x=", for=198.51.100.7`}, 429},
		{"X-Forwarded-For has no quoted strings", xff, []string{"198.51.100.7"}, []string{`for=9.9.9.9;", 198.51.100.7`}, 429},
		{"an escaped quote stays in its string", fwd, []string{"for=198.51.100.7"}, []string{`for=198.51.100.7;host="a\", for=203.0.113.1"`}, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := limitedServer(t, func(c *httpserver.Config) { c.ClientIPHeader = tt.header }, ratelimit.NewMemory(ratelimit.DefaultConfig()))
			sent := cmp.Or(tt.header, xff)
			for range 2 {
				if r := servertest.DoLines(t, "GET", s.base+"/anon", nil, http.Header{sent: tt.first}); r.Status != 200 {
					t.Fatalf("got status %d spending the quota, want 200", r.Status)
				}
			}
			if r := servertest.DoLines(t, "GET", s.base+"/anon", nil, http.Header{sent: tt.third}); r.Status != tt.status {
				t.Errorf("got status %d, want %d", r.Status, tt.status)
			}
		})
	}
}

// silentServer is the address of a server that takes connections and never
// answers: a Redis paused, or cut off in a failover.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRateLimitOfAStoreThatHangs: a Redis that takes the connection and
// never answers costs a request a short wait, not its deadline: the read
// goes on, metered by the replica, and so do the requests after it, which
// do not wait on the store while it rests.
func TestRateLimitOfAStoreThatHangs(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: silentServer(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	p := ratelimit.Policy{Name: "tight", Quota: 10, Window: 10 * time.Second}
	s := newServer(t, nil)
	s.App.Get("/anon", httpserver.ReadDeadline(3*time.Second), s.RateLimit(redisstore.NewRateLimit(client, "sf:rl:test:"), p),
		func(c *fiber.Ctx) error {
			if err := c.UserContext().Err(); err != nil {
				return problem.Wrap(err, problem.CodeTimeout, "The read's deadline passed before it started.")
			}
			return c.SendString("ok")
		})
	s.start(t)
	for i := range 3 {
		if r := servertest.Do(t, "GET", s.base+"/anon", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d with the store silent: status %d, want 200; body %s", i, r.Status, r.Body)
		}
	}
	if got := s.counter(t, "bff_rate_limit_local_total", "policy", "tight"); got != 3 {
		t.Errorf("got %v requests metered by the replica, want 3", got)
	}
}

type failingLimiter struct{}

func (failingLimiter) Take(context.Context, ratelimit.Policy, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("store unreachable")
}

// flakyLimiter fails while down is set, and otherwise counts its checks
// and admits every one.
type flakyLimiter struct {
	down   atomic.Bool
	checks atomic.Int64
}

func (f *flakyLimiter) Take(_ context.Context, p ratelimit.Policy, _ string) (ratelimit.Decision, error) {
	if f.down.Load() {
		return ratelimit.Decision{}, errors.New("store unreachable")
	}
	f.checks.Add(1)
	return ratelimit.Decision{Allowed: true, Remaining: p.Quota}, nil
}

// TestRateLimitStoreBackAfterItsRest: a store that failed is left alone
// for its rest, even once it works again, and is used again after it.
func TestRateLimitStoreBackAfterItsRest(t *testing.T) {
	store := &flakyLimiter{}
	store.down.Store(true)
	s, _ := limitedServer(t, nil, store)
	get := func() { servertest.Do(t, "GET", s.base+"/anon", nil) }
	get()
	store.down.Store(false)
	get()
	if n := store.checks.Load(); n != 0 {
		t.Errorf("the store was asked %d times during its rest, want none", n)
	}
	time.Sleep(1100 * time.Millisecond)
	get()
	get()
	if n := store.checks.Load(); n != 2 {
		t.Errorf("the store was asked %d times after its rest, want 2", n)
	}
	if got := s.counter(t, "bff_rate_limit_local_total", "policy", "tight"); got != 2 {
		t.Errorf("got %v requests metered by the replica, want the 2 of the rest", got)
	}
}

// TestRateLimitFallsBackToTheReplica: while the shared store fails, the
// replica's own buckets meter the requests, so that a store down (or made
// slow by a client) never switches the limits off; the failure is logged
// once, and the requests during the store's rest are not tried on it.
func TestRateLimitFallsBackToTheReplica(t *testing.T) {
	s, _ := limitedServer(t, nil, failingLimiter{})
	for i, want := range []int{200, 200, 429, 429, 429} {
		r := servertest.Do(t, "GET", s.base+"/anon", nil)
		if r.Status != want || r.Header.Get("RateLimit") == "" {
			t.Fatalf("request %d: got status %d RateLimit %q, want %d with the replica's fields", i, r.Status, r.Header.Get("RateLimit"), want)
		}
	}
	if got := len(s.logs.entries(t, "rate limits counted by this replica alone")); got != 1 {
		t.Errorf("got %d warnings, want 1", got)
	}
	if got := s.counter(t, "bff_rate_limit_local_total", "policy", "tight"); got != 5 {
		t.Errorf("got %v requests metered by the replica, want 5", got)
	}
}

func TestRateLimitDisabledPolicy(t *testing.T) {
	s := newServer(t, nil)
	s.App.Get("/free", s.RateLimit(ratelimit.NewMemory(ratelimit.DefaultConfig()), ratelimit.Policy{Name: "off"}), func(c *fiber.Ctx) error { return c.SendStatus(204) })
	s.start(t)
	for i := range 20 {
		if r := servertest.Do(t, "GET", s.base+"/free", nil); r.Status != 204 || r.Header.Get("RateLimit-Policy") != "" {
			t.Fatalf("request %d: got %d with RateLimit-Policy %q, want 204 without", i, r.Status, r.Header.Get("RateLimit-Policy"))
		}
	}
}

// refusingVerifier refuses every token but "expired-…" ones as forged,
// and those as expired, the way auth.Verifier does.
type refusingVerifier struct{}

func (refusingVerifier) Verify(_ context.Context, token string) (auth.Claims, error) {
	if strings.HasPrefix(token, "expired-") {
		return auth.Claims{}, problem.Wrap(auth.ErrTokenExpired, problem.CodeUnauthenticated, "token expired")
	}
	return auth.Claims{}, problem.Wrap(errors.New("bad signature"), problem.CodeUnauthenticated, "invalid signature")
}

// TestRefusedCredentialsAreMetered: a refused token is charged to its
// address under the policy, and is a 429 once the address is over it; an
// expired one, whose signature was good, is not charged.
func TestRefusedCredentialsAreMetered(t *testing.T) {
	clk := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	p := ratelimit.Policy{Name: "login", Quota: 2, Window: time.Minute}
	s := newServer(t, nil)
	l := ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(clk.Now))
	s.App.Get("/me", httpserver.RequireUser(refusingVerifier{}, s.Refused(l, p)), func(c *fiber.Ctx) error { return c.SendStatus(200) })
	s.start(t)
	for i, want := range []int{401, 401, 401, 401} {
		r := servertest.Do(t, "GET", s.base+"/me", nil, "Authorization", fmt.Sprintf("Bearer expired-%d", i))
		if r.Status != want {
			t.Fatalf("expired token %d: status %d, want %d: an expired token is not charged", i, r.Status, want)
		}
	}
	for i, want := range []int{401, 401, 429, 429} {
		r := servertest.Do(t, "GET", s.base+"/me", nil, "Authorization", fmt.Sprintf("Bearer forged-%d", i))
		if r.Status != want {
			t.Fatalf("forged token %d: status %d, want %d", i, r.Status, want)
		}
		if want == 429 && (r.Header.Get("Retry-After") == "" || r.Problem(t)["code"] != "rate_limited") {
			t.Errorf("forged token %d: Retry-After %q, problem %s; want a rate_limited problem with Retry-After", i, r.Header.Get("Retry-After"), r.Body)
		}
	}
	if r := servertest.Do(t, "GET", s.base+"/me", nil); r.Status != 401 {
		t.Errorf("no token at all: status %d, want 401 (nothing verified, nothing charged)", r.Status)
	}
}
