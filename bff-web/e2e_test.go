package main

import (
	"net/http"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

// stack is a sandbox and a bff-web started through run, on port 0.
type stack struct{ *servertest.Stack }

// shop is bff-web under test, served over plain HTTP, as the scenarios see
// it: orders of a cookie session, with its CSRF header.
var shop = scenario.Shop{
	Run:       run,
	Settings:  []string{"BFF_WEB_ADDR", "127.0.0.1:0", "BFF_COOKIE_SECURE", "false"},
	Orders:    "/api/orders",
	Products:  "/api/products",
	LoginPath: "/api/session",
	Document:  openAPIDocument,
	Login: func(t *testing.T, s *servertest.Stack, email, password string) scenario.Buyer {
		ss := (&stack{s}).login(t, email, password)
		return func() []string { return ss.headers(writing) }
	},
}

// TestScenarios runs the end-to-end scenarios every BFF passes, here
// through a cookie session: faults at each saga step, concurrent orders, one
// Idempotency-Key at once, the order and login quotas.
func TestScenarios(t *testing.T) {
	scenario.Run(t, shop)
}

// startStack starts the sandbox and bff-web; extra overrides settings.
func startStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	return &stack{shop.Start(t, extra...)}
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
	var ss session
	r := s.Login(t, "/api/session", email, password, &ss.view)
	ss.cookies = (&http.Response{Header: r.Header}).Cookies()
	ss.csrf = ss.view.CSRFToken
	if len(ss.cookies) != 2 || ss.csrf == "" {
		t.Fatalf("login %s: cookies %v, csrf %q; want session and CSRF cookies", email, ss.cookies, ss.csrf)
	}
	return ss
}

// startAsAda is startStack with Ada logged in.
func startAsAda(t *testing.T, extra ...string) (*stack, session) {
	t.Helper()
	s := startStack(t, extra...)
	return s, s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
}

// line and orderBody build an order's body.
var line, orderBody = servertest.Line, servertest.OrderBody

func (s *stack) order(t *testing.T, ss session, body any, extra ...string) servertest.Response {
	t.Helper()
	return servertest.Do(t, "POST", s.Base+"/api/orders", body, append(ss.headers(writing), extra...)...)
}

func TestReadiness(t *testing.T) {
	servertest.CheckReadiness(t, run, "BFF_WEB_ADDR", "/api/products")
}
