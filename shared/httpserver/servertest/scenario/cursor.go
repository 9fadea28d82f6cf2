package scenario

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"storefront.dev/shared/cursor"
	"storefront.dev/shared/httpserver"
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

// longUpstreamCursors puts an order service in front of the BFF whose
// cursors are long: the BFF's cursor of the longest upstream cursor it
// seals is taken back, and an upstream cursor longer than that is the order
// service failing (a 503), not a cursor handed out only to be refused. The
// document's bound on a cursor is the one the BFF applies.
func longUpstreamCursors(t *testing.T, sh Shop) {
	order := func(id string) string {
		return `{"id":"` + id + `","user_id":"` + sandbox.Ada.ID + `","status":"confirmed","items":[],` +
			`"total":{"amount":100,"currency":"EUR"},"created_at":"2024-01-01T00:00:00Z"}`
	}
	page := func(id, next string) string { return `{"items":[` + order(id) + `],"next_cursor":"` + next + `"}` }
	second, longest := strings.Repeat("n", 200), strings.Repeat("m", cursor.MaxUpstreamLength)
	pages := map[string]string{
		"":      page("ord_1", second),
		second:  page("ord_2", longest),
		longest: page("ord_3", strings.Repeat("z", cursor.MaxUpstreamLength+1)),
	}
	var mu sync.Mutex
	var asked []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Query().Get("cursor")]
		if r.URL.Path != "/orders" || !ok {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		asked = append(asked, r.URL.Query().Get("cursor"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(fake.Close)
	s, ada := sh.ada(t, "UPSTREAM_ORDER_URLS", fake.URL)

	path := sh.Orders + "?limit=1"
	for i, want := range []string{"ord_1", "ord_2"} {
		r := servertest.Do(t, "GET", s.Base+path, nil, ada()...)
		var got struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if r.Status != http.StatusOK {
			t.Fatalf("page %d: %d %s, want 200", i+1, r.Status, r.Body)
		}
		r.JSON(t, &got)
		if len(got.Items) != 1 || got.Items[0].ID != want || got.NextCursor == "" {
			t.Fatalf("page %d: %s, want %s and a next cursor", i+1, r.Body, want)
		}
		path = sh.Orders + "?limit=1&cursor=" + got.NextCursor
	}
	r := servertest.Do(t, "GET", s.Base+path, nil, ada()...)
	if p := r.Problem(t); r.Status != http.StatusServiceUnavailable || p["code"] != "upstream_unavailable" {
		t.Errorf("page 3, whose upstream cursor is too long to seal: %d %v, want 503 upstream_unavailable", r.Status, p)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", second, longest}; !slices.Equal(asked, want) {
		t.Errorf("the order service was asked for %d pages, want 3 with each page's cursor", len(asked))
	}

	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name   string `json:"name"`
					Schema struct {
						MaxLength int `json:"maxLength"`
					} `json:"schema"`
				} `json:"parameters"`
			} `json:"get"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(sh.Document, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sh.Orders, sh.Products} {
		bound := 0
		for _, param := range doc.Paths[p].Get.Parameters {
			if param.Name == "cursor" {
				bound = param.Schema.MaxLength
			}
		}
		if bound != httpserver.MaxCursorLength {
			t.Errorf("GET %s: the document bounds the cursor at %d, want %d, the BFF's bound", p, bound, httpserver.MaxCursorLength)
		}
	}
}
