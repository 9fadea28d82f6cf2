package scenario

import (
	"bytes"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// Outcome is one order request and the answer it must get.
type Outcome struct {
	Name string
	// Setup prepares the sandbox before the order; nil for nothing.
	Setup func(t *testing.T, s *servertest.Stack)
	// Headers are the order's headers, name, value pairs; nil sends those
	// of Ada, logged in.
	Headers func(t *testing.T, s *servertest.Stack) []string
	Body    any
	// Status is the answer's status; Code is an error's problem code, and
	// Field its field where it is not "".
	Status      int
	Code, Field string
	// Problem checks the rest of an error's problem; nil for nothing more.
	Problem func(t *testing.T, p map[string]any)
	// Settle is ExpireHolds where a write lands after the flow gave up.
	Settle servertest.Expiry
}

// Member is an Outcome's Problem that requires the member name.
func Member(name string) func(t *testing.T, p map[string]any) {
	return func(t *testing.T, p map[string]any) {
		t.Helper()
		if p[name] == nil {
			t.Errorf("problem has no %q member: %v", name, p)
		}
	}
}

// OrderOutcomes sends each outcome's order to a BFF of its own, whose
// order deadline is 500ms, and checks the answer, a 503's Retry-After and,
// once the sandbox is settled, the invariants.
func OrderOutcomes(t *testing.T, sh Shop, outcomes []Outcome) {
	for _, tc := range outcomes {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			s, ada := sh.ada(t, "ORDER_TIMEOUT", "500ms")
			if tc.Setup != nil {
				tc.Setup(t, s)
			}
			headers := ada()
			if tc.Headers != nil {
				headers = tc.Headers(t, s)
			}
			r := servertest.Do(t, "POST", s.Base+sh.Orders, tc.Body, headers...)
			if r.Status != tc.Status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.Status, r.Body)
			}
			if tc.Status >= 400 {
				p := r.Problem(t)
				if p["code"] != tc.Code || p["status"] != float64(tc.Status) {
					t.Errorf("problem code %v status %v, want %s %d", p["code"], p["status"], tc.Code, tc.Status)
				}
				if tc.Field != "" && p["field"] != tc.Field {
					t.Errorf("problem field = %v, want %s", p["field"], tc.Field)
				}
				if tc.Status == 503 && r.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				if tc.Problem != nil {
					tc.Problem(t, p)
				}
			}
			s.Settle(t, tc.Settle)
			s.CheckInvariants(t)
		})
	}
}

// Step is one of the saga's upstream writes, by the service and route that
// serve it.
type Step struct{ Name, Service, Route string }

// Steps are the saga's upstream writes, in order.
var Steps = []Step{
	{"reserve", sandbox.ServiceProduct, sandbox.RouteReserve},
	{"authorize", sandbox.ServicePayment, sandbox.RouteAuthorize},
	{"create", sandbox.ServiceOrder, sandbox.RouteCreateOrder},
	{"capture", sandbox.ServicePayment, sandbox.RouteCapture},
	{"confirm", sandbox.ServiceOrder, sandbox.RouteConfirm},
	{"commit", sandbox.ServiceProduct, sandbox.RouteCommit},
	{"notify", sandbox.ServiceNotification, sandbox.RouteNotify},
}

// faults are the ways a step fails for good (every retry fails too), with
// the status the client then gets: an error status, an answer later than
// the order's deadline (processed upstream all the same), and a connection
// dropped before or after the upstream processed the request.
var faults = []struct {
	name  string
	fault sandbox.Fault
	want  int
}{
	{"status 500", sandbox.Fault{Status: 500}, 503},
	{"status 503", sandbox.Fault{Status: 503}, 503},
	{"latency past deadline", sandbox.Fault{LatencyMS: 1200}, 504},
	{"drop before", sandbox.Fault{Drop: true}, 503},
	{"drop after processing", sandbox.Fault{Drop: true, After: true}, 503},
}

// faultAtEachStep fails each step of the saga in each way and checks the
// client's status and that no invariant breaks: no money without an order,
// stock conserved, nothing left hanging, and a confirmed order exactly when
// the answer is 201. A failing notification never fails the order. When
// the commit fails, the order is confirmed and its stock may be sold: it
// can only go forward, so recovery completes it once the service is back,
// and the retry of the key gets it. A failed confirmation is undone, and
// the retry of the key, the service back, places the order.
func faultAtEachStep(t *testing.T, sh Shop) {
	for _, step := range Steps {
		for _, kind := range faults {
			t.Run(step.Name+"/"+kind.name, func(t *testing.T) {
				t.Parallel()
				s, ada := sh.ada(t, "ORDER_TIMEOUT", "500ms", "ORDER_COMPENSATION_BUDGET", "2s", "UPSTREAM_BREAKER_OPEN_TIMEOUT", "500ms")
				f := kind.fault
				f.Route = step.Route
				s.Inject(t, step.Service, f)

				key := servertest.NewKey()
				body := servertest.OrderBody("tok_visa", servertest.Line(2, 1), servertest.Line(4, 2))
				r := sh.order(t, s, ada, body, "Idempotency-Key", key)
				want := kind.want
				if step.Name == "notify" {
					want = 201 // a notification never fails an order
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
				s.Settle(t, servertest.Expiry(kind.fault.LatencyMS > 0 && (step.Name == "reserve" || step.Name == "authorize")))
				if step.Name == "confirm" || step.Name == "commit" {
					if again := retryOrder(t, sh, s, ada, body, key); again.Status != 201 {
						t.Fatalf("retry once the service is back: status %d, want 201; body %s", again.Status, again.Body)
					}
					want = 201
				}
				got := count(s.CheckInvariants(t).Order.Orders, isConfirmed)
				if wantConfirmed := map[bool]int{true: 1, false: 0}[want == 201]; got != wantConfirmed {
					t.Errorf("confirmed orders = %d, want %d", got, wantConfirmed)
				}
			})
		}
	}
}

// retryOrder sends the order again with its key until it is no longer in
// flight (a recovery pass may hold it for a moment).
func retryOrder(t *testing.T, sh Shop, s *servertest.Stack, user Buyer, body any, key string) servertest.Response {
	t.Helper()
	for range 50 {
		r := sh.order(t, s, user, body, "Idempotency-Key", key)
		if r.Status != 409 || r.Problem(t)["code"] != string(problem.CodeIdempotencyBusy) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("order with key %s still in flight after 5 s", key)
	return servertest.Response{}
}

// concurrentOrdersNeverOversell sends 200 orders at once for the last 20
// units of a product: exactly 20 are placed and the rest are out of stock.
func concurrentOrdersNeverOversell(t *testing.T, sh Shop) {
	// The burst is about overselling, not about overload: on a small shared
	// machine 200 checkouts at once can be slow enough to time out and trip
	// the breakers, so they get room here.
	s, ada := sh.ada(t, "ORDER_TIMEOUT", "60s", "UPSTREAM_CALL_TIMEOUT", "30s", "UPSTREAM_BREAKER_FAILURES", "100000")
	const id, units, buyers = 7, 20, 200
	s.Stock(t, id, units)
	counts := servertest.Statuses(servertest.Burst(t, buyers, func(int) (servertest.Response, error) {
		return sh.send(s, ada, servertest.OrderBody("tok_visa", servertest.Line(id, 1)))
	}))
	if counts[201] != units || counts[409] != buyers-units {
		t.Errorf("statuses = %v, want %d × 201 and %d × 409", counts, units, buyers-units)
	}
	for _, p := range s.CheckInvariants(t).Product.Products {
		if p.ID == id && (p.Sold != units || p.Available != 0) {
			t.Errorf("product %d: sold %d available %d, want %d and 0", id, p.Sold, p.Available, units)
		}
	}
}

// idempotencyKeyConcurrent sends 50 identical orders with one key at once:
// exactly one order and one capture; every 201 is the same body and the
// rest are 409 (still in flight); afterwards the key replays the order.
func idempotencyKeyConcurrent(t *testing.T, sh Shop) {
	s, ada := sh.ada(t)
	// A little latency on reserve keeps the first request in flight while
	// the others arrive.
	s.Inject(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReserve, LatencyMS: 500, Count: 1})
	key := servertest.NewKey()
	body := servertest.OrderBody("tok_visa", servertest.Line(9, 1))
	const n = 50
	rs := servertest.Burst(t, n, func(int) (servertest.Response, error) {
		return sh.send(s, ada, body, "Idempotency-Key", key)
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
	again := sh.order(t, s, ada, body, "Idempotency-Key", key)
	if again.Status != 201 || !bytes.Equal(again.Body, created[0]) {
		t.Errorf("replay after the burst: status %d body %s", again.Status, again.Body)
	}
	st := s.CheckInvariants(t)
	if n := count(st.Payment.Payments, isCaptured); len(st.Order.Orders) != 1 || n != 1 {
		t.Errorf("orders %d captured %d, want 1 and 1", len(st.Order.Orders), n)
	}
}

// count counts the elements of s that match.
func count[E any](s []E, match func(E) bool) int {
	n := 0
	for _, e := range s {
		if match(e) {
			n++
		}
	}
	return n
}

func isConfirmed(o order.Order) bool    { return o.Status == order.StatusConfirmed }
func isCaptured(p payment.Payment) bool { return p.Status == payment.StatusCaptured }
