package sandbox_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/product"
)

func TestRequestCounters(t *testing.T) {
	rn, _ := startManual(t)
	do(t, "GET", rn.ProductURL+"/products/1", nil)
	do(t, "GET", rn.ProductURL+"/products/2", nil)
	do(t, "GET", rn.ProductURL+"/products?ids=1,2", nil)
	do(t, "GET", rn.ProductURL+"/no/such/route", nil)
	do(t, "GET", rn.ProductURL+"/__admin/state", nil)
	st := rn.State(t)
	want := map[string]int{sandbox.RouteProduct: 2, sandbox.RouteProducts: 1}
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
	inject(t, rn, "order", sandbox.Fault{Route: "*", Status: 503})
	if err := rn.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}

	st := rn.State(t)
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
	overHTTP, err := json.Marshal(rn.State(t))
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
	sandbox.New(sandbox.Config{}).Handler("nope")
}

// TestAdminReachesOnlyItsServices checks that an Admin built over some of
// the services refuses the others without sending anything, and keeps its
// own copy of the URLs.
func TestAdminReachesOnlyItsServices(t *testing.T) {
	rn, _ := startManual(t)
	urls := map[string]string{sandbox.ServiceProduct: rn.ProductURL}
	a := sandbox.NewAdmin(urls, nil)
	urls[sandbox.ServiceProduct] = "http://127.0.0.1:1"
	if err := a.SetStock(t.Context(), 1, 7); err != nil {
		t.Fatalf("SetStock: %v", err)
	}
	if got := stockOf(t, rn.State(t), 1); got.Available != 7 {
		t.Errorf("got %+v, want 7 available", got)
	}
	if _, err := a.FetchState(t.Context()); err == nil || !strings.Contains(err.Error(), `unknown service "order"`) {
		t.Errorf("FetchState: got %v, want the order service unknown", err)
	}
	if got := a.URL(sandbox.ServiceOrder); got != "" {
		t.Errorf("URL(order): got %q, want \"\"", got)
	}
}
