package main

import (
	"bufio"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

func TestProductViews(t *testing.T) {
	startStack(t).CheckViews(t, []servertest.View{
		{Name: "list of a category", Path: "/api/products?category=kitchen&limit=2", Golden: "products_kitchen.json"},
		{Name: "product page", Path: "/api/products/2", Golden: "product_page.json"},
		{Name: "product page with gallery", Path: "/api/products/13", Golden: "product_page_13.json"},
	})
}

func TestProductPageRelated(t *testing.T) {
	s := startStack(t)
	r := servertest.Do(t, "GET", s.Base+"/api/products/20", nil)
	var page productPageView
	r.JSON(t, &page)
	if r.Status != 200 || page.Product.ID != 20 || page.Product.Category != "kitchen" || len(page.Degraded) != 0 {
		t.Fatalf("status %d page %+v, want product 20 (kitchen), nothing degraded", r.Status, page)
	}
	if len(page.Related) != maxRelated {
		t.Fatalf("got %d related, want %d", len(page.Related), maxRelated)
	}
	kitchen := s.CatalogIDs(t, "kitchen")
	for _, rel := range page.Related {
		if rel.ID == 20 || !containsID(kitchen, rel.ID) || rel.Image == nil || rel.Price.Amount <= 0 {
			t.Errorf("related %+v: want another kitchen product with image and price", rel)
		}
	}
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestPaginationWalksACategory(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		category string
		limit    int
	}{
		{"books", 3},
		{"apparel", 8},
		{"", 9},
	}
	for _, tt := range tests {
		t.Run(tt.category+"/"+strconv.Itoa(tt.limit), func(t *testing.T) {
			for _, p := range s.WalkCatalog(t, "/api/products", tt.category, tt.limit) {
				if tt.category != "" && p.Category != tt.category {
					t.Errorf("product %d in %q, want %q", p.ID, p.Category, tt.category)
				}
			}
		})
	}
}

// TestProductPageFailures: related products are optional, the product
// itself is required.
func TestProductPageFailures(t *testing.T) {
	tests := []struct {
		name     string
		fault    sandbox.Fault
		status   int
		code     string
		degraded []string
	}{
		{"listing down", sandbox.Fault{Route: "GET /products", Status: 503}, 200, "", []string{"related"}},
		{"listing slow", sandbox.Fault{Route: "GET /products", LatencyMS: 1500}, 200, "", []string{"related"}},
		{"product down", sandbox.Fault{Route: "GET /products/{id}", Status: 503}, 503, "upstream_unavailable", nil},
		{"product slow", sandbox.Fault{Route: "GET /products/{id}", LatencyMS: 1500}, 504, "deadline_exceeded", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, "VIEW_TIMEOUT", "500ms")
			s.Inject(t, "product", tt.fault)
			r := servertest.Do(t, "GET", s.Base+"/api/products/5", nil)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tt.status, r.Body)
			}
			if tt.status != 200 {
				if p := r.Problem(t); p["code"] != tt.code {
					t.Errorf("problem %v, want code %s", p, tt.code)
				}
				if tt.status == 503 && r.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				return
			}
			var page productPageView
			r.JSON(t, &page)
			if page.Product.ID != 5 || !page.Product.Availability.InStock || len(page.Related) != 0 || !reflect.DeepEqual(page.Degraded, tt.degraded) {
				t.Errorf("page %+v, want product 5, no related, degraded %v", page, tt.degraded)
			}
			if got := metric(t, s, `bff_degraded_parts_total{part="related"}`); got != "1" {
				t.Errorf("degraded metric = %q, want 1", got)
			}
		})
	}
}

func TestProductListInputs(t *testing.T) {
	startStack(t).CheckRefused(t, []servertest.Refused{
		{Name: "unknown product", Path: "/api/products/9999", Status: 404},
		{Name: "id not a number", Path: "/api/products/x1", Status: 400, Field: "id"},
		{Name: "limit too large", Path: "/api/products?limit=500", Status: 400, Field: "limit"},
		{Name: "forged cursor", Path: "/api/products?cursor=cDE6NA", Status: 400, Field: "cursor"},
		{Name: "bad category", Path: "/api/products?category=a%20b", Status: 400, Field: "category"},
		{Name: "category twice", Path: "/api/products?category=kitchen&category=toys", Status: 400, Field: "category"},
	})
}

// metric reads one sample of the BFF's /metrics, or "" when absent.
func metric(t *testing.T, s *stack, series string) string {
	t.Helper()
	resp, err := http.Get(servertest.Admin(t, s.Base) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}
