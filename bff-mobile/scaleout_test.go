package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// startReplicas starts the sandbox and two bff-mobile replicas sharing one
// Redis: s.Base is replica A, the second result replica B.
func startReplicas(t *testing.T, extra ...string) (*stack, string) {
	t.Helper()
	shared := append([]string{"REDIS_URL", redistest.URL(t), "REDIS_KEY_PREFIX", redistest.Prefix(t)}, extra...)
	s := startStack(t, shared...)
	return s, servertest.Start(t, run, stackEnv(s.Running, shared...))
}

// TestReplicasShareIdempotencyKeys sends one Idempotency-Key to replica A,
// then to B, then to both at once: one order is placed, and B replays A's
// answer byte for byte.
func TestReplicasShareIdempotencyKeys(t *testing.T) {
	s, b := startReplicas(t)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	body := orderBody("tok_visa", line(8, 1))

	key := servertest.NewKey()
	first := servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if first.Status != 201 {
		t.Fatalf("replica A: got status %d, want 201; body %s", first.Status, first.Body)
	}
	// A's commit and completion run just after its answer: until they are
	// done, B is told the key is in use.
	again := servertest.Do(t, "POST", b+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	for wait, until := 20*time.Millisecond, time.Now().Add(5*time.Second); again.Status == 409 && time.Now().Before(until); wait = min(2*wait, 500*time.Millisecond) {
		time.Sleep(wait)
		again = servertest.Do(t, "POST", b+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	}
	if again.Status != 201 || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replica B: got status %d, replayed %q, body %s; want 201, true and A's body %s",
			again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
	}
	if got, want := again.Header.Get("Location"), first.Header.Get("Location"); got != want {
		t.Errorf("replica B: got Location %q, want A's %q", got, want)
	}
	reused := servertest.Do(t, "POST", b+"/v1/orders", orderBody("tok_visa", line(8, 2)), "Authorization", ada, "Idempotency-Key", key)
	if p := reused.Problem(t); reused.Status != 422 || p["code"] != "idempotency_key_reused" {
		t.Errorf("replica B, other body: got status %d, problem %v; want 422 idempotency_key_reused", reused.Status, p)
	}

	// A burst with a second key, alternating between the replicas while
	// the first request is held in flight by a slow reservation.
	s.Inject(t, "product", sandbox.Fault{Route: "POST /reservations", LatencyMS: 100, Count: 1})
	key2 := servertest.NewKey()
	const n = 40
	rs := servertest.Burst(t, n, func(i int) (servertest.Response, error) {
		base := s.Base
		if i%2 == 1 {
			base = b
		}
		return servertest.Send("POST", base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key2)
	})
	statuses := servertest.Statuses(rs)
	var created [][]byte
	for _, r := range rs {
		if r.Status == 201 {
			created = append(created, r.Body)
		}
	}
	if len(created) == 0 || statuses[201]+statuses[409] != n {
		t.Fatalf("burst over two replicas: got statuses %v, want only 201 and 409 with at least one 201", statuses)
	}
	for _, c := range created[1:] {
		if !bytes.Equal(c, created[0]) {
			t.Errorf("burst: 201 bodies differ: %s vs %s", c, created[0])
		}
	}
	st := s.CheckInvariants(t)
	if got := len(st.Order.Orders); got != 2 {
		t.Errorf("got %d orders in the sandbox, want 2 (one per key)", got)
	}
	if got := st.Order.Requests["POST /orders"]; got != 2 {
		t.Errorf("got %d order creations sent upstream, want 2", got)
	}
}

// TestReplicasShareOrderRateLimit spends ada's order quota across both
// replicas: the quota is hers, not each replica's.
func TestReplicasShareOrderRateLimit(t *testing.T) {
	s, b := startReplicas(t, "RATE_LIMIT_ORDER_REQUESTS", "4", "RATE_LIMIT_ORDER_WINDOW", "1h")
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	for i, base := range []string{s.Base, b, s.Base, b} {
		r := servertest.Do(t, "POST", base+"/v1/orders", orderBody("tok_visa", line(3, 1)), "Authorization", ada, "Idempotency-Key", servertest.NewKey())
		if r.Status != 201 {
			t.Fatalf("order %d: got status %d, want 201; body %s", i+1, r.Status, r.Body)
		}
	}
	for _, base := range []string{s.Base, b} {
		r := servertest.Do(t, "POST", base+"/v1/orders", orderBody("tok_visa", line(3, 1)), "Authorization", ada, "Idempotency-Key", servertest.NewKey())
		if r.Status != 429 || r.Header.Get("Retry-After") == "" || !strings.HasPrefix(r.Header.Get("RateLimit"), `"orders";r=0;`) {
			t.Errorf("fifth order at %s: got status %d, Retry-After %q, RateLimit %q; want 429 with both",
				base, r.Status, r.Header.Get("Retry-After"), r.Header.Get("RateLimit"))
		}
	}
	if got := len(s.CheckInvariants(t).Order.Orders); got != 4 {
		t.Errorf("got %d orders in the sandbox, want 4", got)
	}
}

// TestRedisReadiness: a replica whose Redis is gone stays in rotation,
// naming redis as degraded (every replica shares it: taking them all out
// would serve nothing), and refuses orders with 503 rather than run them
// without their journal.
func TestRedisReadiness(t *testing.T) {
	s, _ := startReplicas(t)
	if r := servertest.Do(t, "GET", s.Base+"/readyz", nil); r.Status != 200 || strings.Contains(string(r.Body), "redis") {
		t.Fatalf("with redis: got /readyz %d %s, want 200, nothing degraded", r.Status, r.Body)
	}
	rt := sandboxtest.Start(t, sandbox.Config{})
	// A port nothing listens on: the first free one, closed again.
	dead := "redis://" + servertest.FreeAddr(t)
	base := servertest.Launch(t, run, stackEnv(rt, "REDIS_URL", dead))
	servertest.WaitReady(t, base)
	if r := servertest.Do(t, "GET", base+"/readyz", nil); !strings.Contains(string(r.Body), `"degraded":["redis"]`) {
		t.Errorf("without redis: got /readyz %d %s, want ready with redis degraded", r.Status, r.Body)
	}
	tok := (&stack{Stack: &servertest.Stack{Running: rt, Base: base}}).login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	r := servertest.Do(t, "POST", base+"/v1/orders", orderBody("tok_visa", line(3, 1)),
		"Authorization", tok, "Idempotency-Key", servertest.NewKey())
	if p := r.Problem(t); r.Status != 503 || p["code"] != "upstream_unavailable" {
		t.Errorf("an order without redis: %d %v, want 503 upstream_unavailable", r.Status, p)
	}
}
