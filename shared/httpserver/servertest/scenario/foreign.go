package scenario

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// BrokenOrderFilter starts an order service whose user_id filter is
// broken: it answers every listing, to anyone, with two of Ada's orders,
// ord_ada_2 and ord_ada_1, newest first, and one of Grace's between them.
// It returns its URL, for UPSTREAM_ORDER_URLS.
func BrokenOrderFilter(t *testing.T) string {
	order := func(id, user, at string) string {
		return `{"id":"` + id + `","user_id":"` + user + `","status":"confirmed","items":[],` +
			`"total":{"amount":100,"currency":"EUR"},"created_at":"` + at + `"}`
	}
	return OrderService(t, order("ord_ada_2", sandbox.Ada.ID, "2024-01-02T00:00:00Z"),
		order("ord_grace_1", sandbox.Grace.ID, "2024-01-01T12:00:00Z"),
		order("ord_ada_1", sandbox.Ada.ID, "2024-01-01T00:00:00Z"))
}

// OrderService starts an order service that answers every listing, to
// anyone and whatever its limit, with one page of items (JSON objects),
// and returns its URL, for UPSTREAM_ORDER_URLS.
func OrderService(t *testing.T, items ...string) string {
	t.Helper()
	page := `{"items":[` + strings.Join(items, ",") + `]}`
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orders" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(fake.Close)
	return fake.URL
}

// foreignOrdersLeftOut lists Ada's orders from an order service whose
// user_id filter lets Grace's through: the BFF shows Ada only hers.
func foreignOrdersLeftOut(t *testing.T, sh Shop) {
	s, ada := sh.ada(t, "UPSTREAM_ORDER_URLS", BrokenOrderFilter(t))
	r := servertest.Do(t, "GET", s.Base+sh.Orders, nil, ada()...)
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, body %s; want 200", r.Status, r.Body)
	}
	r.JSON(t, &page)
	var ids []string
	for _, o := range page.Items {
		ids = append(ids, o.ID)
	}
	if len(ids) != 2 || ids[0] != "ord_ada_2" || ids[1] != "ord_ada_1" {
		t.Errorf("Ada's list shows %v, want only her orders ord_ada_2 and ord_ada_1", ids)
	}
}
