package main

import (
	"bytes"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

// TestOrderOutcomes drives every outcome of POST /api/orders.
func TestOrderOutcomes(t *testing.T) {
	anonymous := func(*testing.T, *servertest.Stack) []string { return nil }
	scenario.OrderOutcomes(t, shop, []scenario.Outcome{
		{Name: "placed", Body: orderBody("tok_visa", line(1, 1)), Status: 201},
		{Name: "anonymous", Headers: anonymous, Body: orderBody("tok_visa", line(1, 1)), Status: 401, Code: "unauthenticated"},
		{Name: "quantity too large", Body: orderBody("tok_visa", line(1, 60), line(1, 40)), Status: 400, Code: "invalid_request", Field: "items[1].quantity"},
		{Name: "too many lines", Body: orderBody("tok_visa", manyLines(51)...), Status: 400, Code: "invalid_request", Field: "items"},
		{Name: "wrong type", Body: `{"items":[{"product_id":"one","quantity":1}],"payment_token":"tok_visa"}`, Status: 400, Code: "invalid_request", Field: "items[0].product_id"},
		{Name: "declined", Body: orderBody("tok_insufficient_funds", line(1, 1)), Status: 402, Code: "payment_declined", Problem: scenario.Member("reason")},
		{
			Name: "out of stock", Body: orderBody("tok_visa", line(5, 4)), Status: 409, Code: "out_of_stock", Problem: scenario.Member("unavailable"),
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Stock(t, 5, 1)
			},
		},
		{
			Name: "reservations down", Body: orderBody("tok_visa", line(1, 1)), Status: 503, Code: "upstream_unavailable",
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Inject(t, "product", sandbox.Fault{Route: "POST /reservations", Status: 503})
			},
		},
		{
			Name: "deadline", Body: orderBody("tok_visa", line(1, 1)), Status: 504, Code: "deadline_exceeded",
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Inject(t, "order", sandbox.Fault{Route: "POST /orders", LatencyMS: 1200})
			},
		},
	})
}

func manyLines(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = line(int64(i%40+1), 1)
	}
	return out
}

func TestOptionalIdempotencyKey(t *testing.T) {
	s, ada := startAsAda(t)
	body := orderBody("tok_visa", line(12, 1))
	key := servertest.NewKey()
	first := s.order(t, ada, body, "Idempotency-Key", key)
	again := s.order(t, ada, body, "Idempotency-Key", key)
	if first.Status != 201 || again.Status != 201 || !bytes.Equal(first.Body, again.Body) {
		t.Errorf("with a key: %d %s then %d %s, want the same 201 twice", first.Status, first.Body, again.Status, again.Body)
	}
	bad := s.order(t, ada, body, "Idempotency-Key", `"unterminated`)
	if p := bad.Problem(t); bad.Status != 400 || p["code"] != "idempotency_key_invalid" {
		t.Errorf("malformed key: status %d problem %v, want 400 idempotency_key_invalid", bad.Status, p)
	}
	third := s.order(t, ada, body)
	if third.Status != 201 || bytes.Equal(third.Body, first.Body) {
		t.Errorf("without a key: status %d, want a new 201 order", third.Status)
	}
	st := s.CheckInvariants(t)
	if len(st.Order.Orders) != 2 {
		t.Errorf("orders = %d, want 2", len(st.Order.Orders))
	}
}
