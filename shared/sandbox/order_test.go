package sandbox_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
)

var orderRequest = sandboxtest.OrderRequest

func createOrder(t *testing.T, rn *sandboxtest.Running, req order.CreateRequest) order.Order {
	t.Helper()
	var o order.Order
	do(t, "POST", rn.OrderURL+"/orders", req).want(t, http.StatusCreated).decode(t, &o)
	return o
}

func TestCreateOrder(t *testing.T) {
	rn, _ := startManual(t)
	req := orderRequest("ord-ref-1", "usr_ada")
	o := createOrder(t, rn, req)
	if o.ID == "" || o.Status != order.StatusPending || o.Total != req.Total || o.UserID != "usr_ada" ||
		o.PaymentID != req.PaymentID || o.ReservationID != req.ReservationID || len(o.Items) != 2 ||
		o.ShippingAddress == nil || !o.CreatedAt.Equal(t0) {
		t.Errorf("got %+v, want a pending copy of the request", o)
	}
	var got order.Order
	do(t, "GET", rn.OrderURL+"/orders/"+o.ID, nil).want(t, http.StatusOK).decode(t, &got)
	if got.ID != o.ID {
		t.Errorf("GET: got %s, want %s", got.ID, o.ID)
	}
	do(t, "GET", rn.OrderURL+"/orders/by-reference/ord-ref-1", nil).want(t, http.StatusOK).decode(t, &got)
	if got.ID != o.ID {
		t.Errorf("by reference: got %s, want %s", got.ID, o.ID)
	}
	do(t, "GET", rn.OrderURL+"/orders/ord_nope", nil).problem(t, http.StatusNotFound, "not_found")
	do(t, "GET", rn.OrderURL+"/orders/by-reference/nope", nil).problem(t, http.StatusNotFound, "not_found")

	bad := []struct {
		name   string
		mutate func(*order.CreateRequest)
		status int
		code   string
	}{
		{"no reference", func(r *order.CreateRequest) { r.Reference = "" }, http.StatusBadRequest, "invalid_request"},
		{"no user", func(r *order.CreateRequest) { r.UserID = "" }, http.StatusBadRequest, "invalid_request"},
		{"no items", func(r *order.CreateRequest) { r.Items = nil }, http.StatusBadRequest, "invalid_request"},
		{"zero quantity", func(r *order.CreateRequest) { r.Items[0].Quantity = 0 }, http.StatusBadRequest, "invalid_request"},
		{"bad product", func(r *order.CreateRequest) { r.Items[0].ProductID = 0 }, http.StatusBadRequest, "invalid_request"},
		{"negative price", func(r *order.CreateRequest) { r.Items[0].UnitPrice.Amount = -1 }, http.StatusBadRequest, "invalid_request"},
		{"bad address", func(r *order.CreateRequest) { r.ShippingAddress.Country = "" }, http.StatusBadRequest, "invalid_request"},
		{"total too low", func(r *order.CreateRequest) { r.Total.Amount-- }, http.StatusUnprocessableEntity, "total_mismatch"},
		{"mixed currencies", func(r *order.CreateRequest) { r.Items[1].UnitPrice.Currency = "USD" }, http.StatusUnprocessableEntity, "total_mismatch"},
		{"duplicate reference", func(r *order.CreateRequest) { r.Reference = "ord-ref-1" }, http.StatusConflict, "duplicate_reference"},
	}
	for i, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := orderRequest(fmt.Sprintf("bad-%d", i), "usr_ada")
			tt.mutate(&r)
			do(t, "POST", rn.OrderURL+"/orders", r, "Idempotency-Key", fmt.Sprintf("key-%d", i)).problem(t, tt.status, tt.code)
		})
	}
	if n := len(rn.State(t).Order.Orders); n != 1 {
		t.Errorf("got %d orders, want 1 (refusals create nothing)", n)
	}
}

func TestOrderTransitions(t *testing.T) {
	rn, clock := startManual(t)
	o := createOrder(t, rn, orderRequest("confirm-me", "usr_ada"))
	clock.Advance(time.Second)
	for range 2 {
		var got order.Order
		do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/confirm", nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != order.StatusConfirmed || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("confirm: got %+v, want confirmed at t0+1s", got)
		}
	}
	for range 2 {
		var got order.Order
		do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/cancel", nil).want(t, http.StatusOK).decode(t, &got)
		if got.Status != order.StatusCancelled {
			t.Errorf("cancel of a confirmed order: got %q, want cancelled", got.Status)
		}
	}
	do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/confirm", nil).problem(t, http.StatusConflict, "order_cancelled")

	pending := createOrder(t, rn, orderRequest("cancel-me", "usr_ada"))
	var got order.Order
	do(t, "POST", rn.OrderURL+"/orders/"+pending.ID+"/cancel", nil).want(t, http.StatusOK).decode(t, &got)
	if got.Status != order.StatusCancelled {
		t.Errorf("cancel of a pending order: got %q, want cancelled", got.Status)
	}
	do(t, "POST", rn.OrderURL+"/orders/ord_nope/confirm", nil).problem(t, http.StatusNotFound, "not_found")
	do(t, "POST", rn.OrderURL+"/orders/ord_nope/cancel", nil).problem(t, http.StatusNotFound, "not_found")
}

// TestOrderMoves: a move onto another reservation is applied only when its
// sequence is above the last one applied; the same move twice changes
// nothing, an earlier one is superseded, and another reservation under
// the same sequence is a conflict. A move without a sequence is applied
// unfenced, as before sequences.
func TestOrderMoves(t *testing.T) {
	rn, clock := startManual(t)
	o := createOrder(t, rn, orderRequest("move-me", "usr_ada"))
	move := func(id string, seq int) response {
		return do(t, "PUT", rn.OrderURL+"/orders/"+o.ID+"/reservation", order.ReassignRequest{ReservationID: id, Sequence: seq})
	}
	onto := func(want string) {
		t.Helper()
		var got order.Order
		do(t, "GET", rn.OrderURL+"/orders/"+o.ID, nil).want(t, http.StatusOK).decode(t, &got)
		if got.ReservationID != want {
			t.Errorf("the order is on %q, want %q", got.ReservationID, want)
		}
	}
	clock.Advance(time.Second)
	var got order.Order
	move("res_a", 1).want(t, http.StatusOK).decode(t, &got)
	if got.ReservationID != "res_a" || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("move 1: got %+v, want res_a at t0+1s", got)
	}
	move("res_b", 3).want(t, http.StatusOK)
	move("res_b", 3).want(t, http.StatusOK)
	move("res_a", 1).problem(t, http.StatusConflict, "reservation_superseded")
	move("res_c", 2).problem(t, http.StatusConflict, "reservation_superseded")
	move("res_c", 3).problem(t, http.StatusConflict, "order_mismatch")
	onto("res_b")
	move("res_b", -1).problem(t, http.StatusBadRequest, "invalid_request")
	move("", 4).problem(t, http.StatusBadRequest, "invalid_request")
	do(t, "PUT", rn.OrderURL+"/orders/"+o.ID+"/reservation", `{"reservation_id":"res_legacy"}`).want(t, http.StatusOK)
	onto("res_legacy")
	move("res_e", 4).want(t, http.StatusOK)
	onto("res_e")
	do(t, "PUT", rn.OrderURL+"/orders/ord_nope/reservation", order.ReassignRequest{ReservationID: "res_d", Sequence: 5}).problem(t, http.StatusNotFound, "not_found")
	do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/cancel", nil).want(t, http.StatusOK)
	move("res_d", 5).problem(t, http.StatusConflict, "order_cancelled")
}

func TestListOrders(t *testing.T) {
	rn, clock := startManual(t)
	var want []string // newest first
	for i := range 7 {
		o := createOrder(t, rn, orderRequest(fmt.Sprintf("list-%d", i), "usr_ada"))
		want = append([]string{o.ID}, want...)
		if i%2 == 0 {
			clock.Advance(time.Minute) // the others share a timestamp: ties go by id
		}
	}
	createOrder(t, rn, orderRequest("someone-else", "usr_grace"))

	var got []string
	for _, o := range listAll[order.Order](t, rn.OrderURL+"/orders?user_id=usr_ada&limit=3&cursor=", 5) {
		got = append(got, o.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v (newest first, ties by id)", got, want)
	}

	var page order.Page
	do(t, "GET", rn.OrderURL+"/orders?user_id=usr_nobody", nil).want(t, http.StatusOK).decode(t, &page)
	if len(page.Items) != 0 || page.NextCursor != "" {
		t.Errorf("got %+v, want an empty page", page)
	}
	for _, q := range []string{"", "user_id=usr_ada&limit=0", "user_id=usr_ada&limit=101", "user_id=usr_ada&cursor=zzz"} {
		t.Run(q, func(t *testing.T) {
			do(t, "GET", rn.OrderURL+"/orders?"+q, nil).problem(t, http.StatusBadRequest, "invalid_request")
		})
	}
}
