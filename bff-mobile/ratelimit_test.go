package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// TestEveryRouteCarriesRateLimitFields checks that each limited route
// describes its policy, with the caller's state, on success and on refusal.
func TestEveryRouteCarriesRateLimitFields(t *testing.T) {
	s, ada := startAsAda(t)
	placed := s.order(t, ada, orderBody("tok_visa", line(5, 1)))
	var o orderView
	placed.JSON(t, &o)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		auth   string
		policy string
	}{
		{"login", "POST", "/v1/auth/token", map[string]string{"email": sandbox.Ada.Email, "password": "wrong"}, "", "login"},
		{"refresh", "POST", "/v1/auth/refresh", map[string]string{"refresh_token": "unknown"}, "", "login"},
		{"logout", "POST", "/v1/auth/logout", map[string]string{"refresh_token": "unknown"}, "", "login"},
		{"order", "POST", "/v1/orders", orderBody("tok_visa", line(5, 1)), ada, "orders"},
		{"refused order", "POST", "/v1/orders", "{", ada, "orders"},
		{"orders", "GET", "/v1/orders", nil, ada, "default"},
		{"one order", "GET", "/v1/orders/" + o.ID, nil, ada, "default"},
		{"missing order", "GET", "/v1/orders/ord_missing", nil, ada, "default"},
		{"products", "GET", "/v1/products", nil, "", "default"},
		{"one product", "GET", "/v1/products/1", nil, "", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, tt.method, s.Base+tt.path, tt.body, "Authorization", tt.auth, "Idempotency-Key", servertest.NewKey())
			prefix := fmt.Sprintf("%q;", tt.policy)
			if p, rl := r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"); !strings.HasPrefix(p, prefix) || !strings.HasPrefix(rl, prefix) {
				t.Errorf("status %d: got RateLimit-Policy %q and RateLimit %q, want both for %s", r.Status, p, rl, tt.policy)
			}
		})
	}
	if r := servertest.Do(t, "GET", s.Base+"/healthz", nil); r.Header.Get("RateLimit") != "" {
		t.Errorf("got RateLimit %q on /healthz, want none: probes are not metered", r.Header.Get("RateLimit"))
	}
}

// TestRefusedTokensAreMetered: tokens that fail verification are charged
// to the caller's address under the login policy, on every authenticated
// route, and are refused with 429 once it is spent, before any upstream
// call; a signed-in user is not held back by them.
func TestRefusedTokensAreMetered(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_LOGIN_REQUESTS", "5")
	// Ada's own token, its signature changed: a valid kid, a bad signature.
	forged := ada[:len(ada)-10] + "AAAAAAAAAA"
	before := s.State(t)
	var statuses []int
	for range 3 {
		statuses = append(statuses, servertest.Do(t, "GET", s.Base+"/v1/orders", nil, "Authorization", forged).Status)
		statuses = append(statuses, s.order(t, forged, orderBody("tok_visa", line(5, 1))).Status)
	}
	// The login took one of the five.
	want := []int{401, 401, 401, 401, 429, 429}
	if !slices.Equal(statuses, want) {
		t.Errorf("forged tokens from one address: statuses %v, want %v", statuses, want)
	}
	if r := servertest.Do(t, "GET", s.Base+"/v1/orders", nil, "Authorization", ada); r.Status != 200 {
		t.Errorf("ada's own token meanwhile: status %d, want 200", r.Status)
	}
	if after := s.State(t); len(after.Order.Orders) != len(before.Order.Orders) ||
		len(after.Product.Reservations) != len(before.Product.Reservations) {
		t.Errorf("the forged orders reached the sandbox: %d orders, %d reservations before; %d, %d after",
			len(before.Order.Orders), len(before.Product.Reservations), len(after.Order.Orders), len(after.Product.Reservations))
	}
}

// TestCatalogCountsSignedInReadsPerUser: the catalog is public, but a read
// carrying a valid token counts against its user's quota, not its
// address's, so that phones behind one NAT do not share one; a read with a
// forged token is served as anonymous, counted by its address only: it
// spends none of the address's logins.
func TestCatalogCountsSignedInReadsPerUser(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_DEFAULT_REQUESTS", "3", "RATE_LIMIT_LOGIN_REQUESTS", "3")
	forged := ada[:len(ada)-10] + "AAAAAAAAAA"
	read := func(auth string) (int, string) {
		r := servertest.Do(t, "GET", s.Base+"/v1/products/1", nil, "Authorization", auth)
		return r.Status, r.Header.Get("RateLimit")
	}
	type answer struct {
		status int
		limit  string // RateLimit's prefix: the policy and what is left
	}
	steps := []struct {
		who  string
		auth string
		want answer
	}{
		{"ada", ada, answer{200, `"default";r=2`}},
		{"ada", ada, answer{200, `"default";r=1`}},
		{"ada", ada, answer{200, `"default";r=0`}},
		{"ada, her quota spent", ada, answer{429, `"default";r=0`}},
		// The address has its own quota, untouched by ada's reads.
		{"anonymous", "", answer{200, `"default";r=2`}},
		{"forged", forged, answer{200, `"default";r=1`}},
		{"forged", forged, answer{200, `"default";r=0`}},
		{"forged, the address's quota spent", forged, answer{429, `"default";r=0`}},
		{"forged", forged, answer{429, `"default";r=0`}},
	}
	for i, st := range steps {
		status, limit := read(st.auth)
		if status != st.want.status || !strings.HasPrefix(limit, st.want.limit) {
			t.Errorf("read %d (%s): status %d RateLimit %q, want %d and %s", i+1, st.who, status, limit, st.want.status, st.want.limit)
		}
	}
	// The address's logins are untouched: the first took one of three.
	for i := range 2 {
		if r := servertest.Do(t, "POST", s.Base+"/v1/auth/token", map[string]string{"email": sandbox.Ada.Email, "password": sandbox.Ada.Password}); r.Status != 200 {
			t.Errorf("login %d after the forged reads: %d, want 200", i+2, r.Status)
		}
	}
}

// TestOrderRetriesSpendNoQuota: the orders quota counts checkout attempts.
// A retry of a key already answered (replayed its outcome) spends none of
// it, so that a phone retrying is locked out neither of its outcome nor of
// its next order; a key refused as it was priced, which is judged afresh
// with any body, is counted every time.
func TestOrderRetriesSpendNoQuota(t *testing.T) {
	s, ada := startAsAda(t, "RATE_LIMIT_ORDER_REQUESTS", "3")
	post := func(key string, body any) servertest.Response {
		return servertest.Do(t, "POST", s.Base+"/v1/orders", body, "Authorization", ada, "Idempotency-Key", key)
	}
	placed, refused := servertest.NewKey(), servertest.NewKey()
	good, unknown := orderBody("tok_visa", line(2, 1)), orderBody("tok_visa", line(999999, 1))
	steps := []struct {
		name   string
		key    string
		body   any
		status int
		limit  string // RateLimit's prefix, "" for none
	}{
		{"an order", placed, good, 201, `"orders";r=2;`},
		{"its retry", placed, good, 201, ""},
		{"its retry", placed, good, 201, ""},
		{"its retry", placed, good, 201, ""},
		{"an unknown product", refused, unknown, 400, `"orders";r=1;`},
		{"the refused key again", refused, unknown, 400, `"orders";r=0;`},
		{"the refused key, now a good order", refused, good, 429, `"orders";r=0;`},
		{"the first order's retry still", placed, good, 201, ""},
	}
	for i, st := range steps {
		r := post(st.key, st.body)
		if rl := r.Header.Get("RateLimit"); r.Status != st.status || (st.limit == "") != (rl == "") || !strings.HasPrefix(rl, st.limit) {
			t.Errorf("request %d (%s): %d RateLimit %q, want %d and %q", i+1, st.name, r.Status, rl, st.status, st.limit)
		}
	}
}
