package main

import (
	"bytes"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
)

func TestIdempotencyKey(t *testing.T) {
	s, ada := startAsAda(t)
	key := servertest.NewKey()
	body := orderBody("tok_visa", line(8, 1))
	first := servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if first.Status != 201 {
		t.Fatalf("first: status %d, body %s", first.Status, first.Body)
	}
	again := servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	if again.Status != 201 || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: status %d replayed %q body %s, want 201, true and %s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body, first.Body)
	}
	if got, want := again.Header.Get("Location"), first.Header.Get("Location"); got != want {
		t.Errorf("replayed Location = %q, want %q", got, want)
	}
	other := servertest.Do(t, "POST", s.Base+"/v1/orders", orderBody("tok_visa", line(8, 2)), "Authorization", ada, "Idempotency-Key", key)
	if p := other.Problem(t); other.Status != 422 || p["code"] != "idempotency_key_reused" {
		t.Errorf("same key, other body: status %d problem %v, want 422 idempotency_key_reused", other.Status, p)
	}
	// Keys belong to a user: Grace's identical key is a different request.
	grace := s.login(t, "grace@example.com", "battery-staple")
	hers := servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", grace, "Idempotency-Key", key)
	if hers.Status != 201 || bytes.Equal(hers.Body, first.Body) {
		t.Errorf("another user's same key: status %d body %s, want a new 201 order", hers.Status, hers.Body)
	}
	st := s.CheckInvariants(t)
	if n := len(st.Order.Orders); n != 2 {
		t.Errorf("orders = %d, want 2 (one per user)", n)
	}
}
