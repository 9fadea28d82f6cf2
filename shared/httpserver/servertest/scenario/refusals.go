package scenario

import (
	"net/http"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// upstreamRefusalsAreNotTheClients makes each read's upstream answer a
// 404, a 400 or a 422 once: a read of one resource the client named turns a
// 404 into a 404, but a listing cannot be missing, and the BFF sends only
// requests it validated, so every other refusal is the upstream failing (a
// 503 upstream_unavailable with Retry-After), never a status that blames
// the client.
func upstreamRefusalsAreNotTheClients(t *testing.T, sh Shop) {
	s, ada := sh.ada(t)
	r := sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(1, 1)))
	var placed struct {
		ID string `json:"id"`
	}
	r.JSON(t, &placed)
	if r.Status != http.StatusCreated || placed.ID == "" {
		t.Fatalf("order: %d %s, want 201", r.Status, r.Body)
	}
	// Each case reads what no earlier one did, so that no cache answers
	// in the upstream's place.
	for _, tt := range []struct {
		name    string
		service string
		route   string
		status  int
		path    string
		want    int
	}{
		{"orders: 404", "order", "GET /orders", 404, sh.Orders, http.StatusServiceUnavailable},
		{"orders: 400", "order", "GET /orders", 400, sh.Orders + "?limit=3", http.StatusServiceUnavailable},
		{"orders: 422", "order", "GET /orders", 422, sh.Orders + "?limit=4", http.StatusServiceUnavailable},
		{"catalog: 404", "product", "GET /products", 404, sh.Products + "?limit=3", http.StatusServiceUnavailable},
		{"catalog: 400", "product", "GET /products", 400, sh.Products + "?limit=4", http.StatusServiceUnavailable},
		{"catalog: 422", "product", "GET /products", 422, sh.Products + "?limit=5", http.StatusServiceUnavailable},
		{"an order: 404", "order", "GET /orders/{id}", 404, sh.Orders + "/" + placed.ID, http.StatusNotFound},
		{"an order: 400", "order", "GET /orders/{id}", 400, sh.Orders + "/" + placed.ID, http.StatusServiceUnavailable},
		{"a product: 404", "product", "GET /products/{id}", 404, sh.Products + "/31", http.StatusNotFound},
		{"a product: 400", "product", "GET /products/{id}", 400, sh.Products + "/32", http.StatusServiceUnavailable},
		{"a product: 422", "product", "GET /products/{id}", 422, sh.Products + "/33", http.StatusServiceUnavailable},
	} {
		s.Inject(t, tt.service, sandbox.Fault{Route: tt.route, Status: tt.status, Count: 1})
		r := servertest.Do(t, "GET", s.Base+tt.path, nil, ada()...)
		if r.Status != tt.want {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, r.Status, tt.want, r.Body)
			continue
		}
		p := r.Problem(t)
		switch tt.want {
		case http.StatusNotFound:
			if p["code"] != "not_found" {
				t.Errorf("%s: problem %v, want not_found", tt.name, p)
			}
		default:
			if p["code"] != "upstream_unavailable" || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: problem %v, Retry-After %q; want upstream_unavailable with Retry-After", tt.name, p, r.Header.Get("Retry-After"))
			}
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tt.service) {
				t.Errorf("%s: detail %q, want it to name the %s service", tt.name, detail, tt.service)
			}
		}
	}
}
