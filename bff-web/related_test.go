package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/httpserver/servertest"
)

// TestProductPageWithoutCategoryHasNoRelated: a product whose category is
// blank has no related products; the page does not suggest the first
// products of the whole catalog instead, nor asks for them.
func TestProductPageWithoutCategoryHasNoRelated(t *testing.T) {
	// blank are the products the product service answers with a blank
	// category; listings counts its listings of the whole catalog.
	blank := map[string]string{"/products/7": "", "/products/8": "  "}
	var listings atomic.Int32
	var target atomic.Pointer[url.URL]
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := target.Load()
		if to == nil {
			w.WriteHeader(http.StatusServiceUnavailable) // the readiness probe, before the sandbox is known
			return
		}
		q := r.URL.Query()
		if r.URL.Path == "/products" && !q.Has("category") && !q.Has("ids") {
			listings.Add(1)
		}
		p := httputil.NewSingleHostReverseProxy(to)
		p.ModifyResponse = func(resp *http.Response) error {
			category, ok := blank[resp.Request.URL.Path]
			if !ok || resp.StatusCode != http.StatusOK {
				return nil
			}
			var product map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&product); err != nil {
				return err
			}
			resp.Body.Close()
			product["category"] = category
			b, err := json.Marshal(product)
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(fake.Close)
	s := startStack(t, "UPSTREAM_PRODUCT_URLS", fake.URL)
	u, err := url.Parse(s.ProductURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	for path, category := range blank {
		t.Run(strconv.Quote(category), func(t *testing.T) {
			r := servertest.Do(t, "GET", s.Base+"/api"+path, nil)
			var page productPageView
			r.JSON(t, &page)
			if r.Status != 200 || page.Product.Category != category || len(page.Related) != 0 || page.Degraded != nil {
				t.Errorf("status %d, category %q, related %+v, degraded %v; want 200, %q, no related, nothing degraded",
					r.Status, page.Product.Category, page.Related, page.Degraded, category)
			}
		})
	}
	if n := listings.Load(); n != 0 {
		t.Errorf("the product service listed the whole catalog %d times, want none", n)
	}
}
