package main

import (
	"fmt"
	"reflect"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

func TestMe(t *testing.T) {
	s, ada := startAsAda(t)
	for _, body := range []map[string]any{
		orderBody("tok_visa", line(1, 1), line(9, 2)),
		orderBody("tok_visa", line(17, 1)),
	} {
		if r := s.order(t, ada, body); r.Status != 201 {
			t.Fatalf("order: status %d, body %s", r.Status, r.Body)
		}
	}
	// Declined checkouts leave cancelled orders at the order service, more
	// of them than the page shows and newer than the placed ones: the page
	// leaves them out and reads on.
	for range recentOrderCount + 1 {
		if r := s.order(t, ada, orderBody("tok_declined", line(3, 1))); r.Status != 402 {
			t.Fatalf("declined order: status %d, body %s", r.Status, r.Body)
		}
	}
	r := servertest.Do(t, "GET", s.Base+"/api/me", nil, ada.headers(reading)...)
	if r.Status != 200 {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	servertest.CheckGolden(t, "me.json", r.Body)

	var me meView
	r.JSON(t, &me)
	if len(me.RecentOrders) != 2 || len(me.RecentOrders[0].Thumbnails) != 1 || len(me.RecentOrders[1].Thumbnails) != 2 {
		t.Errorf("recent orders %+v, want the two orders, newest first, with their thumbnails", me.RecentOrders)
	}
}

// TestMeShowsOnlyTheCallersData: the account page is the caller's own,
// whoever asked before.
func TestMeShowsOnlyTheCallersData(t *testing.T) {
	s, ada := startAsAda(t)
	grace := s.login(t, "grace@example.com", "battery-staple")
	if r := s.order(t, ada, orderBody("tok_visa", line(3, 1))); r.Status != 201 {
		t.Fatalf("order: status %d", r.Status)
	}
	tests := []struct {
		name   string
		ss     session
		email  string
		orders int
	}{
		{"ada", ada, "ada@example.com", 1},
		{"grace", grace, "grace@example.com", 0},
		{"ada again", ada, "ada@example.com", 1},
	}
	for _, tt := range tests {
		r := servertest.Do(t, "GET", s.Base+"/api/me", nil, tt.ss.headers(reading)...)
		var me meView
		r.JSON(t, &me)
		if r.Status != 200 || me.User.Email != tt.email || len(me.RecentOrders) != tt.orders {
			t.Errorf("%s: status %d user %s with %d orders, want %s with %d", tt.name, r.Status, me.User.Email, len(me.RecentOrders), tt.email, tt.orders)
		}
	}
	// The session's CSRF token comes back with the page, for an SPA that
	// cannot read the cookie that holds it; not for a bearer token.
	for _, tt := range tests {
		var me meView
		servertest.Do(t, "GET", s.Base+"/api/me", nil, tt.ss.headers(reading)...).JSON(t, &me)
		if me.CSRFToken == "" || me.CSRFToken != tt.ss.csrf {
			t.Errorf("%s: csrf_token %q, want the session's %q", tt.name, me.CSRFToken, tt.ss.csrf)
		}
	}
	token := accessToken(t, s, sandbox.Ada)
	var bearer meView
	servertest.Do(t, "GET", s.Base+"/api/me", nil, "Authorization", "Bearer "+token).JSON(t, &bearer)
	if bearer.User.Email != "ada@example.com" || bearer.CSRFToken != "" {
		t.Errorf("with a bearer token: user %s, csrf_token %q; want ada's page without a token", bearer.User.Email, bearer.CSRFToken)
	}
	anon := servertest.Do(t, "GET", s.Base+"/api/me", nil)
	if p := anon.Problem(t); anon.Status != 401 || p["code"] != "unauthenticated" {
		t.Errorf("anonymous: status %d problem %v, want 401", anon.Status, p)
	}
}

// TestMeFailures: the recent orders and their thumbnails are optional, the
// profile is required.
func TestMeFailures(t *testing.T) {
	tests := []struct {
		name     string
		service  string
		fault    sandbox.Fault
		status   int
		code     string
		degraded []string
		orders   int
	}{
		{"orders down", "order", sandbox.Fault{Route: "GET /orders", Status: 503}, 200, "", []string{"orders"}, 0},
		{"orders not found", "order", sandbox.Fault{Route: "GET /orders", Status: 404}, 200, "", []string{"orders"}, 0},
		{"orders slow", "order", sandbox.Fault{Route: "GET /orders", LatencyMS: 1500}, 200, "", []string{"orders"}, 0},
		{"thumbnails down", "product", sandbox.Fault{Route: "GET /products", Status: 503}, 200, "", []string{"thumbnails"}, 1},
		{"profile down", "user", sandbox.Fault{Route: "GET /users/{id}", Status: 503}, 503, "upstream_unavailable", nil, 0},
		{"profile refused", "user", sandbox.Fault{Route: "GET /users/{id}", Status: 400}, 503, "upstream_unavailable", nil, 0},
		{"profile refused as unprocessable", "user", sandbox.Fault{Route: "GET /users/{id}", Status: 422}, 503, "upstream_unavailable", nil, 0},
		{"profile slow", "user", sandbox.Fault{Route: "GET /users/{id}", LatencyMS: 1500}, 504, "deadline_exceeded", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ada := startAsAda(t, "VIEW_TIMEOUT", "500ms")
			if r := s.order(t, ada, orderBody("tok_visa", line(2, 1))); r.Status != 201 {
				t.Fatalf("order: status %d", r.Status)
			}
			s.Inject(t, tt.service, tt.fault)
			r := servertest.Do(t, "GET", s.Base+"/api/me", nil, ada.headers(reading)...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 200 {
				if p := r.Problem(t); p["code"] != tt.code {
					t.Errorf("problem %v, want code %s", p, tt.code)
				}
				return
			}
			var me meView
			r.JSON(t, &me)
			if me.User.ID != "usr_ada" || len(me.RecentOrders) != tt.orders || !reflect.DeepEqual(me.Degraded, tt.degraded) {
				t.Errorf("page %+v, want Ada with %d orders, degraded %v", me, tt.orders, tt.degraded)
			}
			for _, o := range me.RecentOrders {
				if len(o.Thumbnails) != 0 {
					t.Errorf("order %s has thumbnails %v while the product service is down", o.ID, o.Thumbnails)
				}
			}
			if got := metric(t, s, `bff_degraded_parts_total{part="`+tt.degraded[0]+`"}`); got != "1" {
				t.Errorf("degraded metric = %q, want 1", got)
			}
		})
	}
}

// TestMeLeavesOutForeignOrders: the account page of Ada, read from an
// order service whose user_id filter lets Grace's orders through, shows
// only Ada's.
func TestMeLeavesOutForeignOrders(t *testing.T) {
	s, ada := startAsAda(t, "UPSTREAM_ORDER_URLS", scenario.BrokenOrderFilter(t))
	_, ids := readMe(t, s, ada)
	if !reflect.DeepEqual(ids, []string{"ord_ada_2", "ord_ada_1"}) {
		t.Errorf("recent orders %v, want only Ada's, ord_ada_2 and ord_ada_1", ids)
	}
}

// readMe reads the account page as ada, and the ids of its recent orders.
func readMe(t *testing.T, s *stack, ada session) (me meView, ids []string) {
	t.Helper()
	r := servertest.Do(t, "GET", s.Base+"/api/me", nil, ada.headers(reading)...)
	if r.Status != 200 {
		t.Fatalf("status %d, body %s", r.Status, r.Body)
	}
	r.JSON(t, &me)
	for _, o := range me.RecentOrders {
		ids = append(ids, o.ID)
	}
	return me, ids
}

// listedOrder is one order of a list answer, with total as its JSON.
func listedOrder(id, user, total string) string {
	return `{"id":"` + id + `","user_id":"` + user + `","status":"confirmed","items":[],` +
		`"total":` + total + `,"created_at":"2024-01-01T00:00:00Z"}`
}

// TestMeShowsNothingOfAnUnreadableOrderList: a list answer that fails to
// decode part way (Grace's order let through, then a malformed one) leaves
// the recent orders out, and says so; none of the rows decoded before the
// bad one, Ada's or Grace's, is shown.
func TestMeShowsNothingOfAnUnreadableOrderList(t *testing.T) {
	const eur = `{"amount":100,"currency":"EUR"}`
	orders := scenario.OrderService(t,
		listedOrder("ord_ada_1", sandbox.Ada.ID, eur),
		listedOrder("ord_grace_1", sandbox.Grace.ID, eur),
		listedOrder("ord_ada_2", sandbox.Ada.ID, `{"amount":"lots","currency":"EUR"}`))
	s, ada := startAsAda(t, "UPSTREAM_ORDER_URLS", orders)
	me, _ := readMe(t, s, ada)
	if len(me.RecentOrders) != 0 || !reflect.DeepEqual(me.Degraded, []string{"orders"}) {
		t.Errorf("recent orders %+v, degraded %v; want none, degraded [orders]", me.RecentOrders, me.Degraded)
	}
}

// TestMeLeavesOutAnOrderListLongerThanAsked: an order service that
// ignores the limit it is asked for is failing (see order.Client.List);
// the account page shows the profile, and its recent orders are left out
// and said to be.
func TestMeLeavesOutAnOrderListLongerThanAsked(t *testing.T) {
	var items []string
	for i := range recentOrderCount + 2 {
		items = append(items, listedOrder(fmt.Sprintf("ord_ada_%d", recentOrderCount+2-i), sandbox.Ada.ID, `{"amount":100,"currency":"EUR"}`))
	}
	s, ada := startAsAda(t, "UPSTREAM_ORDER_URLS", scenario.OrderService(t, items...))
	me, ids := readMe(t, s, ada)
	if len(ids) != 0 || !reflect.DeepEqual(me.Degraded, []string{"orders"}) || me.User.ID != sandbox.Ada.ID {
		t.Errorf("user %q, recent orders %v, degraded %v; want Ada's profile, no orders, degraded [orders]", me.User.ID, ids, me.Degraded)
	}
}

// TestOrderHistoryRefusesAPageLongerThanAsked: a page of the history
// cut to the limit would lose, for good, the orders between the cut and
// the service's next cursor; the page is the service failing instead.
func TestOrderHistoryRefusesAPageLongerThanAsked(t *testing.T) {
	eur := `{"amount":100,"currency":"EUR"}`
	orders := scenario.OrderService(t, listedOrder("ord_ada_3", sandbox.Ada.ID, eur),
		listedOrder("ord_ada_2", sandbox.Ada.ID, eur), listedOrder("ord_ada_1", sandbox.Ada.ID, eur))
	s, ada := startAsAda(t, "UPSTREAM_ORDER_URLS", orders)
	r := servertest.Do(t, "GET", s.Base+"/api/orders?limit=2", nil, ada.headers(reading)...)
	if r.Status != 503 || r.Problem(t)["code"] != "upstream_unavailable" {
		t.Errorf("limit 2: status %d, body %s, want 503 upstream_unavailable", r.Status, r.Body)
	}
	if r = servertest.Do(t, "GET", s.Base+"/api/orders?limit=3", nil, ada.headers(reading)...); r.Status != 200 {
		t.Errorf("limit 3: status %d, body %s, want 200", r.Status, r.Body)
	}
}
