package scenario

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// answersWithoutTheValue puts a product and an order service in front of
// the BFF that answer 200 without the value asked for: an empty body,
// null, an empty object, another resource than the one named. None is
// served as a zero product or order: each is a 503 upstream_unavailable,
// and asked again the BFF asks the service again rather than serve what it
// was given.
func answersWithoutTheValue(t *testing.T, sh Shop) {
	const otherProduct = `{"id":10,"sku":"SKU-10","name":"Another","category":"kitchen","brand":"B",` +
		`"price":{"amount":100,"currency":"EUR"},"images":[],"rating":4,"stock":3}`
	// Ada's, so that only its id is wrong.
	otherOrder := `{"id":"ord_else","user_id":"` + sandbox.Ada.ID + `","status":"confirmed","items":[],` +
		`"total":{"amount":100,"currency":"EUR"},"created_at":"2024-01-01T00:00:00Z"}`
	answers := map[string]string{
		"/products/7": "null", "/products/8": "", "/products/9": otherProduct, "/products/11": "{}",
		"/orders/ord_null": "null", "/orders/ord_blank": " ", "/orders/ord_other": otherOrder,
		"/orders": "null",
	}
	var mu sync.Mutex
	asked := map[string]int{}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.Path]
		mu.Lock()
		asked[r.URL.Path]++
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(fake.Close)
	s, ada := sh.ada(t, "UPSTREAM_PRODUCT_URLS", fake.URL, "UPSTREAM_ORDER_URLS", fake.URL)
	for _, tt := range []struct{ name, path, upstream string }{
		{"a product: null", sh.Products + "/7", "/products/7"},
		{"a product: empty", sh.Products + "/8", "/products/8"},
		{"a product: another", sh.Products + "/9", "/products/9"},
		{"a product: {}", sh.Products + "/11", "/products/11"},
		{"an order: null", sh.Orders + "/ord_null", "/orders/ord_null"},
		{"an order: blank", sh.Orders + "/ord_blank", "/orders/ord_blank"},
		{"an order: another", sh.Orders + "/ord_other", "/orders/ord_other"},
		{"the orders: null", sh.Orders, "/orders"},
	} {
		for try := 1; try <= 2; try++ {
			r := servertest.Do(t, "GET", s.Base+tt.path, nil, ada()...)
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("%s, try %d: %d %s, want 503", tt.name, try, r.Status, r.Body)
				continue
			}
			if p := r.Problem(t); p["code"] != "upstream_unavailable" {
				t.Errorf("%s, try %d: problem %v, want upstream_unavailable", tt.name, try, p)
			}
		}
		mu.Lock()
		n := asked[tt.upstream]
		mu.Unlock()
		if n < 2 {
			t.Errorf("%s: the service was asked %d times for two reads, want each read to ask it", tt.name, n)
		}
	}
}
