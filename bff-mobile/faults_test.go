package main

import (
	"context"
	"fmt"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// steps are the saga's upstream writes, by the service and route that
// serve them.
var steps = []struct {
	name, service, route string
}{
	{"reserve", "product", "POST /reservations"},
	{"authorize", "payment", "POST /payments"},
	{"create", "order", "POST /orders"},
	{"capture", "payment", "POST /payments/{id}/capture"},
	{"confirm", "order", "POST /orders/{id}/confirm"},
	{"commit", "product", "POST /reservations/{id}/commit"},
	{"notify", "notification", "POST /notifications"},
}

// faultKinds are the ways a step fails: an error status, an answer later
// than the order's deadline (processed upstream all the same), and a
// connection dropped before or after the upstream processed the request.
var faultKinds = []struct {
	name  string
	fault sandbox.Fault
	want  int
}{
	{"status 503", sandbox.Fault{Status: 503}, 503},
	{"latency past deadline", sandbox.Fault{LatencyMS: 1200}, 504},
	{"drop before", sandbox.Fault{Drop: true}, 503},
	{"drop after processing", sandbox.Fault{Drop: true, After: true}, 503},
}

// TestFaultAtEachStep fails each step of the saga in each way, for good
// (every retry fails too), and checks the client's status and that no
// invariant breaks: no money without an order, stock conserved, nothing
// left hanging. A failing notification never fails the order.
func TestFaultAtEachStep(t *testing.T) {
	for _, step := range steps {
		for _, kind := range faultKinds {
			t.Run(fmt.Sprintf("%s/%s", step.name, kind.name), func(t *testing.T) {
				t.Parallel()
				s := startStack(t, "ORDER_TIMEOUT", "500ms", "ORDER_COMPENSATION_BUDGET", "2s", "UPSTREAM_BREAKER_OPEN_TIMEOUT", "500ms")
				ada := s.login(t, "ada@example.com", "correct-horse")
				f := kind.fault
				f.Route = step.route
				inject(t, s, step.service, f)

				r := s.order(t, ada, orderBody("tok_visa", line(2, 1), line(4, 2)))
				want := kind.want
				switch {
				case step.name == "notify":
					want = 201 // a notification never fails an order
				case step.name == "commit" && kind.fault.After:
					// The commit, the last step, took effect: the saga's
					// release finds it committed and the order stands.
					want = 201
				}
				if r.Status != want {
					t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
				}
				if want != 201 {
					if p := r.Problem(t); p["status"] != float64(want) {
						t.Errorf("problem status %v, want %d", p["status"], want)
					}
				}
				// A write that lands after the flow gave up holds stock or
				// money until it expires: reserve and authorize, when slow.
				s.settle(t, expiry(kind.fault.LatencyMS > 0 && (step.name == "reserve" || step.name == "authorize")))
				st := s.rt.CheckInvariants(t)
				var confirmed int
				for _, o := range st.Order.Orders {
					if o.Status == "confirmed" {
						confirmed++
					}
				}
				if wantConfirmed := map[bool]int{true: 1, false: 0}[want == 201]; confirmed != wantConfirmed {
					t.Errorf("confirmed orders = %d, want %d", confirmed, wantConfirmed)
				}
			})
		}
	}
}

// TestTransientFaultIsRetried: one failure of a step (count 1) is absorbed
// by the saga's retry with the same reference, and the order goes through
// exactly once.
func TestTransientFaultIsRetried(t *testing.T) {
	for _, step := range steps[:6] {
		t.Run(step.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t)
			ada := s.login(t, "ada@example.com", "correct-horse")
			inject(t, s, step.service, sandbox.Fault{Route: step.route, Drop: true, After: true, Count: 1})
			r := s.order(t, ada, orderBody("tok_visa", line(6, 1)))
			if r.Status != 201 {
				t.Fatalf("status %d, want 201 after one retried failure; body %s", r.Status, r.Body)
			}
			s.settle(t, keepClock)
			st := s.rt.CheckInvariants(t)
			if n := len(st.Order.Orders); n != 1 {
				t.Errorf("orders = %d, want 1", n)
			}
		})
	}
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	// The burst is about overselling, not about overload: on a small shared
	// machine 200 checkouts at once can be slow enough to time out and trip
	// the breakers, so they get room here.
	s := startStack(t, "ORDER_TIMEOUT", "60s", "UPSTREAM_CALL_TIMEOUT", "30s", "UPSTREAM_BREAKER_FAILURES", "100000")
	ada := s.login(t, "ada@example.com", "correct-horse")
	const units, buyers = 20, 200
	if err := s.rt.SetStock(context.Background(), 7, units); err != nil {
		t.Fatal(err)
	}
	counts := servertest.Statuses(servertest.Burst(t, buyers, func(int) (servertest.Response, error) {
		return servertest.Send("POST", s.base+"/v1/orders", orderBody("tok_visa", line(7, 1)),
			"Authorization", ada, "Idempotency-Key", newKey())
	}))
	if counts[201] != units || counts[409] != buyers-units {
		t.Errorf("statuses = %v, want %d × 201 and %d × 409", counts, units, buyers-units)
	}
	st := s.rt.CheckInvariants(t)
	for _, p := range st.Product.Products {
		if p.ID == 7 && (p.Sold != units || p.Available != 0) {
			t.Errorf("product 7: sold %d available %d, want %d and 0", p.Sold, p.Available, units)
		}
	}
}
