package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// issuedTokens is a proxy in front of the user service that keeps the
// refresh tokens it issues, which only bff-web otherwise sees.
type issuedTokens struct {
	mu      sync.Mutex
	refresh []string
}

// proxy returns the URL of a proxy to target that records every refresh
// token a login is issued.
func (it *issuedTokens) proxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/auth/token" || r.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(body, &tok); err != nil {
			return err
		}
		it.mu.Lock()
		it.refresh = append(it.refresh, tok.RefreshToken)
		it.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (it *issuedTokens) all() []string {
	it.mu.Lock()
	defer it.mu.Unlock()
	return append([]string(nil), it.refresh...)
}

// TestFailedLoginRevokesItsRefreshToken: a login that fails after the user
// service issued its tokens (the profile read fails, the session store is
// down) answers its failure, and revokes the refresh token it was issued:
// no session holds it, and it must not stay live until it expires.
func TestFailedLoginRevokesItsRefreshToken(t *testing.T) {
	failures := []struct {
		name     string
		settings func(t *testing.T) []string
		setup    func(t *testing.T, rt *sandboxtest.Running)
		status   int
	}{
		{
			name:     "profile read fails",
			settings: func(*testing.T) []string { return nil },
			setup: func(t *testing.T, rt *sandboxtest.Running) {
				rt.Inject(t, sandbox.ServiceUser, sandbox.Fault{Route: sandbox.RouteUser, Status: 404})
			},
			status: 503,
		},
		{
			name:     "session store down",
			settings: func(t *testing.T) []string { return []string{"REDIS_URL", deadRedisURL(t)} },
			setup:    func(*testing.T, *sandboxtest.Running) {},
			status:   503,
		},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
			var issued issuedTokens
			settings := append(append(append([]string(nil), shop.Settings...), tt.settings(t)...),
				"UPSTREAM_USER_URLS", issued.proxy(t, rt.UserURL))
			base := servertest.Start(t, run, servertest.StackEnv(rt, settings...))
			tt.setup(t, rt)

			login := map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}
			if r := servertest.Do(t, "POST", base+"/api/session", login); r.Status != tt.status {
				t.Fatalf("the login: %d %s, want %d", r.Status, r.Body, tt.status)
			}
			tokens := issued.all()
			if len(tokens) != 1 || tokens[0] == "" {
				t.Fatalf("the user service issued refresh tokens %q to the login, want one", tokens)
			}
			r := servertest.Do(t, "POST", rt.UserURL+"/auth/refresh", map[string]string{"refresh_token": tokens[0]})
			if r.Status != 401 {
				t.Errorf("a refresh with the failed login's refresh token: %d, want 401: the token is still live", r.Status)
			}
		})
	}
}
