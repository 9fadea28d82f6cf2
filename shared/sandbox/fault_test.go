package sandbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/product"
)

func inject(t *testing.T, rn *sandboxtest.Running, service string, f sandbox.Fault) {
	t.Helper()
	if err := rn.InjectFault(t.Context(), service, f); err != nil {
		t.Fatal(err)
	}
}

func reserveBody(ref string) product.ReserveRequest {
	return product.ReserveRequest{Reference: ref, Items: []product.Line{{ProductID: 1, Quantity: 1}}}
}

func TestFaultStatus(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteReserve, Status: http.StatusServiceUnavailable})
	do(t, "POST", rn.ProductURL+"/reservations", reserveBody("f1")).problem(t, http.StatusServiceUnavailable, "service_unavailable")
	do(t, "GET", rn.ProductURL+"/products/1", nil).want(t, http.StatusOK) // other routes are untouched

	st := rn.State(t)
	if len(st.Product.Reservations) != 0 {
		t.Errorf("got %d reservations, want none: a fault before the handler processes nothing", len(st.Product.Reservations))
	}
	if got := st.Product.Requests[sandbox.RouteReserve]; got != 1 {
		t.Errorf("got %d requests counted, want 1", got)
	}

	if err := rn.ClearFaults(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The faulted attempt stored nothing, so the retry runs for real.
	do(t, "POST", rn.ProductURL+"/reservations", reserveBody("f1")).want(t, http.StatusCreated)
}

func TestFaultAfter(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteReserve, Status: http.StatusInternalServerError, After: true, Count: 1})
	do(t, "POST", rn.ProductURL+"/reservations", reserveBody("after")).problem(t, http.StatusInternalServerError, "internal")
	st := rn.State(t)
	if len(st.Product.Reservations) != 1 || stockOf(t, st, 1).Reserved != 1 {
		t.Fatalf("got %+v, want the reservation made despite the 500", st.Product.Reservations)
	}
	// The retry gets the answer the client never saw.
	var res product.Reservation
	r := do(t, "POST", rn.ProductURL+"/reservations", reserveBody("after")).want(t, http.StatusCreated)
	r.decode(t, &res)
	if res.ID != st.Product.Reservations[0].ID || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: got %s (replayed %q), want the stored %s", res.ID, r.header.Get("Idempotent-Replayed"), st.Product.Reservations[0].ID)
	}
	if n := len(rn.State(t).Product.Reservations); n != 1 {
		t.Errorf("got %d reservations, want 1", n)
	}
}

func TestFaultDrop(t *testing.T) {
	tests := []struct {
		name      string
		after     bool
		processed int
	}{
		{"before", false, 0},
		{"after", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rn, _ := startManual(t)
			inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteReserve, Drop: true, After: tt.after, Count: 1})
			if r, err := send(http.DefaultClient, "POST", rn.ProductURL+"/reservations", reserveBody("drop")); err == nil {
				t.Fatalf("got status %d, want the connection dropped", r.status)
			}
			if n := len(rn.State(t).Product.Reservations); n != tt.processed {
				t.Errorf("got %d reservations, want %d", n, tt.processed)
			}
			do(t, "POST", rn.ProductURL+"/reservations", reserveBody("drop")).want(t, http.StatusCreated)
			if n := len(rn.State(t).Product.Reservations); n != 1 {
				t.Errorf("after the retry: got %d reservations, want 1", n)
			}
		})
	}
}

func TestFaultLatency(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteReserve, LatencyMS: 300, Count: 1})
	impatient := &http.Client{Timeout: 50 * time.Millisecond}
	_, err := send(impatient, "POST", rn.ProductURL+"/reservations", reserveBody("slow"))
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("got %v, want a client timeout", err)
	}
	// The client gave up, but the service still processes the request: the
	// reservation is there once the sandbox is idle.
	if !rn.Sandbox.WaitIdle() {
		t.Fatal("WaitIdle: got false, want the slow request to finish")
	}
	if n := len(rn.State(t).Product.Reservations); n != 1 {
		t.Fatalf("got %d reservations, want the abandoned request processed", n)
	}
	do(t, "POST", rn.ProductURL+"/reservations", reserveBody("slow")).want(t, http.StatusCreated)
	if n := len(rn.State(t).Product.Reservations); n != 1 {
		t.Errorf("got %d reservations, want 1", n)
	}
}

// TestFaultConcurrency sends three reservations at once to a route that
// serves one request at a time, each for 400 ms, from clients that give up
// after 150 ms: the one being served is processed, as any request whose
// client gave up; the two waiting for their turn are dropped unprocessed.
// A later request gets the freed turn.
func TestFaultConcurrency(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteReserve, LatencyMS: 400, Concurrency: 1})
	impatient := &http.Client{Timeout: 150 * time.Millisecond}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, err := send(impatient, "POST", rn.ProductURL+"/reservations", reserveBody(fmt.Sprint("queued-", i))); err == nil {
				t.Errorf("request %d: answered within 150 ms, want the client to give up", i)
			}
		})
	}
	wg.Wait()
	if !rn.Sandbox.WaitIdle() {
		t.Fatal("WaitIdle: got false, want the request being served to finish")
	}
	if n := len(rn.State(t).Product.Reservations); n != 1 {
		t.Fatalf("got %d reservations, want 1: the request served, not the two that waited", n)
	}
	do(t, "POST", rn.ProductURL+"/reservations", reserveBody("later")).want(t, http.StatusCreated)
	if n := len(rn.State(t).Product.Reservations); n != 2 {
		t.Errorf("got %d reservations, want 2", n)
	}
}

func TestFaultCount(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "payment", sandbox.Fault{Route: "*", Status: http.StatusBadGateway, Count: 2})
	var got []int
	for range 4 {
		got = append(got, do(t, "GET", rn.PaymentURL+"/payments/pay_nope", nil).status)
	}
	want := []int{http.StatusBadGateway, http.StatusBadGateway, http.StatusNotFound, http.StatusNotFound}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got statuses %v, want %v", got, want)
		}
	}
	// Admin routes are never faulted.
	do(t, "GET", rn.PaymentURL+"/__admin/state", nil).want(t, http.StatusOK)
}

func TestFaultRate(t *testing.T) {
	rn, _ := startManual(t)
	inject(t, rn, "product", sandbox.Fault{Route: sandbox.RouteProduct, Status: http.StatusServiceUnavailable, Rate: 0.3})
	failed := 0
	const n = 300
	for range n {
		if do(t, "GET", rn.ProductURL+"/products/1", nil).status == http.StatusServiceUnavailable {
			failed++
		}
	}
	// The RNG is seeded, so this is deterministic; the bounds only say the
	// rate is roughly honoured.
	if failed < n/10 || failed > n/2 {
		t.Errorf("got %d of %d failed, want about 30%%", failed, n)
	}
}

func TestFaultValidation(t *testing.T) {
	rn, _ := startManual(t)
	bad := []string{
		`{"route":"GET /nope","status":503}`,
		`{"status":503}`,
		`{"route":"*","status":200}`,
		`{"route":"*","status":503,"rate":1.5}`,
		`{"route":"*","status":503,"drop":true}`,
		`{"route":"*"}`,
		`{"route":"*","after":true,"latency_ms":5}`,
		`{"route":"*","status":503,"count":-1}`,
		`{"route":"*","latency_ms":-1}`,
		`{"route":"*","concurrency":-1}`,
		`not json`,
	}
	for _, body := range bad {
		t.Run(body, func(t *testing.T) {
			r := do(t, "POST", rn.OrderURL+"/__admin/faults", body)
			if r.status != http.StatusBadRequest {
				t.Errorf("got status %d, want 400; body %s", r.status, r.body)
			}
		})
	}
	if err := rn.InjectFault(t.Context(), "nope", sandbox.Fault{Route: "*", Status: 500}); err == nil {
		t.Error("InjectFault on an unknown service: got nil error, want one")
	}
	var list []sandbox.Fault
	do(t, "GET", rn.OrderURL+"/__admin/faults", nil).want(t, http.StatusOK).decode(t, &list)
	if len(list) != 0 {
		t.Errorf("got faults %v, want none accepted", list)
	}
}
