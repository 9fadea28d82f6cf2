package main

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestOrderOutcomes drives every outcome of POST /v1/orders and checks the
// status, the problem fields and then the sandbox's invariants.
func TestOrderOutcomes(t *testing.T) {
	type want struct {
		status int
		code   string
		field  string
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T, s *stack)
		auth    string // "" logs in as Ada; "none" sends no token
		noKey   bool
		body    any
		want    want
		problem func(t *testing.T, p map[string]any)
	}{
		{name: "placed", body: orderBody("tok_visa", line(1, 1)), want: want{status: 201}},
		{name: "no token", auth: "none", body: orderBody("tok_visa", line(1, 1)), want: want{401, "unauthenticated", ""}},
		{name: "bad token", auth: "Bearer not.a.jwt", body: orderBody("tok_visa", line(1, 1)), want: want{401, "unauthenticated", ""}},
		{name: "no idempotency key", noKey: true, body: orderBody("tok_visa", line(1, 1)), want: want{400, "idempotency_key_missing", ""}},
		{name: "no lines", body: orderBody("tok_visa"), want: want{400, "invalid_request", "items"}},
		{name: "quantity zero", body: orderBody("tok_visa", line(1, 0)), want: want{400, "invalid_request", "items[0].quantity"}},
		{name: "quantity too large", body: orderBody("tok_visa", line(1, 100)), want: want{400, "invalid_request", "items[0].quantity"}},
		{name: "unknown product", body: orderBody("tok_visa", line(1, 1), line(9999, 1)), want: want{400, "invalid_request", "items[1].product_id"}},
		{name: "no payment token", body: orderBody("", line(1, 1)), want: want{400, "invalid_request", "payment_token"}},
		{name: "malformed json", body: `{"items":[`, want: want{400, "malformed_json", ""}},
		{name: "unknown member", body: `{"items":[{"product_id":1,"quantity":1}],"payment_token":"tok_visa","coupon":"x"}`, want: want{400, "invalid_request", "coupon"}},
		{
			name: "declined", body: orderBody("tok_declined", line(1, 1)), want: want{402, "payment_declined", ""},
			problem: func(t *testing.T, p map[string]any) {
				if p["reason"] != "card_declined" {
					t.Errorf("reason = %v, want card_declined", p["reason"])
				}
			},
		},
		{
			name: "insufficient funds", body: orderBody("tok_insufficient_funds", line(1, 1)), want: want{402, "payment_declined", ""},
			problem: func(t *testing.T, p map[string]any) {
				if p["reason"] != "insufficient_funds" {
					t.Errorf("reason = %v, want insufficient_funds", p["reason"])
				}
			},
		},
		{
			name: "out of stock",
			setup: func(t *testing.T, s *stack) {
				if err := s.rt.SetStock(context.Background(), 5, 3); err != nil {
					t.Fatal(err)
				}
			},
			body: orderBody("tok_visa", line(1, 1), line(5, 4)), want: want{409, "out_of_stock", ""},
			problem: func(t *testing.T, p map[string]any) {
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
			name: "payment service down",
			setup: func(t *testing.T, s *stack) {
				inject(t, s, "payment", sandbox.Fault{Route: "POST /payments", Status: 503})
			},
			body: orderBody("tok_visa", line(1, 1)), want: want{503, "upstream_unavailable", ""},
		},
		{
			name: "deadline",
			setup: func(t *testing.T, s *stack) {
				inject(t, s, "payment", sandbox.Fault{Route: "POST /payments", LatencyMS: 1500})
			},
			body: orderBody("tok_visa", line(1, 1)), want: want{504, "deadline_exceeded", ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, "ORDER_TIMEOUT", "500ms")
			if tc.setup != nil {
				tc.setup(t, s)
			}
			auth := tc.auth
			switch auth {
			case "":
				auth = s.login(t, "ada@example.com", "correct-horse")
			case "none":
				auth = ""
			}
			headers := []string{"Authorization", auth}
			if !tc.noKey {
				headers = append(headers, "Idempotency-Key", newKey())
			}
			r := servertest.Do(t, "POST", s.base+"/v1/orders", tc.body, headers...)
			if r.Status != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.want.status, r.Body)
			}
			if tc.want.status >= 400 {
				p := r.Problem(t)
				if p["code"] != tc.want.code || p["status"] != float64(tc.want.status) {
					t.Errorf("problem code %v status %v, want %s %d", p["code"], p["status"], tc.want.code, tc.want.status)
				}
				if tc.want.field != "" && p["field"] != tc.want.field {
					t.Errorf("problem field = %v, want %s", p["field"], tc.want.field)
				}
				if tc.want.status == 503 && r.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				if tc.problem != nil {
					tc.problem(t, p)
				}
			}
			s.settle(t, expiry(tc.name == "deadline")) // its authorization lands late
			s.rt.CheckInvariants(t)
		})
	}
}

func inject(t *testing.T, s *stack, service string, f sandbox.Fault) {
	t.Helper()
	if err := s.rt.InjectFault(context.Background(), service, f); err != nil {
		t.Fatal(err)
	}
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
