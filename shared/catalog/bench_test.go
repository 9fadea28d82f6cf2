package catalog_test

import (
	"context"
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
