package scenario

import (
	"net/http"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// forgedCursorsRefused pages through both lists (the catalog and the
// user's orders) for real cursors, then sends each list a forged cursor, a
// real one tampered with, the upstream's own format, and another listing's
// or user's: each is a 400 naming the cursor, and none reaches an upstream.
func forgedCursorsRefused(t *testing.T, sh Shop) {
	s, ada := sh.ada(t)
	grace := sh.Login(t, s, sandbox.Grace.Email, sandbox.Grace.Password)
	for range 2 {
		sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(1, 1)))
		sh.order(t, s, grace, servertest.OrderBody("tok_visa", servertest.Line(1, 1)))
	}
	next := func(path string, who Buyer) string {
		t.Helper()
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		servertest.Do(t, "GET", s.Base+path, nil, who()...).JSON(t, &page)
		if page.NextCursor == "" {
			t.Fatalf("GET %s: no next_cursor", path)
		}
		return page.NextCursor
	}
	adas, graces := next(sh.Orders+"?limit=1", ada), next(sh.Orders+"?limit=1", grace)
	catalog, kitchen := next(sh.Products+"?limit=1", ada), next(sh.Products+"?limit=1&category=kitchen", ada)
	tamper := func(c string) string {
		b := []byte(c)
		// The upstream cursor's last character, another of the alphabet.
		b[len(b)-1] = map[bool]byte{true: 'B', false: 'A'}[b[len(b)-1] == 'A']
		return string(b)
	}
	before := callsOf(t, s)
	for _, tt := range []struct{ name, path, cursor string }{
		{"orders: forged", sh.Orders, "cDE6NA"},
		{"orders: tampered", sh.Orders, tamper(adas)},
		{"orders: another user's", sh.Orders, graces},
		{"orders: a catalog cursor", sh.Orders, catalog},
		{"catalog: forged", sh.Products, "cDE6NA"},
		{"catalog: tampered", sh.Products, tamper(catalog)},
		{"catalog: another category's", sh.Products, kitchen},
	} {
		r := servertest.Do(t, "GET", s.Base+tt.path+"?cursor="+tt.cursor, nil, ada()...)
		if p := r.Problem(t); r.Status != http.StatusBadRequest || p["field"] != "cursor" {
			t.Errorf("%s: %d %v, want a 400 naming the cursor", tt.name, r.Status, p)
		}
	}
	checkNoCalls(t, s, before)
	if r := servertest.Do(t, "GET", s.Base+sh.Orders+"?limit=1&cursor="+adas, nil, ada()...); r.Status != http.StatusOK {
		t.Errorf("ada's own cursor: %d %s, want 200", r.Status, r.Body)
	}
}
