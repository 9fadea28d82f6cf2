package main

import (
	"net/http"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

func TestPlaceOrderAndReadIt(t *testing.T) {
	s, ada := startAsAda(t)

	r := s.order(t, ada, orderBody("tok_visa", line(1, 2), line(3, 1)))
	if r.Status != 201 {
		t.Fatalf("POST /v1/orders: status %d, body %s", r.Status, r.Body)
	}
	var placed orderView
	r.JSON(t, &placed)
	if placed.ID == "" || placed.Status != "confirmed" || placed.ItemCount != 3 || placed.Total.Amount <= 0 || placed.Total.Currency != "EUR" {
		t.Fatalf("placed order = %+v, want a confirmed order of 3 items", placed)
	}
	if got, want := r.Header.Get("Location"), "/v1/orders/"+placed.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}

	got := servertest.Do(t, "GET", s.Base+"/v1/orders/"+placed.ID, nil, "Authorization", ada)
	if got.Status != 200 {
		t.Fatalf("GET order: status %d, body %s", got.Status, got.Body)
	}
	var read orderDetailView
	got.JSON(t, &read)
	if read.orderView != placed {
		t.Errorf("GET order = %+v, want %+v", read.orderView, placed)
	}
	// The order screen shows what was bought and where it goes.
	if len(read.Lines) != 2 || read.Lines[0].ProductID != 1 || read.Lines[0].Quantity != 2 || read.Lines[0].Name == "" ||
		read.Lines[1].ProductID != 3 || read.Lines[1].UnitPrice.Currency != "EUR" {
		t.Errorf("GET order lines = %+v, want product 1 x2 and product 3 x1, named and priced", read.Lines)
	}
	if read.ShipTo == nil || read.ShipTo.City == "" {
		t.Errorf("GET order ship_to = %+v, want Ada's default address's town", read.ShipTo)
	}

	// Declined checkouts leave cancelled orders at the order service, newer
	// than the placed one, which the list leaves out: a page of one reads
	// on until it holds the placed order.
	for range 2 {
		if r := s.order(t, ada, orderBody("tok_declined", line(1, 1))); r.Status != 402 {
			t.Fatalf("POST /v1/orders declined: status %d, body %s", r.Status, r.Body)
		}
	}
	for _, limit := range []string{"10", "1"} {
		list := servertest.Do(t, "GET", s.Base+"/v1/orders?limit="+limit, nil, "Authorization", ada)
		var page orderListView
		list.JSON(t, &page)
		if list.Status != 200 || len(page.Items) != 1 || page.Items[0] != placed || page.NextCursor != "" {
			t.Errorf("GET orders?limit=%s: status %d, items %+v, next %q; want [%+v], the last page", limit, list.Status, page.Items, page.NextCursor, placed)
		}
	}

	st := s.CheckInvariants(t)
	var captured int
	for _, p := range st.Payment.Payments {
		if p.Status == "captured" {
			captured++
			if p.Amount != placed.Total {
				t.Errorf("captured %v, want %v", p.Amount, placed.Total)
			}
		}
	}
	if captured != 1 {
		t.Errorf("captured payments = %d, want 1", captured)
	}

	grace := s.login(t, "grace@example.com", "battery-staple")
	other := servertest.Do(t, "GET", s.Base+"/v1/orders/"+placed.ID, nil, "Authorization", grace)
	if p := other.Problem(t); other.Status != 404 || p["code"] != "not_found" {
		t.Errorf("another user's order: status %d, problem %v, want 404 not_found", other.Status, p)
	}
}

// TestAnOrderCancelledBeforeItWasPlacedIsNotFound: the order a declined
// checkout created and cancelled is no order of the buyer's (the 402 says
// none exists, and the list leaves it out): reading it is a 404, as a
// missing order's.
func TestAnOrderCancelledBeforeItWasPlacedIsNotFound(t *testing.T) {
	s, ada := startAsAda(t)
	if r := s.order(t, ada, orderBody("tok_declined", line(2, 1))); r.Status != 402 {
		t.Fatalf("declined order: status %d, want 402", r.Status)
	}
	id := servertest.CancelledUnplaced(t, s.Running, sandbox.Ada.ID)
	got := servertest.Do(t, "GET", s.Base+"/v1/orders/"+id, nil, "Authorization", ada)
	if p := got.Problem(t); got.Status != http.StatusNotFound || p["code"] != "not_found" {
		t.Errorf("an order cancelled before it was placed: %d %v, want 404 not_found", got.Status, p)
	}
}
