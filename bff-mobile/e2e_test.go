package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// stack is a sandbox and a bff-mobile started through run, on port 0.
type stack struct {
	rt    *sandboxtest.Running
	clock *clocktest.Manual
	base  string
}

// startStack starts the sandbox and bff-mobile; extra overrides settings.
func startStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock})
	return &stack{rt: rt, clock: clock, base: servertest.Start(t, run, stackEnv(rt, extra...))}
}

// stackEnv is the environment of a bff-mobile in front of rt; extra
// overrides settings.
func stackEnv(rt *sandboxtest.Running, extra ...string) map[string]string {
	env := servertest.UpstreamEnv(rt)
	env["BFF_MOBILE_ADDR"] = "127.0.0.1:0"
	// Tests send hundreds of requests from one user and one address in a
	// moment; the rate-limit tests pass their own quotas in extra.
	for _, q := range []string{"RATE_LIMIT_DEFAULT_REQUESTS", "RATE_LIMIT_LOGIN_REQUESTS", "RATE_LIMIT_ORDER_REQUESTS"} {
		env[q] = "100000"
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// login returns a bearer header value for the seeded user.
func (s *stack) login(t *testing.T, email, password string) string {
	t.Helper()
	r := servertest.Do(t, "POST", s.base+"/v1/auth/token", map[string]string{"email": email, "password": password})
	if r.Status != 200 {
		t.Fatalf("login %s: status %d, body %s", email, r.Status, r.Body)
	}
	var tok tokenView
	r.JSON(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("login %s: got %+v, want a bearer token", email, tok)
	}
	return "Bearer " + tok.AccessToken
}

var keySeq atomic.Int64

func newKey() string { return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keySeq.Add(1)) }

// order posts an order with a fresh Idempotency-Key.
func (s *stack) order(t *testing.T, auth string, body any) servertest.Response {
	t.Helper()
	return servertest.Do(t, "POST", s.base+"/v1/orders", body, "Authorization", auth, "Idempotency-Key", newKey())
}

func line(id int64, qty int) map[string]any { return map[string]any{"product_id": id, "quantity": qty} }

func orderBody(token string, lines ...map[string]any) map[string]any {
	return map[string]any{"items": lines, "payment_token": token}
}

func TestReadyzTurnsReady(t *testing.T) {
	servertest.CheckReadyzTurnsReady(t, run, "BFF_MOBILE_ADDR")
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
