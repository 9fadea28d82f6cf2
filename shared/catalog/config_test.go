package catalog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/catalog"
)

// TestValidate: a product TTL of 0 turns the product cache off, stock
// included, and starts with the default stock TTL; a stock TTL longer than
// a product TTL that caches is still refused.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*catalog.Config)
		wantErr string // "" for none
	}{
		{"defaults", func(*catalog.Config) {}, ""},
		{"no product cache, default stock TTL", func(c *catalog.Config) { c.ProductTTL = 0 }, ""},
		{"no product cache, long stock TTL", func(c *catalog.Config) { c.ProductTTL, c.StockTTL = 0, time.Hour }, ""},
		{"stock older than products", func(c *catalog.Config) { c.ProductTTL, c.StockTTL = time.Second, 2*time.Second }, "StockTTL 2s must not exceed ProductTTL 1s"},
		{"negative stock TTL", func(c *catalog.Config) { c.ProductTTL, c.StockTTL = 0, -time.Second }, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := catalog.DefaultConfig()
			tt.edit(&cfg)
			var got string
			if err := cfg.Validate(); err != nil {
				got = err.Error()
			}
			if (got == "") != (tt.wantErr == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("got error %q, want %q", got, tt.wantErr)
			}
		})
	}
}

// TestZeroProductTTLCachesNoStock: with a product TTL of 0 and the default
// stock TTL, the cache starts, and every read of a product, stock included,
// asks the product service.
func TestZeroProductTTLCachesNoStock(t *testing.T) {
	f := start(t, func(c *catalog.Config) { c.ProductTTL = 0 })
	ctx := context.Background()
	for range 3 {
		if _, err := f.cache.Product(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cache.Products(ctx, []int64{2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests(t, routeGet); got != 3 {
		t.Errorf("got %d product calls, want 3: one per read", got)
	}
	if got := f.requests(t, routeList); got != 3 {
		t.Errorf("got %d batch calls, want 3: one per read", got)
	}
}
