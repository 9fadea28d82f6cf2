package main

import (
	"bytes"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

func TestIdempotencyKey(t *testing.T) {
	s := startStack(t)
	ada := s.login(t, "ada@example.com", "correct-horse")
	key := newKey()
	body := orderBody("tok_visa", line(8, 1))
	first := servertest.Do(t, "POST", s.base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if first.Status != 201 {
		t.Fatalf("first: status %d, body %s", first.Status, first.Body)
	}
	again := servertest.Do(t, "POST", s.base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if again.Status != 201 || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: status %d replayed %q body %s, want 201, true and %s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
	}
	if got, want := again.Header.Get("Location"), first.Header.Get("Location"); got != want {
		t.Errorf("replayed Location = %q, want %q", got, want)
	}
	other := servertest.Do(t, "POST", s.base+"/v1/orders", orderBody("tok_visa", line(8, 2)), "Authorization", ada, "Idempotency-Key", key)
	if p := other.Problem(t); other.Status != 422 || p["code"] != "idempotency_key_reused" {
		t.Errorf("same key, other body: status %d problem %v, want 422 idempotency_key_reused", other.Status, p)
	}
	// Keys belong to a user: Grace's identical key is a different request.
	grace := s.login(t, "grace@example.com", "battery-staple")
	hers := servertest.Do(t, "POST", s.base+"/v1/orders", body, "Authorization", grace, "Idempotency-Key", key)
	if hers.Status != 201 || bytes.Equal(hers.Body, first.Body) {
		t.Errorf("another user's same key: status %d body %s, want a new 201 order", hers.Status, hers.Body)
	}
	st := s.rt.CheckInvariants(t)
	if n := len(st.Order.Orders); n != 2 {
		t.Errorf("orders = %d, want 2 (one per user)", n)
	}
}

// TestIdempotencyKeyConcurrent sends 50 identical requests with one key at
// once: exactly one order and one capture; every 201 is the same body and
// the rest are 409 (still in flight).
func TestIdempotencyKeyConcurrent(t *testing.T) {
	s := startStack(t)
	ada := s.login(t, "ada@example.com", "correct-horse")
	// A little latency on reserve keeps the first request in flight while
	// the others arrive.
	inject(t, s, "product", sandbox.Fault{Route: "POST /reservations", LatencyMS: 500, Count: 1})
	key := newKey()
	body := orderBody("tok_visa", line(9, 1))
	const n = 50
	rs := servertest.Burst(t, n, func(int) (servertest.Response, error) {
		return servertest.Send("POST", s.base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	})
	statuses := servertest.Statuses(rs)
	var created [][]byte
	for _, r := range rs {
		if r.Status == 201 {
			created = append(created, r.Body)
		}
	}
	if len(created) == 0 || statuses[409] == 0 || statuses[201]+statuses[409] != n {
		t.Fatalf("statuses = %v, want only 201 and 409, at least one of each", statuses)
	}
	for _, b := range created[1:] {
		if !bytes.Equal(b, created[0]) {
			t.Errorf("201 bodies differ: %s vs %s", b, created[0])
		}
	}
	// Afterwards the key replays the order.
	again := servertest.Do(t, "POST", s.base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if again.Status != 201 || !bytes.Equal(again.Body, created[0]) {
		t.Errorf("replay after the burst: status %d body %s", again.Status, again.Body)
	}
	st := s.rt.CheckInvariants(t)
	captured := 0
	for _, p := range st.Payment.Payments {
		if p.Status == "captured" {
			captured++
		}
	}
	if len(st.Order.Orders) != 1 || captured != 1 {
		t.Errorf("orders %d captured %d, want 1 and 1", len(st.Order.Orders), captured)
	}
}
