package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// stack is a sandbox and a bff-web started through run, on port 0.
type stack struct {
	rt    *sandboxtest.Running
	clock *clocktest.Manual
	base  string
}

func startStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock})
	env := servertest.UpstreamEnv(rt)
	env["BFF_WEB_ADDR"] = "127.0.0.1:0"
	// Tests send hundreds of requests from one user and one address in a
	// moment; the rate-limit tests pass their own quotas in extra.
	for _, q := range []string{"RATE_LIMIT_DEFAULT_REQUESTS", "RATE_LIMIT_LOGIN_REQUESTS", "RATE_LIMIT_ORDER_REQUESTS"} {
		env[q] = "100000"
	}
	env["BFF_COOKIE_SECURE"] = "false"
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return &stack{rt: rt, clock: clock, base: servertest.Start(t, run, env)}
}

// session is a logged-in browser: its cookies and CSRF token.
type session struct {
	cookies []*http.Cookie
	csrf    string
	view    sessionView
}

// use says what a request sent with a session's headers does.
type use int

const (
	// reading sends the session cookie alone.
	reading use = iota
	// writing adds the CSRF header that cookie-authenticated writes need.
	writing
)

// headers returns the Cookie header and, for writes, the CSRF header.
func (ss session) headers(u use) []string {
	var parts []string
	for _, c := range ss.cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	h := []string{"Cookie", strings.Join(parts, "; ")}
	if u == writing {
		h = append(h, HeaderCSRF, ss.csrf)
	}
	return h
}

func (s *stack) login(t *testing.T, email, password string) session {
	t.Helper()
	r := servertest.Do(t, "POST", s.base+"/api/session", map[string]string{"email": email, "password": password})
	if r.Status != 200 {
		t.Fatalf("login %s: status %d, body %s", email, r.Status, r.Body)
	}
	var ss session
	r.JSON(t, &ss.view)
	ss.cookies = (&http.Response{Header: r.Header}).Cookies()
	ss.csrf = ss.view.CSRFToken
	if len(ss.cookies) != 2 || ss.csrf == "" {
		t.Fatalf("login %s: cookies %v, csrf %q; want session and CSRF cookies", email, ss.cookies, ss.csrf)
	}
	return ss
}

var keySeq atomic.Int64

func newKey() string { return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keySeq.Add(1)) }

func (s *stack) order(t *testing.T, ss session, body any, extra ...string) servertest.Response {
	t.Helper()
	return servertest.Do(t, "POST", s.base+"/api/orders", body, append(ss.headers(writing), extra...)...)
}

// expiry says whether settle moves the sandbox's clock past every TTL.
type expiry bool

const (
	keepClock   expiry = false
	expireHolds expiry = true
)

// settle waits for requests still sleeping in an injected latency to land
// (the upstream processes them late, as a slow real service would). With
// expireHolds, it then moves the sandbox's clock past every TTL, for scenarios
// where a write landed after the flow gave up, so that what it holds
// expires as it would in production; everywhere else the invariants are
// checked without that help, so a missing undo shows.
func (s *stack) settle(t *testing.T, exp expiry) {
	t.Helper()
	if err := s.rt.ClearFaults(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.rt.Sandbox.WaitIdle() {
		t.Fatal("the sandbox still had requests in flight after 10s")
	}
	if exp == expireHolds {
		s.clock.Advance(11 * time.Minute)
	}
}

func inject(t *testing.T, s *stack, service string, f sandbox.Fault) {
	t.Helper()
	if err := s.rt.InjectFault(context.Background(), service, f); err != nil {
		t.Fatal(err)
	}
}

func line(id int64, qty int) map[string]any { return map[string]any{"product_id": id, "quantity": qty} }

func orderBody(token string, lines ...map[string]any) map[string]any {
	return map[string]any{"items": lines, "payment_token": token}
}

func TestReadyzTurnsReady(t *testing.T) {
	servertest.CheckReadyzTurnsReady(t, run, "BFF_WEB_ADDR")
}
