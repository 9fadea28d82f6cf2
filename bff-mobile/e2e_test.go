package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// stack is a sandbox and a bff-mobile started through run, on port 0.
type stack struct{ *servertest.Stack }

// shop is bff-mobile under test as the scenarios see it: orders with a
// bearer token and, as the BFF requires, a fresh Idempotency-Key each.
var shop = scenario.Shop{
	Run:       run,
	Settings:  []string{"BFF_MOBILE_ADDR", "127.0.0.1:0"},
	Orders:    "/v1/orders",
	Products:  "/v1/products",
	LoginPath: "/v1/auth/token",
	Document:  openAPIDocument,
	Login: func(t *testing.T, s *servertest.Stack, email, password string) scenario.Buyer {
		auth := (&stack{s}).login(t, email, password)
		return func() []string { return []string{"Authorization", auth, "Idempotency-Key", servertest.NewKey()} }
	},
}

// TestScenarios runs the end-to-end scenarios every BFF passes, here
// with bearer tokens: faults at each saga step, concurrent orders, one
// Idempotency-Key at once, the order and login quotas.
func TestScenarios(t *testing.T) {
	scenario.Run(t, shop)
}

// startStack starts the sandbox and bff-mobile; extra overrides settings.
func startStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	return &stack{shop.Start(t, extra...)}
}

// stackEnv is the environment of a bff-mobile in front of rt; extra
// overrides settings.
func stackEnv(rt *sandboxtest.Running, extra ...string) map[string]string {
	return servertest.StackEnv(rt, slices.Concat(shop.Settings, extra)...)
}

// login returns a bearer header value for the seeded user.
func (s *stack) login(t *testing.T, email, password string) string {
	t.Helper()
	var tok tokenView
	s.Login(t, "/v1/auth/token", email, password, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("login %s: got %+v, want a bearer token", email, tok)
	}
	return "Bearer " + tok.AccessToken
}

// startAsAda is startStack with Ada logged in.
func startAsAda(t *testing.T, extra ...string) (*stack, string) {
	t.Helper()
	s := startStack(t, extra...)
	return s, s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
}

// order posts an order with a fresh Idempotency-Key.
func (s *stack) order(t *testing.T, auth string, body any) servertest.Response {
	t.Helper()
	return servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", auth, "Idempotency-Key", servertest.NewKey())
}

// line and orderBody build an order's body.
var line, orderBody = servertest.Line, servertest.OrderBody

func TestReadiness(t *testing.T) {
	servertest.CheckReadiness(t, run, "BFF_MOBILE_ADDR", "/v1/products")
}

// TestUnusableStateFileIsRefused: a BFF whose state file is corrupt, or
// held by another process, refuses to start with an error naming the file,
// and leaves the file as it was.
func TestUnusableStateFileIsRefused(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	dir := t.TempDir()
	path := filepath.Join(dir, "bff-mobile.db")
	garbage := bytes.Repeat([]byte("not a journal "), 1000)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	env := stackEnv(rt, "STATE_DIR", dir)
	err := run(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("run on a corrupt state file: %v, want an error naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, garbage) {
		t.Error("the corrupt state file was changed")
	}

	// A state directory already in use by a running replica.
	busy := t.TempDir()
	servertest.Start(t, run, stackEnv(rt, "STATE_DIR", busy))
	env = stackEnv(rt, "STATE_DIR", busy)
	err = run(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if want := filepath.Join(busy, "bff-mobile.db"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run on a state file in use: %v, want an error naming %s", err, want)
	}
}
