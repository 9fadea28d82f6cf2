package sandbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// placeOrder runs the happy order flow by hand: reserve, authorize, create,
// capture, confirm, commit.
func placeOrder(t *testing.T, rn *sandboxtest.Running, ref string) order.Order {
	t.Helper()
	res := reserve(t, rn, ref, product.Line{ProductID: 1, Quantity: 2})
	req := order.CreateRequest{
		Reference: ref, UserID: "usr_ada",
		Items: []order.Line{{ProductID: 1, Name: "Book", Quantity: 2, UnitPrice: money.New(3990, "EUR")}},
		Total: money.New(7980, "EUR"), ReservationID: res.ID,
	}
	req.PaymentID = authorize(t, rn, ref, req.Total.Amount).ID
	o := createOrder(t, rn, req)
	do(t, "POST", rn.PaymentURL+"/payments/"+req.PaymentID+"/capture", nil).want(t, http.StatusOK)
	do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/confirm", nil).want(t, http.StatusOK)
	do(t, "POST", rn.ProductURL+"/reservations/"+res.ID+"/commit", nil).want(t, http.StatusOK)
	return o
}

func TestInvariantsCleanRun(t *testing.T) {
	rn, clock := startManual(t)
	placeOrder(t, rn, "happy-1")
	placeOrder(t, rn, "happy-2")

	// A declined card: the reservation is released.
	res := reserve(t, rn, "declined", product.Line{ProductID: 2, Quantity: 1})
	do(t, "POST", rn.PaymentURL+"/payments", payment.AuthorizeRequest{Reference: "declined", UserID: "usr_ada", Amount: money.New(100, "EUR"), Token: payment.TokenInsufficientFunds}).
		want(t, http.StatusPaymentRequired)
	do(t, "DELETE", rn.ProductURL+"/reservations/"+res.ID, nil).want(t, http.StatusOK)

	// A failure after the order was created: void, release, cancel.
	res = reserve(t, rn, "compensated", product.Line{ProductID: 3, Quantity: 1})
	pay := authorize(t, rn, "compensated", 2499)
	o := createOrder(t, rn, order.CreateRequest{
		Reference: "compensated", UserID: "usr_ada", PaymentID: pay.ID, ReservationID: res.ID,
		Items: []order.Line{{ProductID: 3, Quantity: 1, UnitPrice: money.New(2499, "EUR")}}, Total: money.New(2499, "EUR"),
	})
	do(t, "POST", rn.PaymentURL+"/payments/"+pay.ID+"/void", nil).want(t, http.StatusOK)
	do(t, "DELETE", rn.ProductURL+"/reservations/"+res.ID, nil).want(t, http.StatusOK)
	do(t, "POST", rn.OrderURL+"/orders/"+o.ID+"/cancel", nil).want(t, http.StatusOK)

	// A flow that died mid-way: its hold and reservation expire by themselves.
	reserve(t, rn, "abandoned", product.Line{ProductID: 4, Quantity: 1})
	authorize(t, rn, "abandoned", 4299)
	if errs := rn.State(t).Invariants(); len(errs) != 2 {
		t.Errorf("got %v, want the live hold and reservation reported", errs)
	}
	clock.Advance(10 * time.Minute)

	checkInvariants(t, rn.State(t))
	checkInvariants(t, rn.Sandbox.State())
}

func TestInvariantsReportViolations(t *testing.T) {
	rn, _ := startManual(t)
	placeOrder(t, rn, "base")
	clean := rn.State(t)
	checkInvariants(t, clean)

	tests := []struct {
		name   string
		mutate func(st *sandbox.State)
		want   string
	}{
		{"stock not conserved", func(st *sandbox.State) { st.Product.Products[0].Available++ }, "not conserved"},
		{"negative stock", func(st *sandbox.State) {
			st.Product.Products[1].Available, st.Product.Products[1].Sold = -1, st.Product.Products[1].Sold+1
		}, "negative"},
		{"reserved without a reservation", func(st *sandbox.State) {
			st.Product.Products[2].Reserved++
			st.Product.Products[2].Initial++
		}, "active reservations hold"},
		{"captured payment without an order", func(st *sandbox.State) {
			st.Payment.Payments = append(st.Payment.Payments, payment.Payment{ID: "pay_orphan", Status: payment.StatusCaptured, Amount: money.New(5, "EUR")})
		}, "belongs to no confirmed order"},
		{"captured payment of two orders", func(st *sandbox.State) {
			o := st.Order.Orders[0]
			o.ID, o.Reference = "ord_twin", "twin"
			st.Order.Orders = append(st.Order.Orders, o)
		}, "belongs to 2 confirmed orders"},
		{"confirmed order without captured payment", func(st *sandbox.State) {
			st.Payment.Payments[0].Status = payment.StatusRefunded
		}, "not captured"},
		{"confirmed order with unknown payment", func(st *sandbox.State) { st.Order.Orders[0].PaymentID = "pay_ghost" }, "does not exist"},
		{"amount differs", func(st *sandbox.State) { st.Payment.Payments[0].Amount.Amount++ }, "captured"},
		{"reservation not committed", func(st *sandbox.State) {
			st.Product.Reservations[0].Status = product.ReservationExpired
		}, "not committed"},
		{"shared reference", func(st *sandbox.State) {
			o := st.Order.Orders[0]
			o.ID, o.Status = "ord_dup", order.StatusCancelled
			st.Order.Orders = append(st.Order.Orders, o)
		}, "share reference"},
		{"units sold to nobody", func(st *sandbox.State) {
			st.Order.Orders[0].Status = order.StatusCancelled
			st.Payment.Payments[0].Status = payment.StatusRefunded
		}, "belongs to 0 confirmed orders"},
		{"confirmed order without a reservation", func(st *sandbox.State) {
			st.Order.Orders[0].ReservationID = ""
		}, "names no reservation"},
		{"reservation left active", func(st *sandbox.State) {
			st.Product.Reservations = append(st.Product.Reservations, product.Reservation{ID: "res_left", Status: product.ReservationActive})
		}, "still active"},
		{"order left pending", func(st *sandbox.State) {
			st.Order.Orders = append(st.Order.Orders, order.Order{ID: "ord_left", Reference: "left", Status: order.StatusPending})
		}, "left pending"},
		{"units sold differ from the order's", func(st *sandbox.State) {
			st.Order.Orders[0].Items[0].Quantity += 3
		}, "ordered units"},
		{"paid by another user", func(st *sandbox.State) { st.Payment.Payments[0].UserID = "usr_grace" }, "is usr_grace's"},
		{"hold left authorized", func(st *sandbox.State) {
			st.Payment.Payments = append(st.Payment.Payments, payment.Payment{ID: "pay_left", Status: payment.StatusAuthorized})
		}, "still authorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := rn.State(t) // a fresh copy to mutate
			tt.mutate(&st)
			errs := st.Invariants()
			found := false
			for _, err := range errs {
				found = found || strings.Contains(err.Error(), tt.want)
			}
			if !found {
				t.Errorf("got %v, want a violation mentioning %q", errs, tt.want)
			}
		})
	}

	t.Run("over HTTP", func(t *testing.T) {
		pay := authorize(t, rn, "money-without-order", 1234)
		do(t, "POST", rn.PaymentURL+"/payments/"+pay.ID+"/capture", nil).want(t, http.StatusOK)
		errs := rn.State(t).Invariants()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), pay.ID) {
			t.Errorf("got %v, want one violation naming %s", errs, pay.ID)
		}
	})
}
