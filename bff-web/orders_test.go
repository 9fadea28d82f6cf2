package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
)

func TestSessionAndRichOrder(t *testing.T) {
	s, ada := startAsAda(t)
	if ada.view.User.ID != "usr_ada" || ada.view.User.Email != "ada@example.com" || len(ada.view.User.Addresses) == 0 {
		t.Errorf("session profile = %+v, want Ada with addresses", ada.view.User)
	}
	for _, c := range ada.cookies {
		if c.Path != "/" || c.SameSite != 2 /* Lax */ {
			t.Errorf("cookie %s: path %q samesite %v, want / and Lax", c.Name, c.Path, c.SameSite)
		}
		if c.Name == "sf_session" && !c.HttpOnly {
			t.Error("session cookie is not HttpOnly")
		}
	}

	r := s.order(t, ada, orderBody("tok_visa", line(1, 2), line(3, 1), line(1, 1)))
	if r.Status != 201 {
		t.Fatalf("POST /api/orders: status %d, body %s", r.Status, r.Body)
	}
	var placed orderView
	r.JSON(t, &placed)
	if placed.Status != "confirmed" || len(placed.Lines) != 2 || placed.Totals.ItemCount != 4 {
		t.Fatalf("placed = %+v, want confirmed with 2 merged lines of 4 items", placed)
	}
	var sum int64
	for _, l := range placed.Lines {
		if l.Name == "" || l.Image == nil || l.Image.URL == "" || l.UnitPrice.Amount <= 0 || l.LineTotal.Amount != l.UnitPrice.Amount*int64(l.Quantity) {
			t.Errorf("line %+v: want name, image, price and line total", l)
		}
		sum += l.LineTotal.Amount
	}
	if placed.Totals.Subtotal.Amount != sum || placed.Totals.Total.Amount != sum {
		t.Errorf("totals %+v, want subtotal and total %d", placed.Totals, sum)
	}
	if placed.Payment == nil || placed.Payment.Status != "captured" || placed.Payment.Method.Brand != "visa" {
		t.Errorf("payment = %+v, want captured visa", placed.Payment)
	}
	if placed.ShippingAddress == nil || placed.ShippingAddress.City == "" {
		t.Errorf("shipping address = %+v, want Ada's default address", placed.ShippingAddress)
	}

	got := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, ada.headers(reading)...)
	var read orderView
	got.JSON(t, &read)
	if got.Status != 200 || !reflect.DeepEqual(read, placed) {
		t.Errorf("GET order: status %d\n got %+v\nwant %+v", got.Status, read, placed)
	}

	list := servertest.Do(t, "GET", s.Base+"/api/orders", nil, ada.headers(reading)...)
	var page orderListView
	list.JSON(t, &page)
	if list.Status != 200 || len(page.Items) != 1 || page.Items[0].ID != placed.ID || len(page.Items[0].Thumbnails) != 2 {
		t.Errorf("GET orders: status %d page %+v, want the order with 2 thumbnails", list.Status, page)
	}

	grace := s.login(t, "grace@example.com", "battery-staple")
	other := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, grace.headers(reading)...)
	if p := other.Problem(t); other.Status != 404 || p["code"] != "not_found" {
		t.Errorf("another user's order: status %d problem %v, want 404", other.Status, p)
	}

	out := servertest.Do(t, "DELETE", s.Base+"/api/session", nil, ada.headers(reading)...)
	if out.Status != 204 || len(out.Header.Values("Set-Cookie")) != 2 {
		t.Errorf("DELETE /api/session: status %d cookies %v, want 204 clearing both", out.Status, out.Header.Values("Set-Cookie"))
	}
	s.CheckInvariants(t)
}

func TestOrderPageMarksDegradedParts(t *testing.T) {
	s, ada := startAsAda(t)
	r := s.order(t, ada, orderBody("tok_visa", line(2, 1)))
	var placed orderView
	r.JSON(t, &placed)
	s.Inject(t, "payment", sandbox.Fault{Route: "GET /payments/{id}", Status: 503})
	got := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, ada.headers(reading)...)
	var v orderView
	got.JSON(t, &v)
	if got.Status != 200 || v.Payment != nil || !reflect.DeepEqual(v.Degraded, []string{"payment"}) || len(v.Lines) != 1 {
		t.Errorf("with payment down: status %d view %+v, want 200 with degraded [payment]", got.Status, v)
	}
	if err := s.ClearFaults(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Inject(t, "order", sandbox.Fault{Route: "GET /orders/{id}", Status: 503})
	down := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, ada.headers(reading)...)
	if p := down.Problem(t); down.Status != 503 || p["code"] != "upstream_unavailable" {
		t.Errorf("with the order service down: status %d problem %v, want 503", down.Status, p)
	}
}

// TestOrderPageOfAnOrderWithoutPayment: the page of an order still being
// placed, pending and naming no payment yet, has no payment: the payment
// service is not asked for one, and nothing is degraded, counted or not.
func TestOrderPageOfAnOrderWithoutPayment(t *testing.T) {
	s, ada := startAsAda(t)
	pending, err := s.Clients(t, upstream.DefaultConfig()).Order.Create(context.Background(), order.CreateRequest{
		Reference: "being-placed", UserID: sandbox.Ada.ID, Total: money.New(1999, "EUR"),
		Items: []order.Line{{ProductID: 2, Name: "being placed", Quantity: 1, UnitPrice: money.New(1999, "EUR")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := paymentCalls(servertest.Metrics(t, s.Base))
	got := servertest.Do(t, "GET", s.Base+"/api/orders/"+pending.ID, nil, ada.headers(reading)...)
	var v orderView
	got.JSON(t, &v)
	if got.Status != 200 || v.Payment != nil || v.Degraded != nil || v.Status != order.StatusPending {
		t.Errorf("page of an order without payment: status %d view %+v, want 200, pending, no payment, nothing degraded", got.Status, v)
	}
	m := servertest.Metrics(t, s.Base)
	if n := paymentCalls(m) - before; n != 0 {
		t.Errorf("the page made %d calls to the payment service, want none", n)
	}
	if strings.Contains(m, `bff_degraded_parts_total{part="payment"}`) {
		t.Error("an order without payment was counted as a degraded payment part")
	}
}

// TestAnOrderCancelledBeforeItWasPlacedIsNotFound: the order a declined
// checkout created and cancelled is no order of the buyer's (the 402 says
// none exists, and the history leaves it out): its page is a 404, as a
// missing order's.
func TestAnOrderCancelledBeforeItWasPlacedIsNotFound(t *testing.T) {
	s, ada := startAsAda(t)
	if r := s.order(t, ada, orderBody("tok_declined", line(2, 1))); r.Status != 402 {
		t.Fatalf("declined order: status %d, want 402", r.Status)
	}
	id := servertest.CancelledUnplaced(t, s.Running, sandbox.Ada.ID)
	got := servertest.Do(t, "GET", s.Base+"/api/orders/"+id, nil, ada.headers(reading)...)
	if p := got.Problem(t); got.Status != http.StatusNotFound || p["code"] != "not_found" {
		t.Errorf("page of an order cancelled before it was placed: %d %v, want 404 not_found", got.Status, p)
	}
}

// paymentCalls sums the attempts at calling the payment service in the
// metrics page m.
func paymentCalls(m string) (n int) {
	for l := range strings.Lines(m) {
		if !strings.HasPrefix(l, "bff_upstream_attempts_total{") || !strings.Contains(l, `service="payment"`) {
			continue
		}
		fields := strings.Fields(l)
		v, _ := strconv.Atoi(fields[len(fields)-1])
		n += v
	}
	return n
}

// TestOrderPageOfAPaymentItCannotShow: a payment service that answers a
// payment without a status of the document's enum or a last4 of four ASCII
// digits leaves the payment out of the page, named in degraded and counted
// like any part left out, rather than passing it on.
func TestOrderPageOfAPaymentItCannotShow(t *testing.T) {
	// answer is the status and last4 the payment service gives the order
	// page's payment read; every other call reaches the sandbox.
	var answer atomic.Pointer[[2]string]
	var target atomic.Pointer[url.URL]
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := answer.Load(); a != nil && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/payments/") && !strings.Contains(r.URL.Path, "by-reference") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%q,"status":%q,"method":{"type":"card","brand":"visa","last4":%q}}`, strings.TrimPrefix(r.URL.Path, "/payments/"), a[0], a[1])
			return
		}
		if to := target.Load(); to != nil {
			httputil.NewSingleHostReverseProxy(to).ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable) // the readiness probe, before the sandbox is known
	}))
	t.Cleanup(fake.Close)
	s := startStack(t, "UPSTREAM_PAYMENT_URLS", fake.URL)
	u, err := url.Parse(s.PaymentURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)
	var placed orderView
	s.order(t, ada, orderBody("tok_visa", line(2, 1))).JSON(t, &placed)

	tests := []struct {
		name, status, last4 string
		shown               bool
	}{
		{"captured card", "captured", "4242", true},
		{"refunded card", "refunded", "0005", true},
		{"no status nor card", "", "", false},
		{"last4 with a letter", "captured", "42a1", false},
		{"last4 with a sign", "captured", "-424", false},
		{"last4 with a space", "captured", " 424", false},
		{"last4 in other digits", "captured", "٤٢", false},
		{"five digits", "captured", "42424", false},
		{"status not in the enum", "pending_review", "4242", false},
		{"status in capitals", "CAPTURED", "4242", false},
	}
	left := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer.Store(&[2]string{tt.status, tt.last4})
			got := servertest.Do(t, "GET", s.Base+"/api/orders/"+placed.ID, nil, ada.headers(reading)...)
			var v orderView
			got.JSON(t, &v)
			wantDegraded := []string{"payment"}
			if tt.shown {
				wantDegraded = nil
			} else {
				left++
			}
			if got.Status != 200 || (v.Payment != nil) != tt.shown || !reflect.DeepEqual(v.Degraded, wantDegraded) {
				t.Errorf("status %d payment %+v degraded %v, want 200, the payment shown: %v, degraded %v", got.Status, v.Payment, v.Degraded, tt.shown, wantDegraded)
			}
		})
	}
	if want := fmt.Sprintf(`bff_degraded_parts_total{part="payment"} %d`, left); !strings.Contains(servertest.Metrics(t, s.Base), want) {
		t.Errorf("metrics lack %s: the payments left out were not counted", want)
	}
}
