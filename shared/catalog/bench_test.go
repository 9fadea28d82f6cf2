package catalog_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/upstream/product"
)

// BenchmarkProductHit is the cached product read every product screen
// makes: a lookup and an age check, no upstream call.
func BenchmarkProductHit(b *testing.B) {
	f := startBench(b)
	ctx := context.Background()
	if _, err := f.Product(ctx, 7); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Product(ctx, 7); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPageHit is a cached catalog page of 20 products.
func BenchmarkPageHit(b *testing.B) {
	f := startBench(b)
	ctx := context.Background()
	params := product.ListParams{Limit: 20}
	if _, err := f.Page(ctx, params); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Page(ctx, params); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// startBench returns a cache whose clock never moves, so every read after
// the first is a hit however long the benchmark runs.
func startBench(b *testing.B) *catalog.Cache {
	b.Helper()
	frozen := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, client := startSource(b)
	return catalog.New(client, catalog.DefaultConfig(), catalog.WithClock(func() time.Time { return frozen }))
}

// BenchmarkProductUncached is the product read of a BFF with the cache off
// (every TTL 0): each read goes to the product service, through the
// request coalescing, for products 1 to 40 in turn, under a view's
// deadline (3s, as ReadDeadline gives) or none. The figures include the
// in-process sandbox's share.
func BenchmarkProductUncached(b *testing.B) {
	_, client := startSource(b)
	c := catalog.New(client, catalog.Config{MaxItems: catalog.DefaultConfig().MaxItems})
	for _, bc := range []struct {
		name    string
		timeout time.Duration
	}{{"deadline", 3 * time.Second}, {"nodeadline", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := context.WithCancel(context.Background())
					if bc.timeout > 0 {
						ctx, cancel = context.WithTimeout(context.Background(), bc.timeout)
					}
					id := next.Add(1)%40 + 1
					p, err := c.Product(ctx, id)
					cancel()
					if err != nil || p.ID != id {
						b.Errorf("got %d, %v", p.ID, err)
						return
					}
				}
			})
		})
	}
}
