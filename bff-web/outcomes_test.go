package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestOrderOutcomes drives every outcome of POST /api/orders.
func TestOrderOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T, s *stack)
		anon   bool
		body   any
		status int
		code   string
		field  string
		ext    string // a problem member that must be present
	}{
		{name: "placed", body: orderBody("tok_visa", line(1, 1)), status: 201},
		{name: "anonymous", anon: true, body: orderBody("tok_visa", line(1, 1)), status: 401, code: "unauthenticated"},
		{name: "quantity too large", body: orderBody("tok_visa", line(1, 60), line(1, 40)), status: 400, code: "invalid_request", field: "items[1].quantity"},
		{name: "too many lines", body: orderBody("tok_visa", manyLines(51)...), status: 400, code: "invalid_request", field: "items"},
		{name: "wrong type", body: `{"items":[{"product_id":"one","quantity":1}],"payment_token":"tok_visa"}`, status: 400, code: "invalid_request", field: "items[0].product_id"},
		{name: "declined", body: orderBody("tok_insufficient_funds", line(1, 1)), status: 402, code: "payment_declined", ext: "reason"},
		{
			name: "out of stock", body: orderBody("tok_visa", line(5, 4)), status: 409, code: "out_of_stock", ext: "unavailable",
			setup: func(t *testing.T, s *stack) {
				if err := s.rt.SetStock(context.Background(), 5, 1); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "reservations down", body: orderBody("tok_visa", line(1, 1)), status: 503, code: "upstream_unavailable",
			setup: func(t *testing.T, s *stack) {
				inject(t, s, "product", sandbox.Fault{Route: "POST /reservations", Status: 503})
			},
		},
		{
			name: "deadline", body: orderBody("tok_visa", line(1, 1)), status: 504, code: "deadline_exceeded",
			setup: func(t *testing.T, s *stack) {
				inject(t, s, "order", sandbox.Fault{Route: "POST /orders", LatencyMS: 1200})
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, "ORDER_TIMEOUT", "500ms")
			if tc.setup != nil {
				tc.setup(t, s)
			}
			var headers []string
			if !tc.anon {
				headers = s.login(t, "ada@example.com", "correct-horse").headers(writing)
			}
			r := servertest.Do(t, "POST", s.base+"/api/orders", tc.body, headers...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			if tc.status >= 400 {
				p := r.Problem(t)
				if p["code"] != tc.code || p["status"] != float64(tc.status) {
					t.Errorf("problem %v, want code %s status %d", p, tc.code, tc.status)
				}
				if tc.field != "" && p["field"] != tc.field {
					t.Errorf("field = %v, want %s", p["field"], tc.field)
				}
				if tc.ext != "" && p[tc.ext] == nil {
					t.Errorf("problem has no %q member: %v", tc.ext, p)
				}
			}
			s.settle(t, keepClock)
			s.rt.CheckInvariants(t)
		})
	}
}

func manyLines(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = line(int64(i%40+1), 1)
	}
	return out
}

// TestFaultAtEachStep fails each saga step for good in each way and checks
// the status and the invariants.
func TestFaultAtEachStep(t *testing.T) {
	steps := []struct{ name, service, route string }{
		{"reserve", "product", "POST /reservations"},
		{"authorize", "payment", "POST /payments"},
		{"create", "order", "POST /orders"},
		{"capture", "payment", "POST /payments/{id}/capture"},
		{"confirm", "order", "POST /orders/{id}/confirm"},
		{"commit", "product", "POST /reservations/{id}/commit"},
		{"notify", "notification", "POST /notifications"},
	}
	kinds := []struct {
		name  string
		fault sandbox.Fault
		want  int
	}{
		{"status 500", sandbox.Fault{Status: 500}, 503},
		{"latency past deadline", sandbox.Fault{LatencyMS: 1200}, 504},
		{"drop", sandbox.Fault{Drop: true}, 503},
	}
	for _, step := range steps {
		for _, kind := range kinds {
			t.Run(fmt.Sprintf("%s/%s", step.name, kind.name), func(t *testing.T) {
				t.Parallel()
				s := startStack(t, "ORDER_TIMEOUT", "500ms", "ORDER_COMPENSATION_BUDGET", "2s", "UPSTREAM_BREAKER_OPEN_TIMEOUT", "500ms")
				ada := s.login(t, "ada@example.com", "correct-horse")
				f := kind.fault
				f.Route = step.route
				inject(t, s, step.service, f)
				r := s.order(t, ada, orderBody("tok_visa", line(3, 1)))
				want := kind.want
				if step.name == "notify" {
					want = 201
				}
				if r.Status != want {
					t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
				}
				s.settle(t, expiry(kind.fault.LatencyMS > 0 && (step.name == "reserve" || step.name == "authorize")))
				s.rt.CheckInvariants(t)
			})
		}
	}
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	// The burst is about overselling, not about overload: on a small shared
	// machine 200 checkouts at once can be slow enough to time out and trip
	// the breakers, so they get room here.
	s := startStack(t, "ORDER_TIMEOUT", "60s", "UPSTREAM_CALL_TIMEOUT", "30s", "UPSTREAM_BREAKER_FAILURES", "100000")
	ada := s.login(t, "ada@example.com", "correct-horse")
	const units, buyers = 20, 200
	if err := s.rt.SetStock(context.Background(), 11, units); err != nil {
		t.Fatal(err)
	}
	counts := servertest.Statuses(servertest.Burst(t, buyers, func(int) (servertest.Response, error) {
		return servertest.Send("POST", s.base+"/api/orders", orderBody("tok_visa", line(11, 1)), ada.headers(writing)...)
	}))
	if counts[201] != units || counts[409] != buyers-units {
		t.Errorf("statuses = %v, want %d × 201 and %d × 409", counts, units, buyers-units)
	}
	st := s.rt.CheckInvariants(t)
	for _, p := range st.Product.Products {
		if p.ID == 11 && p.Sold != units {
			t.Errorf("product 11 sold %d, want %d", p.Sold, units)
		}
	}
}

func TestOptionalIdempotencyKey(t *testing.T) {
	s := startStack(t)
	ada := s.login(t, "ada@example.com", "correct-horse")
	body := orderBody("tok_visa", line(12, 1))
	key := newKey()
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
	st := s.rt.CheckInvariants(t)
	if len(st.Order.Orders) != 2 {
		t.Errorf("orders = %d, want 2", len(st.Order.Orders))
	}
}

// TestIdempotencyKeyConcurrent sends 50 identical orders with one key at
// once through the cookie session: one order, one capture, every 201 the
// same body, the rest 409 while the first is in flight.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	s := startStack(t)
	ada := s.login(t, "ada@example.com", "correct-horse")
	inject(t, s, "product", sandbox.Fault{Route: "POST /reservations", LatencyMS: 500, Count: 1})
	key := newKey()
	body := orderBody("tok_visa", line(9, 1))
	rs := servertest.Burst(t, 50, func(int) (servertest.Response, error) {
		return servertest.Send("POST", s.base+"/api/orders", body, append(ada.headers(writing), "Idempotency-Key", key)...)
	})
	statuses := servertest.Statuses(rs)
	var first []byte
	for _, r := range rs {
		if r.Status != 201 {
			continue
		}
		if first == nil {
			first = r.Body
		} else if !bytes.Equal(r.Body, first) {
			t.Errorf("201 bodies differ: %s vs %s", r.Body, first)
		}
	}
	if first == nil || statuses[409] == 0 || statuses[201]+statuses[409] != len(rs) {
		t.Fatalf("statuses = %v, want only 201 and 409, at least one of each", statuses)
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
