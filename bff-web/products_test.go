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
	s := startStack(t)
	tests := []struct {
		name, path, golden string
	}{
		{"list of a category", "/api/products?category=kitchen&limit=2", "products_kitchen.json"},
		{"product page", "/api/products/2", "product_page.json"},
		{"product page with gallery", "/api/products/13", "product_page_13.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "GET", s.base+tt.path, nil)
			if r.Status != 200 {
				t.Fatalf("status %d, body %s", r.Status, r.Body)
			}
			servertest.CheckGolden(t, tt.golden, r.Body)
		})
	}
}

func TestProductPageRelated(t *testing.T) {
	s := startStack(t)
	r := servertest.Do(t, "GET", s.base+"/api/products/20", nil)
	var page productPageView
	r.JSON(t, &page)
	if r.Status != 200 || page.Product.ID != 20 || page.Product.Category != "kitchen" || len(page.Degraded) != 0 {
		t.Fatalf("status %d page %+v, want product 20 (kitchen), nothing degraded", r.Status, page)
	}
	if len(page.Related) != maxRelated {
		t.Fatalf("got %d related, want %d", len(page.Related), maxRelated)
	}
	kitchen := s.rt.CatalogIDs(t, "kitchen")
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
			want := s.rt.CatalogIDs(t, tt.category)
			var got []int64
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("got more than %d pages, want the cursor to end", len(want))
				}
				url := s.base + "/api/products?category=" + tt.category + "&limit=" + strconv.Itoa(tt.limit) + "&cursor=" + cursor
				r := servertest.Do(t, "GET", url, nil)
				if r.Status != 200 {
					t.Fatalf("page %d: status %d, body %s", pages, r.Status, r.Body)
				}
				var page productListView
				r.JSON(t, &page)
				if len(page.Items) > tt.limit {
					t.Fatalf("page %d: %d items, want at most %d", pages, len(page.Items), tt.limit)
				}
				for _, p := range page.Items {
					got = append(got, p.ID)
					if tt.category != "" && p.Category != tt.category {
						t.Errorf("product %d in %q, want %q", p.ID, p.Category, tt.category)
					}
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("walked ids %v, want the catalog's %v (no duplicates, no gaps)", got, want)
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
			inject(t, s, "product", tt.fault)
			r := servertest.Do(t, "GET", s.base+"/api/products/5", nil)
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
	s := startStack(t)
	tests := []struct {
		name, path string
		status     int
		field      string
	}{
		{"unknown product", "/api/products/9999", 404, ""},
		{"id not a number", "/api/products/x1", 400, "id"},
		{"limit too large", "/api/products?limit=500", 400, "limit"},
		{"forged cursor", "/api/products?cursor=cDE6NA", 400, "cursor"},
		{"bad category", "/api/products?category=a%20b", 400, "category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := servertest.Do(t, "GET", s.base+tt.path, nil)
			p := r.Problem(t)
			if r.Status != tt.status || (tt.field != "" && p["field"] != tt.field) {
				t.Errorf("status %d problem %v, want %d on %q", r.Status, p, tt.status, tt.field)
			}
		})
	}
}

// metric reads one sample of the BFF's /metrics, or "" when absent.
func metric(t *testing.T, s *stack, series string) string {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
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
