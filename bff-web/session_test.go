package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/auth"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	serversession "storefront.dev/shared/session"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/user"
)

// startWithTokenTTL is startStack in front of a sandbox whose access tokens
// live ttl.
func startWithTokenTTL(t *testing.T, ttl time.Duration, extra ...string) *stack {
	t.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, TokenTTL: ttl})
	base := servertest.Start(t, run, servertest.StackEnv(rt, append(append([]string(nil), shop.Settings...), extra...)...))
	return &stack{&servertest.Stack{Running: rt, Clock: clock, Base: base}}
}

// TestCatalogReadsLeaveTheSessionAlone: a catalog read with the cookie of
// a session whose token is due for a refresh only looks at the session:
// it refreshes nothing (a public read never waits on the user service),
// while a read of the user's own data does.
func TestCatalogReadsLeaveTheSessionAlone(t *testing.T) {
	s := startWithTokenTTL(t, 2*time.Second)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	refreshes := func() int { return s.State(t).User.Requests["POST /auth/refresh"] }
	time.Sleep(1700 * time.Millisecond) // within the token's last quarter
	for _, path := range []string{"/api/products/1", "/api/products"} {
		if r := servertest.Do(t, "GET", s.Base+path, nil, ada.headers(reading)...); r.Status != 200 {
			t.Fatalf("GET %s: %d, want 200", path, r.Status)
		}
	}
	if n := refreshes(); n != 0 {
		t.Errorf("catalog reads refreshed the session's token %d times, want none", n)
	}
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != 200 || refreshes() != 1 {
		t.Errorf("GET /api/orders: %d after %d refreshes, want 200 after one", r.Status, refreshes())
	}
}

// TestSessionOutlivesItsAccessToken: past its access token's expiry a
// session goes on, its token refreshed once on the server for a burst of
// concurrent requests; logout revokes the refresh token upstream, and the
// old cookie, replayed, is refused.
func TestSessionOutlivesItsAccessToken(t *testing.T) {
	s := startWithTokenTTL(t, 2*time.Second)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	refreshes := func() int { return s.State(t).User.Requests["POST /auth/refresh"] }

	for round := 1; round <= 2; round++ {
		time.Sleep(1700 * time.Millisecond) // within the token's last quarter, or past it
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...).Status
			}()
		}
		wg.Wait()
		for i, st := range statuses {
			if st != 200 {
				t.Errorf("round %d, request %d past the token's expiry: %d, want 200", round, i, st)
			}
		}
		if got := refreshes(); got != round {
			t.Errorf("round %d: %d refreshes at the user service, want %d: one per expiry, however many requests", round, got, round)
		}
	}

	if r := servertest.Do(t, "DELETE", s.Base+"/api/session", nil, ada.headers(reading)...); r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if got := s.State(t).User.Requests["POST /auth/revoke"]; got != 1 {
		t.Errorf("%d revocations at the user service after logout, want 1", got)
	}
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != 401 {
		t.Errorf("the old cookie replayed after logout: %d, want 401", r.Status)
	}
}

// TestSessionSurvivesRestart logs in, stops the BFF and starts it again on
// the same state directory: the cookie still opens the session.
func TestSessionSurvivesRestart(t *testing.T) {
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now})
	env := servertest.StackEnv(rt, append(append([]string(nil), shop.Settings...), "STATE_DIR", t.TempDir())...)
	s := &stack{&servertest.Stack{Running: rt, Clock: clock, Base: servertest.Start(t, run, env)}}
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	servertest.Stop(t, s.Base)

	s.Base = servertest.Start(t, run, env)
	if r := servertest.Do(t, "GET", s.Base+"/api/me", nil, ada.headers(reading)...); r.Status != 200 {
		t.Errorf("the session after a restart: %d %s, want 200", r.Status, r.Body)
	}
}

// TestSessionIdleTimeout: a session unused for SESSION_IDLE_TIMEOUT ends.
func TestSessionIdleTimeout(t *testing.T) {
	s := startStack(t, "SESSION_IDLE_TIMEOUT", "1s")
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != 200 {
		t.Fatalf("a fresh session: %d", r.Status)
	}
	time.Sleep(1200 * time.Millisecond)
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != 401 {
		t.Errorf("a session idle past its timeout: %d, want 401", r.Status)
	}
}

// TestLoginEndsTheSessionItReplaces: a browser that logs in again, its old
// session cookie still sent, gets a new session, and the old one ends on
// the server.
func TestLoginEndsTheSessionItReplaces(t *testing.T) {
	s := startStack(t)
	first := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	r := servertest.Do(t, "POST", s.Base+"/api/session",
		map[string]string{"email": sandbox.Grace.Email, "password": sandbox.Grace.Password}, "Cookie", first.cookieHeader())
	if r.Status != 200 {
		t.Fatalf("second login: %d %s", r.Status, r.Body)
	}
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, first.headers(reading)...); r.Status != 401 {
		t.Errorf("the replaced session's cookie: %d, want 401", r.Status)
	}
}

// TestSessionsSharedAcrossReplicas runs two replicas on one Redis: a
// session made on one is the other's too, and a burst on both past the
// access token's expiry refreshes it once (a refresh token is good once:
// a second refresh would revoke the session).
func TestSessionsSharedAcrossReplicas(t *testing.T) {
	shared := []string{"REDIS_URL", redistest.URL(t), "REDIS_KEY_PREFIX", redistest.Prefix(t)}
	s := startWithTokenTTL(t, 2*time.Second, shared...)
	other := servertest.Start(t, run, servertest.StackEnv(s.Running, append(append([]string(nil), shop.Settings...), shared...)...))
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	if r := servertest.Do(t, "GET", other+"/api/me", nil, ada.headers(reading)...); r.Status != 200 {
		t.Fatalf("the session on the other replica: %d %s", r.Status, r.Body)
	}
	// The user service's clock moves with the BFFs': a refreshed token
	// is issued now, not when the stack started.
	time.Sleep(1700 * time.Millisecond)
	s.Clock.Advance(1700 * time.Millisecond)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		base := []string{s.Base, other}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = servertest.Do(t, "GET", base+"/api/orders", nil, ada.headers(reading)...).Status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d past the token's expiry: %d, want 200", i, st)
		}
	}
	if got := s.State(t).User.Requests["POST /auth/refresh"]; got != 1 {
		t.Errorf("%d refreshes across the two replicas, want 1", got)
	}
}

// TestLoginRefusesAnotherUsersProfile: a user service that answers another
// user's record for the one who logged in (a mixed-up cache in front of
// it) gets a 503, as on /api/me, not a login showing that user's data.
func TestLoginRefusesAnotherUsersProfile(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	target, err := url.Parse(rt.UserURL)
	if err != nil {
		t.Fatal(err)
	}
	mixed := httputil.NewSingleHostReverseProxy(target)
	direct := mixed.Director
	mixed.Director = func(r *http.Request) {
		direct(r)
		if r.URL.Path == "/users/"+sandbox.Ada.ID {
			r.URL.Path = "/users/" + sandbox.Grace.ID
		}
	}
	proxy := httptest.NewServer(mixed)
	t.Cleanup(proxy.Close)
	settings := append(append([]string(nil), shop.Settings...), "UPSTREAM_USER_URLS", proxy.URL)
	base := servertest.Start(t, run, servertest.StackEnv(rt, settings...))
	r := servertest.Do(t, "POST", base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	if p := r.Problem(t); r.Status != http.StatusServiceUnavailable || p["code"] != "upstream_unavailable" {
		t.Errorf("login answered with another user's record: status %d problem %v, want 503 upstream_unavailable", r.Status, p)
	}
	if strings.Contains(string(r.Body), sandbox.Grace.Email) {
		t.Errorf("the login's answer shows the other user's email: %s", r.Body)
	}
}

// TestALostRefreshAnswerKeepsTheSession: the user service rotates a
// session's refresh token but its answer is lost on the way back. The
// request is served by the access token, still good; the first request
// after it expired refreshes again, with the same key, and gets the new
// pair rather than the revocation a reused refresh token earns.
func TestALostRefreshAnswerKeepsTheSession(t *testing.T) {
	s := startWithTokenTTL(t, 2*time.Second)
	issueFromNow(s)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	s.Inject(t, "user", sandbox.Fault{Route: "POST /auth/refresh", Drop: true, After: true, Count: 1})
	// The sandbox's clock stands still: every token it issues expires at
	// the same whole second, and is refreshed in its last half second.
	expires := time.Unix(s.Clock.Now().Add(2*time.Second).Unix(), 0)
	time.Sleep(time.Until(expires.Add(-250 * time.Millisecond)))
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != http.StatusOK {
		t.Fatalf("the request whose refresh lost its answer: %d %s, want 200 on the token still good", r.Status, r.Body)
	}
	time.Sleep(time.Until(expires.Add(300 * time.Millisecond)))
	if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != http.StatusOK {
		t.Fatalf("the first request after the token expired: %d %s, want 200", r.Status, r.Body)
	}
	if n := s.State(t).User.Requests["POST /auth/refresh"]; n != 2 {
		t.Errorf("%d refreshes sent, want 2: the lost one and its retry", n)
	}
}

// issueFromNow moves the sandbox's standing clock from the stack's start
// to the next whole second, so that the tokens it issues from now on
// expire a whole token life from now, rather than a life less the
// stack's start (long on a loaded machine) and less the second's fraction.
func issueFromNow(s *stack) {
	s.Clock.Set(time.Now().Truncate(time.Second).Add(time.Second))
}

// loseARefreshAnswer starts a stack whose tokens last 4 s (leeway 1 s),
// logs Ada in, and sends a request 700 ms before her token expires whose
// refresh loses its answer. It returns the stack, a GET of her orders
// that must answer 200, and when that first token expires. The sandbox's
// clock stands still until told otherwise (see
// TestALostRefreshAnswerKeepsTheSession).
func loseARefreshAnswer(t *testing.T) (s *stack, get func(what string), expires time.Time) {
	t.Helper()
	s = startWithTokenTTL(t, 4*time.Second, "AUTH_LEEWAY", "1s")
	issueFromNow(s)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	s.Inject(t, "user", sandbox.Fault{Route: "POST /auth/refresh", Drop: true, After: true, Count: 1})
	get = func(what string) {
		t.Helper()
		if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", what, r.Status, r.Body)
		}
	}
	expires = time.Unix(s.Clock.Now().Add(4*time.Second).Unix(), 0)
	time.Sleep(time.Until(expires.Add(-700 * time.Millisecond)))
	get("the request whose refresh lost its answer")
	return s, get, expires
}

// TestAReplayedRefreshIsTimedByItsAge: a refresh whose answer was lost is
// sent again once the token expired, with its key, and the user service
// answers the pair it issued the first time. That access token is as old
// as that first refresh: the session does not take it for a new one, which
// it would keep past its real expiry (every request then refused, "log in
// again"), but refreshes once more with the refresh token it brought.
func TestAReplayedRefreshIsTimedByItsAge(t *testing.T) {
	s, get, expires := loseARefreshAnswer(t)
	time.Sleep(time.Until(expires.Add(400 * time.Millisecond)))
	s.Clock.Set(time.Now())
	get("the first request after the token expired")
	time.Sleep(time.Until(expires.Add(1500 * time.Millisecond))) // past the replayed token's exp and the leeway
	s.Clock.Set(time.Now())
	get("a request once the replayed token would have run out")
	if n := s.State(t).User.Requests["POST /auth/refresh"]; n != 3 {
		t.Errorf("%d refreshes sent, want 3: the lost one, its retry and one for the old pair it got", n)
	}
}

// TestAReplayedRefreshAlreadySpentIsRefreshedAgain: as above, but the
// user is away for longer than the token's life and the leeway, so the
// pair replayed when they come back holds an access token that has
// expired. The session does not keep it for the lifetime the service
// states beside it (every request refused, "log in again"): it refreshes
// once more, at once.
func TestAReplayedRefreshAlreadySpentIsRefreshedAgain(t *testing.T) {
	s, get, expires := loseARefreshAnswer(t)
	// Away past the exp of the token the lost refresh issued, and the leeway.
	time.Sleep(time.Until(expires.Add(2500 * time.Millisecond)))
	s.Clock.Set(time.Now())
	get("the first request after the pause")
	get("the next one")
	if n := s.State(t).User.Requests["POST /auth/refresh"]; n != 3 {
		t.Errorf("%d refreshes sent, want 3: the lost one, its retry and one for the spent pair it got", n)
	}
}

// TestALoginWhoseTokenDoesNotVerifyIsTheServices: the password is right,
// but the token the user service issues does not verify here (this BFF
// expects another audience). The user is told to retry later, not that the
// credentials failed, and the refresh token no session holds is revoked.
func TestALoginWhoseTokenDoesNotVerifyIsTheServices(t *testing.T) {
	s := startStack(t, "AUTH_AUDIENCE", "another-audience")
	r := servertest.Do(t, "POST", s.Base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	if r.Status != http.StatusServiceUnavailable || r.Problem(t)["code"] != "upstream_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("login: %d %s, want 503 upstream_unavailable with a Retry-After", r.Status, r.Body)
	}
	if n := s.State(t).User.Requests["POST /auth/revoke"]; n != 1 {
		t.Errorf("%d revocations, want the issued refresh token revoked", n)
	}
}

// overstating is a user service whose refreshes say their access token
// lasts an hour, whatever the token says.
type overstating struct{ serversession.Tokens }

func (o overstating) Refresh(ctx context.Context, refreshToken, retryKey string) (user.Token, error) {
	tok, err := o.Tokens.Refresh(ctx, refreshToken, retryKey)
	tok.ExpiresIn = 3600
	return tok, err
}

// TestARefreshedTokenLastsUntilItsOwnExpiry: a session refreshes its token
// by the token's own lifetime, as at login, not by the expires_in the user
// service answers beside it, which may say more: the session would keep
// the token past its end and answer 401 "log in again" instead of
// refreshing it. A BFF whose clock runs ahead of the service's, within the
// leeway, gets the same lifetime.
func TestARefreshedTokenLastsUntilItsOwnExpiry(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{TokenTTL: time.Minute})
	users := rt.Clients(t, upstream.DefaultConfig()).User
	cfg := auth.DefaultConfig()
	cfg.Leeway = 2 * time.Minute
	for _, skew := range []time.Duration{0, 80 * time.Second} {
		login, err := users.Token(ctx, sandbox.Ada.Email, sandbox.Ada.Password)
		if err != nil {
			t.Fatal(err)
		}
		ahead := auth.NewVerifier(users, cfg, auth.WithClock(func() time.Time { return time.Now().Add(skew) }))
		fresh, err := tokensByTheirExpiry{overstating{users}, ahead, cfg.Leeway}.Refresh(ctx, login.RefreshToken, "")
		if err != nil {
			t.Fatal(err)
		}
		if fresh.ExpiresIn != 60 {
			t.Errorf("clock %v ahead: refreshed token expires in %ds, want the minute of its lifetime", skew, fresh.ExpiresIn)
		}
	}
}

// TestOwnOriginIsComparedAsBrowsersWriteIt: the BFF's own origin is its
// scheme (https with Secure cookies) and the request's Host, whatever the
// Host's case and with the scheme's default port or without; another
// scheme or port is another origin.
func TestOwnOriginIsComparedAsBrowsersWriteIt(t *testing.T) {
	app := fiber.New()
	var cfg Config
	cfg.Session.Secure = true
	app.Post("/x", originGuard(newOrigins(cfg)), func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
	for _, tt := range []struct {
		host, origin string
		want         int
	}{
		{"shop.example", "https://shop.example", 204},
		{"shop.example:443", "https://shop.example", 204},
		{"Shop.Example", "https://shop.example", 204},
		{"shop.example", "https://shop.example:443", 204},
		{"shop.example", "http://shop.example", 500},
		{"shop.example:8443", "https://shop.example", 500},
		{"shop.example", "https://shop.example.evil", 500},
	} {
		req := httptest.NewRequest("POST", "/x", nil)
		req.Host = tt.host
		req.Header.Set("Origin", tt.origin)
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Fiber's own error handler answers the refusal 500 here; the
		// BFF's answers it 403.
		if resp.StatusCode != tt.want {
			t.Errorf("Host %q, Origin %q: got %d, want %d", tt.host, tt.origin, resp.StatusCode, tt.want)
		}
	}
}
