package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

// TestOrderOutcomes drives every outcome of POST /v1/orders and checks the
// status, the problem fields and then the sandbox's invariants.
func TestOrderOutcomes(t *testing.T) {
	// bearer sends auth as the token, with a fresh key.
	bearer := func(auth string) func(*testing.T, *servertest.Stack) []string {
		return func(*testing.T, *servertest.Stack) []string {
			return []string{"Authorization", auth, "Idempotency-Key", servertest.NewKey()}
		}
	}
	noKey := func(t *testing.T, s *servertest.Stack) []string {
		return []string{"Authorization", (&stack{s}).login(t, sandbox.Ada.Email, sandbox.Ada.Password)}
	}
	scenario.OrderOutcomes(t, shop, []scenario.Outcome{
		{Name: "placed", Body: orderBody("tok_visa", line(1, 1)), Status: 201},
		{Name: "no token", Headers: bearer(""), Body: orderBody("tok_visa", line(1, 1)), Status: 401, Code: "unauthenticated"},
		{Name: "bad token", Headers: bearer("Bearer not.a.jwt"), Body: orderBody("tok_visa", line(1, 1)), Status: 401, Code: "unauthenticated"},
		{Name: "no idempotency key", Headers: noKey, Body: orderBody("tok_visa", line(1, 1)), Status: 400, Code: "idempotency_key_missing"},
		{Name: "no lines", Body: orderBody("tok_visa"), Status: 400, Code: "invalid_request", Field: "items"},
		{Name: "quantity zero", Body: orderBody("tok_visa", line(1, 0)), Status: 400, Code: "invalid_request", Field: "items[0].quantity"},
		{Name: "quantity too large", Body: orderBody("tok_visa", line(1, 100)), Status: 400, Code: "invalid_request", Field: "items[0].quantity"},
		{Name: "unknown product", Body: orderBody("tok_visa", line(1, 1), line(9999, 1)), Status: 400, Code: "invalid_request", Field: "items[1].product_id"},
		{Name: "no payment token", Body: orderBody("", line(1, 1)), Status: 400, Code: "invalid_request", Field: "payment_token"},
		{Name: "malformed json", Body: `{"items":[`, Status: 400, Code: "malformed_json"},
		{Name: "unknown member", Body: `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa","coupon":"x"}`, Status: 400, Code: "invalid_request", Field: "coupon"},
		{
			Name: "declined", Body: orderBody("tok_declined", line(1, 1)), Status: 402, Code: "payment_declined",
			Problem: func(t *testing.T, p map[string]any) {
				if p["reason"] != "card_declined" {
					t.Errorf("reason = %v, want card_declined", p["reason"])
				}
			},
		},
		{
			Name: "insufficient funds", Body: orderBody("tok_insufficient_funds", line(1, 1)), Status: 402, Code: "payment_declined",
			Problem: func(t *testing.T, p map[string]any) {
				if p["reason"] != "insufficient_funds" {
					t.Errorf("reason = %v, want insufficient_funds", p["reason"])
				}
			},
		},
		{
			Name: "out of stock",
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Stock(t, 5, 3)
			},
			Body: orderBody("tok_visa", line(1, 1), line(5, 4)), Status: 409, Code: "out_of_stock",
			Problem: func(t *testing.T, p map[string]any) {
				lines, _ := p["unavailable"].([]any)
				if len(lines) != 1 {
					t.Fatalf("unavailable = %v, want one line", p["unavailable"])
				}
				l := lines[0].(map[string]any)
				if l["product_id"] != 5.0 || l["requested"] != 4.0 || l["available"] != 3.0 {
					t.Errorf("unavailable line = %v, want product 5, requested 4, available 3", l)
				}
			},
		},
		{
			Name: "payment service down",
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Inject(t, "payment", sandbox.Fault{Route: "POST /payments", Status: 503})
			},
			Body: orderBody("tok_visa", line(1, 1)), Status: 503, Code: "upstream_unavailable",
		},
		{
			Name: "deadline",
			Setup: func(t *testing.T, s *servertest.Stack) {
				s.Inject(t, "payment", sandbox.Fault{Route: "POST /payments", LatencyMS: 1500})
			},
			Body: orderBody("tok_visa", line(1, 1)), Status: 504, Code: "deadline_exceeded",
			Settle: servertest.ExpireHolds, // its authorization lands late
		},
	})
}
