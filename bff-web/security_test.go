package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	serversession "storefront.dev/shared/session"
	"storefront.dev/shared/upstream/user"
)

// spaOrigin is the SPA origin the security tests allow.
const spaOrigin = "https://shop.example.com"

func (s *stack) orders(t *testing.T) int {
	t.Helper()
	return len(s.State(t).Order.Orders)
}

// cookieHeader is the Cookie header of ss without its CSRF token header.
func (ss session) cookieHeader() string { return ss.headers(reading)[1] }

// TestCSRFAttacks sends cookie-authenticated orders with and without the CSRF
// token and from several origins: each refused one is a 403 that places
// nothing, each accepted one places exactly one order.
func TestCSRFAttacks(t *testing.T) {
	s, ada := startAsAda(t, "BFF_ALLOWED_ORIGINS", spaOrigin)
	grace := s.login(t, sandbox.Grace.Email, sandbox.Grace.Password)
	other := servertest.Do(t, "POST", s.Base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	var sessionID string
	for _, c := range (&http.Response{Header: other.Header}).Cookies() {
		if c.Name == "sf_session" {
			sessionID = c.Value
		}
	}
	token := accessToken(t, s, sandbox.Ada)
	tests := []struct {
		name    string
		headers []string
		status  int
		places  int
	}{
		{"cookie without the token", []string{"Cookie", ada.cookieHeader()}, 403, 0},
		{"wrong token", []string{"Cookie", ada.cookieHeader(), HeaderCSRF, "not-the-token"}, 403, 0},
		{"another session's token", []string{"Cookie", ada.cookieHeader(), HeaderCSRF, grace.csrf}, 403, 0},
		{"token in the header only", []string{"Cookie", "sf_session=" + sessionID, HeaderCSRF, ada.csrf}, 403, 0},
		{"a planted CSRF cookie", []string{"Cookie", "sf_session=" + sessionID + "; sf_csrf=planted", HeaderCSRF, "planted"}, 403, 0},
		{"non-bearer Authorization does not exempt", []string{"Cookie", ada.cookieHeader(), "Authorization", "Basic YTpi"}, 403, 0},
		{"token from a foreign origin", append(ada.headers(writing), "Origin", "https://evil.example"), 403, 0},
		{"token from an opaque origin", append(ada.headers(writing), "Origin", "null"), 403, 0},
		{"token from a look-alike origin", append(ada.headers(writing), "Origin", spaOrigin+".evil.example"), 403, 0},
		{"bogus bearer beside the cookie", []string{"Cookie", ada.cookieHeader(), "Authorization", "Bearer forged"}, 401, 0},
		{"token", ada.headers(writing), 201, 1},
		{"token from the allowed origin", append(ada.headers(writing), "Origin", spaOrigin), 201, 1},
		{"token from the BFF's own origin", append(ada.headers(writing), "Origin", s.Base), 201, 1},
		{"bearer token without cookies", []string{"Authorization", "Bearer " + token}, 201, 1},
	}
	placed := s.orders(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "POST", s.Base+"/api/orders", orderBody("tok_visa", line(6, 1)), tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status == 403 {
				if p := r.Problem(t); p["code"] != "forbidden" {
					t.Errorf("got problem %v, want forbidden", p)
				}
			}
			placed += tt.places
			if got := s.orders(t); got != placed {
				t.Errorf("got %d orders in the sandbox, want %d", got, placed)
			}
		})
	}
	s.CheckInvariants(t)
}

// TestRepeatedCSRFTokenIsRefused: a write that repeats X-CSRF-Token, the
// right token beside another, is a 400 naming it, and one that repeats
// Origin, an allowed one beside another, is refused as cross-site: no
// browser sends either, and a proxy in front may have read the other line.
// Neither places anything.
func TestRepeatedCSRFTokenIsRefused(t *testing.T) {
	s, ada := startAsAda(t, "BFF_ALLOWED_ORIGINS", spaOrigin)
	placed := s.orders(t)
	for _, tokens := range [][]string{{ada.csrf, "not-the-token"}, {"not-the-token", ada.csrf}} {
		r := servertest.DoLines(t, "POST", s.Base+"/api/orders", orderBody("tok_visa", line(6, 1)),
			http.Header{"Cookie": {ada.cookieHeader()}, HeaderCSRF: tokens})
		if p := r.Problem(t); r.Status != 400 || p["field"] != HeaderCSRF {
			t.Errorf("tokens %q: got %d %v, want 400 naming %s", tokens, r.Status, p, HeaderCSRF)
		}
	}
	for _, origins := range [][]string{{spaOrigin, "https://evil.example"}, {"https://evil.example", spaOrigin}} {
		r := servertest.DoLines(t, "POST", s.Base+"/api/orders", orderBody("tok_visa", line(6, 1)),
			http.Header{"Cookie": {ada.cookieHeader()}, HeaderCSRF: {ada.csrf}, "Origin": origins})
		if p := r.Problem(t); r.Status != 403 || p["code"] != "forbidden" {
			t.Errorf("origins %q: got %d %v, want 403 forbidden", origins, r.Status, p)
		}
	}
	if got := s.orders(t); got != placed {
		t.Errorf("got %d orders in the sandbox, want %d", got, placed)
	}
}

// TestLoginCSRF posts credentials the way a page elsewhere could, as a
// text/plain form that needs no preflight, or naming itself the BFF's host
// in headers any client may send: refused, and no cookie is set. The
// SPA's own logins pass.
func TestLoginCSRF(t *testing.T) {
	s := startStack(t, "BFF_ALLOWED_ORIGINS", spaOrigin)
	own := strings.TrimPrefix(s.Base, "http://")
	body := `{"email":"ada@example.com","password":"correct-horse"}`
	tests := []struct {
		name, origin, contentType string
		extra                     []string
		status                    int
	}{
		{"form from a foreign origin", "https://evil.example", "text/plain", nil, 403},
		{"form without an origin", "", "text/plain", nil, 415},
		{"JSON from a foreign origin", "https://evil.example", "application/json", nil, 403},
		{"JSON from an opaque origin", "null", "application/json", nil, 403},
		{"JSON from a foreign origin that names itself the host", "https://evil.example", "application/json",
			[]string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}, 403},
		{"JSON from the BFF's host over another scheme", "https://" + own, "application/json", nil, 403},
		{"JSON without an origin from another site", "", "application/json", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"JSON from the allowed origin", spaOrigin, "application/json", nil, 200},
		{"JSON from the BFF's own origin", s.Base, "application/json", nil, 200},
		{"JSON without an origin", "", "application/json", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := append([]string{"Content-Type", tt.contentType, "Origin", tt.origin}, tt.extra...)
			r := servertest.Do(t, "POST", s.Base+"/api/session", body, headers...)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if cookies := r.Header.Values("Set-Cookie"); tt.status != 200 && len(cookies) != 0 {
				t.Errorf("got cookies %v on a refused login", cookies)
			}
		})
	}
	r := servertest.Do(t, "DELETE", s.Base+"/api/session", nil, "Origin", "https://evil.example")
	if r.Status != 403 || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("cross-site logout: got status %d cookies %v, want 403 and none", r.Status, r.Header.Values("Set-Cookie"))
	}
}

// TestCORS checks the grants: a preflight and a credentialed request from
// the allowed origin pass with what the SPA needs; an unknown origin, or
// any origin when none is configured, gets no grant at all, and its
// preflight finds no route.
func TestCORS(t *testing.T) {
	configured := startStack(t, "BFF_ALLOWED_ORIGINS", spaOrigin+",http://127.0.0.1:5173")
	unconfigured := startStack(t)
	login := map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}
	tests := []struct {
		name   string
		base   string
		method string
		path   string
		body   any
		origin string
		status int
		grant  bool
	}{
		{"preflight from the SPA", configured.Base, "OPTIONS", "/api/orders", nil, spaOrigin, 204, true},
		{"preflight from the second SPA origin", configured.Base, "OPTIONS", "/api/orders", nil, "http://127.0.0.1:5173", 204, true},
		{"login from the SPA", configured.Base, "POST", "/api/session", login, spaOrigin, 200, true},
		{"read from the SPA", configured.Base, "GET", "/api/products", nil, spaOrigin, 200, true},
		{"preflight from elsewhere", configured.Base, "OPTIONS", "/api/orders", nil, "https://evil.example", 405, false},
		{"preflight from a look-alike", configured.Base, "OPTIONS", "/api/orders", nil, "https://shop.example.com.evil.example", 405, false},
		{"preflight from another scheme", configured.Base, "OPTIONS", "/api/orders", nil, "http://shop.example.com", 405, false},
		{"read from elsewhere", configured.Base, "GET", "/api/products", nil, "https://evil.example", 200, false},
		{"read from an opaque origin", configured.Base, "GET", "/api/products", nil, "null", 200, false},
		{"preflight with no origin configured", unconfigured.Base, "OPTIONS", "/api/orders", nil, spaOrigin, 405, false},
		{"read with no origin configured", unconfigured.Base, "GET", "/api/products", nil, "https://evil.example", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r servertest.Response
			if tt.method == "OPTIONS" {
				r = preflight(t, tt.base+tt.path, tt.origin)
			} else {
				r = servertest.Do(t, tt.method, tt.base+tt.path, tt.body, "Origin", tt.origin)
			}
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			h := r.Header
			if !strings.Contains(h.Get("Vary"), "Origin") {
				t.Errorf("got Vary %q, want Origin in it so caches keep grants apart", h.Get("Vary"))
			}
			if !tt.grant {
				for name := range h {
					if strings.HasPrefix(name, "Access-Control-") {
						t.Errorf("got %s %q, want no Access-Control header", name, h.Get(name))
					}
				}
				return
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.origin {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, tt.origin)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("got Access-Control-Allow-Credentials %q, want true", got)
			}
			want := map[string][]string{
				"Access-Control-Allow-Methods":  {"POST", "GET", "DELETE"},
				"Access-Control-Allow-Headers":  {"Content-Type", "X-CSRF-Token", "Idempotency-Key"},
				"Access-Control-Expose-Headers": {"Location", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID"},
			}
			if tt.method != "OPTIONS" {
				want = map[string][]string{"Access-Control-Expose-Headers": want["Access-Control-Expose-Headers"]}
			}
			for name, values := range want {
				for _, v := range values {
					if !strings.Contains(strings.ToLower(h.Get(name)), strings.ToLower(v)) {
						t.Errorf("got %s %q, want %s in it", name, h.Get(name), v)
					}
				}
			}
		})
	}
}

// preflight sends the CORS preflight a browser sends before a credentialed
// JSON POST. The contract check passes it over: a preflight is part of the
// CORS protocol, not an operation of the published API.
func preflight(t *testing.T, url, origin string) servertest.Response {
	t.Helper()
	return servertest.Do(t, "OPTIONS", url, nil, "Origin", origin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-csrf-token,idempotency-key")
}

// TestBearerTokenAttacks sends attack tokens as bearer tokens, and tokens
// where a session id belongs: each read is a 401 problem.
func TestBearerTokenAttacks(t *testing.T) {
	s := startStack(t)
	kid, key := s.Sandbox.SigningKey()
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": sandbox.Ada.ID, "iss": "https://user.storefront.dev", "aud": "storefront-bff",
			"exp": now.Add(15 * time.Minute).Unix(), "iat": now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, c jwt.MapClaims, k any) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = kid
		out, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	valid := sign(jwt.SigningMethodRS256, claims(nil), key)
	parts := strings.Split(valid, ".")
	forgedSub := strings.Split(sign(jwt.SigningMethodRS256, claims(func(c jwt.MapClaims) { c["sub"] = sandbox.Grace.ID }), attacker), ".")[1]
	tests := []struct {
		name, token string
		status      int
	}{
		{"alg none", sign(jwt.SigningMethodNone, claims(nil), jwt.UnsafeAllowNoneSignatureType), 401},
		{"signed by another key", sign(jwt.SigningMethodRS256, claims(nil), attacker), 401},
		{"expired", sign(jwt.SigningMethodRS256, claims(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-time.Hour).Unix()
			c["iat"] = now.Add(-2 * time.Hour).Unix()
		}), key), 401},
		{"wrong audience", sign(jwt.SigningMethodRS256, claims(func(c jwt.MapClaims) { c["aud"] = "another-api" }), key), 401},
		{"tampered payload", parts[0] + "." + forgedSub + "." + parts[2], 401},
		{"garbage", "garbage", 401},
		{"valid", valid, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, "Authorization", "Bearer "+tt.token)
			if r.Status != tt.status {
				t.Fatalf("got status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
		})
	}
	for name, cookie := range map[string]string{"a valid token": valid, "a made-up id": "bm90LWEtc2Vzc2lvbg"} {
		if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, "Cookie", "sf_session="+cookie); r.Status != 401 {
			t.Errorf("%s as the session cookie: status %d, want 401", name, r.Status)
		}
	}
}

// accessToken is an access token of u straight from the user service, as
// a client holding its own bearer token would send it.
func accessToken(t *testing.T, s *stack, u sandbox.SeedUser) string {
	t.Helper()
	var tok user.Token
	servertest.Do(t, "POST", s.UserURL+"/auth/token", user.TokenRequest{Email: u.Email, Password: u.Password}).JSON(t, &tok)
	if tok.AccessToken == "" {
		t.Fatal("the user service issued no access token")
	}
	return tok.AccessToken
}

// TestSessionCookieAttributes checks the cookies a login sets with the
// default (secure) settings: __Host- names, and an opaque random id that is
// no token.
func TestSessionCookieAttributes(t *testing.T) {
	s := startStack(t, "BFF_COOKIE_SECURE", "true")
	r := servertest.Do(t, "POST", s.Base+"/api/session", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	if r.Status != 200 {
		t.Fatalf("login: status %d", r.Status)
	}
	cookies := (&http.Response{Header: r.Header}).Cookies()
	if len(cookies) != 2 {
		t.Fatalf("got cookies %v, want the session and CSRF cookies", cookies)
	}
	names := map[string]bool{}
	for _, c := range cookies {
		names[c.Name] = true
		httpOnly := c.Name == "__Host-sf_session"
		if !c.Secure || c.HttpOnly != httpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Expires.IsZero() {
			t.Errorf("cookie %s: secure %v httpOnly %v sameSite %v path %q domain %q expires %v; want Secure, HttpOnly %v, Lax, /, no domain, an expiry",
				c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Expires, httpOnly)
		}
		if httpOnly {
			raw, err := base64.RawURLEncoding.DecodeString(c.Value)
			if err != nil || len(raw) < 16 || strings.Count(c.Value, ".") > 0 {
				t.Errorf("session cookie %q: want an opaque random id of 128 bits or more, not a token", c.Value)
			}
		}
	}
	if !names["__Host-sf_session"] || !names["__Host-sf_csrf"] {
		t.Errorf("cookies %v, want __Host-sf_session and __Host-sf_csrf", names)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("got Cache-Control %q on the login answer, want no-store", got)
	}
}

// TestRefusedCredentialsAreMetered: forged bearer tokens are charged to
// the caller's address under the login policy, and refused with 429 once
// it is spent, like logouts; a session cookie naming no session is a 401
// not charged: ada's session is not held back by any of them.
func TestRefusedCredentialsAreMetered(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_LOGIN_REQUESTS", "5")
	var forgedCookie []string
	for _, c := range ada.cookies {
		if c.HttpOnly {
			forgedCookie = []string{"Cookie", c.Name + "=" + strings.Repeat("x", len(c.Value))}
		}
	}
	forgedBearer := []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA"}
	requests := []struct {
		name, method, path string
		headers            []string
		status             int
	}{
		// The login took one of the five.
		{"forged bearer", "GET", "/api/orders", forgedBearer, 401},
		{"forged cookie", "GET", "/api/me", forgedCookie, 401},
		{"forged bearer", "GET", "/api/orders", forgedBearer, 401},
		{"forged cookie", "GET", "/api/me", forgedCookie, 401},
		{"logout of a forged cookie", "DELETE", "/api/session", forgedCookie, 204},
		{"forged bearer", "GET", "/api/orders", forgedBearer, 401},
		{"forged bearer", "GET", "/api/orders", forgedBearer, 429},
		{"forged cookie", "GET", "/api/me", forgedCookie, 401},
		{"logout of a forged cookie", "DELETE", "/api/session", forgedCookie, 429},
	}
	for i, r := range requests {
		got := servertest.Do(t, r.method, s.Base+r.path, nil, r.headers...)
		if got.Status != r.status {
			t.Errorf("request %d, %s: status %d, want %d", i, r.name, got.Status, r.status)
		}
	}
	if r := servertest.Do(t, "GET", s.Base+"/api/me", nil, ada.headers(reading)...); r.Status != 200 {
		t.Errorf("ada's session meanwhile: status %d, want 200", r.Status)
	}
}

// TestStaleSessionCookieLeavesLoginOpen: a tab that goes on sending the
// cookie of a session that ended does not use up its address's login
// quota: the user can log in again.
func TestStaleSessionCookieLeavesLoginOpen(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_LOGIN_REQUESTS", "3")
	if r := servertest.Do(t, "DELETE", s.Base+"/api/session", nil, ada.headers(writing)...); r.Status != 204 {
		t.Fatalf("logout: %d", r.Status)
	}
	for range 5 {
		if r := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...); r.Status != 401 {
			t.Fatalf("the ended session's cookie: status %d, want 401", r.Status)
		}
	}
	s.login(t, sandbox.Ada.Email, sandbox.Ada.Password) // the third of three
}

// TestCatalogCountsSignedInReadsPerUser: the catalog is public, but the
// reads of a browser signed in by its session cookie count against its
// user's quota, not its address's (browsers behind one office NAT would
// share one); a cookie naming no session reads as anonymous.
func TestCatalogCountsSignedInReadsPerUser(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_DEFAULT_REQUESTS", "2")
	stale := []string{"Cookie", "sf_session=" + strings.Repeat("x", 43)}
	steps := []struct {
		who     string
		headers []string
		status  int
		limit   string // RateLimit's prefix: the policy and what is left
	}{
		{"ada", ada.headers(reading), 200, `"default";r=1`},
		{"ada", ada.headers(reading), 200, `"default";r=0`},
		{"ada, her quota spent", ada.headers(reading), 429, `"default";r=0`},
		// The address has its own quota, untouched by ada's reads.
		{"anonymous", nil, 200, `"default";r=1`},
		{"a cookie of no session", stale, 200, `"default";r=0`},
		{"anonymous, the address's quota spent", nil, 429, `"default";r=0`},
	}
	for i, st := range steps {
		r := servertest.Do(t, "GET", s.Base+"/api/products/1", nil, st.headers...)
		if limit := r.Header.Get("RateLimit"); r.Status != st.status || !strings.HasPrefix(limit, st.limit) {
			t.Errorf("read %d (%s): status %d RateLimit %q, want %d and %s", i+1, st.who, r.Status, limit, st.status, st.limit)
		}
	}
}

// TestSessionOfAnotherUsersToken: a session written into the store with a
// user other than its access token's subject (by someone who can write to
// the store, but cannot sign a token) authenticates nobody.
func TestSessionOfAnotherUsersToken(t *testing.T) {
	prefix, url := redistest.Prefix(t), redistest.URL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	s := startStack(t, "REDIS_URL", url, "REDIS_KEY_PREFIX", prefix)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	r := servertest.Do(t, "POST", s.UserURL+"/auth/token", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password})
	r.JSON(t, &tok)
	store := redisstore.NewSessions(client, prefix+"session:bff-web:")
	m := serversession.New(store, nil, serversession.DefaultConfig())
	for owner, want := range map[string]int{"usr_grace": 401, "usr_ada": 200} {
		id, _, err := m.Create(context.Background(), owner,
			user.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresIn: tok.ExpiresIn}, time.Now().Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var name string
		for _, c := range s.login(t, sandbox.Grace.Email, sandbox.Grace.Password).cookies {
			if c.HttpOnly {
				name = c.Name
			}
		}
		if got := servertest.Do(t, "GET", s.Base+"/api/orders", nil, "Cookie", name+"="+id); got.Status != want {
			t.Errorf("a session of %s holding ada's token: status %d, want %d (%s)", owner, got.Status, want, got.Body)
		}
	}
}

// TestLoginWhenTheUserServiceRefuses: a user service that answers the
// login's profile read with 404 or 400 fails the login as the service's
// failure (503), not as a missing resource or the client's mistake.
func TestLoginWhenTheUserServiceRefuses(t *testing.T) {
	s := startStack(t)
	for _, status := range []int{404, 400} {
		s.Inject(t, "user", sandbox.Fault{Route: "GET /users/{id}", Status: status})
		body := map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}
		if r := servertest.Do(t, "POST", s.Base+"/api/session", body); r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Errorf("login with the profile read answered %d: status %d, Retry-After %q; want 503 with one", status, r.Status, r.Header.Get("Retry-After"))
		}
	}
}
