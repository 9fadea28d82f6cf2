package upstreamtest_test

import (
	"bytes"
	"net/http"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/upstreamtest"
)

func TestRequestCounters(t *testing.T) {
	rn, _ := startManual(t)
	do(t, "GET", rn.ProductURL+"/products/1", nil)
	do(t, "GET", rn.ProductURL+"/products/2", nil)
	do(t, "GET", rn.ProductURL+"/products?ids=1,2", nil)
	do(t, "GET", rn.ProductURL+"/no/such/route", nil)
	do(t, "GET", rn.ProductURL+"/__admin/state", nil)
	st := fetchState(t, rn)
	want := map[string]int{"GET /products/{id}": 2, "GET /products": 1}
	if len(st.Product.Requests) != len(want) {
		t.Errorf("got %v, want %v (admin and unmatched requests uncounted)", st.Product.Requests, want)
	}
	for route, n := range want {
		if st.Product.Requests[route] != n {
			t.Errorf("%s: got %d, want %d", route, st.Product.Requests[route], n)
		}
	}
}

func TestReset(t *testing.T) {
	rn, _ := startManual(t)
	var before product.Product
	do(t, "GET", rn.ProductURL+"/products/1", nil).want(t, http.StatusOK).decode(t, &before)
	reserve(t, rn, "gone-after-reset", product.Line{ProductID: 1, Quantity: 3})
	placeOrder(t, rn, "order-before-reset")
	inject(t, rn, "order", upstreamtest.Fault{Route: "*", Status: 503})
	if err := rn.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}

	st := fetchState(t, rn)
	if len(st.Product.Reservations) != 0 || len(st.Order.Orders) != 0 || len(st.Payment.Payments) != 0 {
		t.Errorf("got %d reservations, %d orders, %d payments; want none after reset",
			len(st.Product.Reservations), len(st.Order.Orders), len(st.Payment.Payments))
	}
	if got := stockOf(t, st, 1); got.Available != before.Stock || got.Sold != 0 {
		t.Errorf("got %+v, want the seeded stock %d", got, before.Stock)
	}
	if len(st.Product.Requests) != 0 {
		t.Errorf("got counters %v, want none", st.Product.Requests)
	}
	do(t, "GET", rn.OrderURL+"/orders?user_id=usr_ada", nil).want(t, http.StatusOK) // the fault is gone
	// Stored replies are forgotten: the same reference reserves again.
	reserve(t, rn, "gone-after-reset", product.Line{ProductID: 1, Quantity: 3})

	rn.Sandbox.Reset()
	if n := len(rn.Sandbox.State().Product.Reservations); n != 0 {
		t.Errorf("after Sandbox.Reset: got %d reservations, want 0", n)
	}
}

// TestStateMatchesAdmin checks that Sandbox.State and the admin endpoints
// tell the same story.
func TestStateMatchesAdmin(t *testing.T) {
	rn, _ := startManual(t)
	placeOrder(t, rn, "compare")
	do(t, "POST", rn.NotificationURL+"/notifications", `{"user_id":"usr_ada","template":"order_confirmed","data":{"n":1}}`).want(t, http.StatusAccepted)
	overHTTP, err := json.Marshal(fetchState(t, rn))
	if err != nil {
		t.Fatal(err)
	}
	direct, err := json.Marshal(rn.Sandbox.State())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(overHTTP, direct) {
		t.Errorf("got\n%s\nover HTTP, want\n%s", overHTTP, direct)
	}
}

func TestHandlerPanicsOnUnknownService(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Handler(\"nope\"): got no panic, want one")
		}
	}()
	upstreamtest.New(upstreamtest.Config{}).Handler("nope")
}
