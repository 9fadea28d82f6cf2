package sandbox_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"

	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/notification"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
)

// write is one write route prepared for an idempotency test.
type write struct {
	url       string
	method    string
	body      any // first and replayed body
	otherBody any // same key, different body
	// changes counts what the write changes, to prove it happened once.
	changes func(sandbox.State) int
}

func countReservations(status string) func(sandbox.State) int {
	return func(st sandbox.State) int {
		n := 0
		for _, r := range st.Product.Reservations {
			if r.Status == status {
				n++
			}
		}
		return n
	}
}

func countPayments(status string) func(sandbox.State) int {
	return func(st sandbox.State) int {
		n := 0
		for _, p := range st.Payment.Payments {
			if p.Status == status {
				n++
			}
		}
		return n
	}
}

func countOrders(status string) func(sandbox.State) int {
	return func(st sandbox.State) int {
		n := 0
		for _, o := range st.Order.Orders {
			if status == "" || o.Status == status {
				n++
			}
		}
		return n
	}
}

// writes returns every write route, each on its own fresh resources in rn.
func writes(t *testing.T, rn *sandboxtest.Running, name string) map[string]write {
	t.Helper()
	line := []product.Line{{ProductID: 1, Quantity: 1}}
	auth := func(ref string, amount int64) payment.AuthorizeRequest {
		return payment.AuthorizeRequest{Reference: ref, UserID: "usr_ada", Amount: money.New(amount, "EUR"), Token: payment.TokenVisa}
	}
	captured := func(ref string) string {
		p := authorize(t, rn, ref, 100)
		do(t, "POST", rn.PaymentURL+"/payments/"+p.ID+"/capture", nil).want(t, http.StatusOK)
		return p.ID
	}
	otherOrder := orderRequest(name+"-order", "usr_grace")
	return map[string]write{
		sandbox.RouteReserve: {
			url: rn.ProductURL + "/reservations", method: "POST",
			body:      product.ReserveRequest{Reference: name + "-res", Items: line},
			otherBody: product.ReserveRequest{Reference: name + "-res", Items: []product.Line{{ProductID: 1, Quantity: 2}}},
			changes:   countReservations(product.ReservationActive),
		},
		sandbox.RouteCommit: {
			url: rn.ProductURL + "/reservations/" + reserve(t, rn, name+"-c", line...).ID + "/commit", method: "POST",
			otherBody: `{"note":"different"}`,
			changes:   countReservations(product.ReservationCommitted),
		},
		sandbox.RouteRelease: {
			url: rn.ProductURL + "/reservations/" + reserve(t, rn, name+"-d", line...).ID, method: "DELETE",
			otherBody: `{"note":"different"}`,
			changes:   countReservations(product.ReservationReleased),
		},
		sandbox.RouteAuthorize: {
			url: rn.PaymentURL + "/payments", method: "POST",
			body: auth(name+"-pay", 100), otherBody: auth(name+"-pay", 200),
			changes: countPayments(payment.StatusAuthorized),
		},
		sandbox.RouteCapture: {
			url: rn.PaymentURL + "/payments/" + authorize(t, rn, name+"-cap", 100).ID + "/capture", method: "POST",
			otherBody: `{"amount":1}`, changes: countPayments(payment.StatusCaptured),
		},
		sandbox.RouteVoid: {
			url: rn.PaymentURL + "/payments/" + authorize(t, rn, name+"-void", 100).ID + "/void", method: "POST",
			otherBody: `{"amount":1}`, changes: countPayments(payment.StatusVoided),
		},
		sandbox.RouteRefund: {
			url: rn.PaymentURL + "/payments/" + captured(name+"-ref") + "/refund", method: "POST",
			otherBody: `{"amount":1}`, changes: countPayments(payment.StatusRefunded),
		},
		sandbox.RouteCreateOrder: {
			url: rn.OrderURL + "/orders", method: "POST",
			body: orderRequest(name+"-order", "usr_ada"), otherBody: otherOrder,
			changes: countOrders(""),
		},
		sandbox.RouteConfirm: {
			url: rn.OrderURL + "/orders/" + createOrder(t, rn, orderRequest(name+"-conf", "usr_ada")).ID + "/confirm", method: "POST",
			otherBody: `{"x":1}`, changes: countOrders("confirmed"),
		},
		sandbox.RouteCancel: {
			url: rn.OrderURL + "/orders/" + createOrder(t, rn, orderRequest(name+"-canc", "usr_ada")).ID + "/cancel", method: "POST",
			otherBody: `{"x":1}`, changes: countOrders("cancelled"),
		},
		sandbox.RouteIssueToken: {
			url: rn.UserURL + "/auth/token", method: "POST",
			body:      user.TokenRequest{Email: "ada@example.com", Password: "correct-horse"},
			otherBody: user.TokenRequest{Email: "grace@example.com", Password: "battery-staple"},
			changes:   func(sandbox.State) int { return 0 },
		},
		sandbox.RouteNotify: {
			url: rn.NotificationURL + "/notifications", method: "POST",
			body:      notification.Request{UserID: "usr_ada", Template: "welcome"},
			otherBody: notification.Request{UserID: "usr_grace", Template: "welcome"},
			changes:   func(st sandbox.State) int { return len(st.Notification.Notifications) },
		},
	}
}

// TestIdempotentReplay sends every write twice with one Idempotency-Key:
// the second answer is the first byte for byte and nothing changes again;
// the key with another body is refused with 422.
func TestIdempotentReplay(t *testing.T) {
	rn, _ := startManual(t)
	for route, w := range writes(t, rn, "hdr") {
		t.Run(route, func(t *testing.T) {
			key := "key-" + route
			before := w.changes(rn.State(t))
			first := do(t, w.method, w.url, w.body, "Idempotency-Key", key)
			if first.status >= 300 {
				t.Fatalf("first: got status %d, want success; body %s", first.status, first.body)
			}
			after := w.changes(rn.State(t))
			second := do(t, w.method, w.url, w.body, "Idempotency-Key", key)
			if second.status != first.status || !bytes.Equal(second.body, first.body) {
				t.Errorf("replay: got %d %s, want %d %s", second.status, second.body, first.status, first.body)
			}
			if second.header.Get("Idempotent-Replayed") != "true" {
				t.Error("replay: got no Idempotent-Replayed header, want the stored answer")
			}
			if got := w.changes(rn.State(t)); got != after {
				t.Errorf("replay changed state: got %d, want %d (it was %d before the first call)", got, after, before)
			}
			do(t, w.method, w.url, w.otherBody, "Idempotency-Key", key).problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
			if got := w.changes(rn.State(t)); got != after {
				t.Errorf("reused key changed state: got %d, want %d", got, after)
			}
		})
	}
}

// TestReferenceIsTheKey replays creates that carry only a reference.
func TestReferenceIsTheKey(t *testing.T) {
	rn, _ := startManual(t)
	all := writes(t, rn, "ref")
	for _, route := range []string{sandbox.RouteReserve, sandbox.RouteAuthorize, sandbox.RouteCreateOrder} {
		w := all[route]
		t.Run(route, func(t *testing.T) {
			before := w.changes(rn.State(t))
			first := do(t, w.method, w.url, w.body).want(t, http.StatusCreated)
			second := do(t, w.method, w.url, w.body).want(t, http.StatusCreated)
			if !bytes.Equal(first.body, second.body) {
				t.Errorf("replay: got %s, want %s", second.body, first.body)
			}
			do(t, w.method, w.url, w.otherBody).problem(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
			if got := w.changes(rn.State(t)) - before; got != 1 {
				t.Errorf("got %d changes, want exactly 1", got)
			}
		})
	}
	t.Run("declines are replayed too", func(t *testing.T) {
		body := payment.AuthorizeRequest{Reference: "declined-ref", UserID: "usr_ada", Amount: money.New(5, "EUR"), Token: payment.TokenDeclined}
		first := do(t, "POST", rn.PaymentURL+"/payments", body)
		first.problem(t, http.StatusPaymentRequired, "payment_declined")
		second := do(t, "POST", rn.PaymentURL+"/payments", body)
		if second.status != first.status || !bytes.Equal(second.body, first.body) {
			t.Errorf("got %d %s, want %d %s", second.status, second.body, first.status, first.body)
		}
		if n := countPayments(payment.StatusDeclined)(rn.State(t)); n != 1 {
			t.Errorf("got %d declined payments, want 1", n)
		}
	})
	t.Run("a re-encoded body is the same request", func(t *testing.T) {
		a := `{"reference":"spacing","items":[{"product_id":2,"quantity":1}]}`
		b := "{ \"items\": [ {\"quantity\": 1, \"product_id\": 2} ],\n \"reference\": \"spacing\" }"
		first := do(t, "POST", rn.ProductURL+"/reservations", a).want(t, http.StatusCreated)
		second := do(t, "POST", rn.ProductURL+"/reservations", b).want(t, http.StatusCreated)
		if !bytes.Equal(first.body, second.body) {
			t.Errorf("got %s, want %s", second.body, first.body)
		}
	})
}

// TestConcurrentDuplicates fires one create many times at once: exactly one
// order exists and every caller gets the same answer.
func TestConcurrentDuplicates(t *testing.T) {
	rn, _ := startManual(t)
	req := orderRequest("stampede", "usr_ada")
	const n = 50
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := send(http.DefaultClient, "POST", rn.OrderURL+"/orders", req)
			if err != nil {
				t.Error(err)
				return
			}
			if r.status != http.StatusCreated {
				t.Errorf("got status %d, want 201", r.status)
			}
			bodies[i] = r.body
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("caller %d got %s, want %s", i, bodies[i], bodies[0])
		}
	}
	if got := countOrders("")(rn.State(t)); got != 1 {
		t.Errorf("got %d orders, want 1", got)
	}
}
