package aggregate_test

import (
	"context"
	"testing"

	"storefront.dev/shared/aggregate"
)

// BenchmarkRun is the fan-out of the web order page: a required part (the
// order), then two optional parts that need it (its products and its
// payment), under one deadline. "instant" parts return at once, so the
// figures are the fan-out's own cost; "stack" parts first use a few KiB of
// stack, as an upstream call does (client, span, JSON decoding), which a
// part run on a fresh goroutine pays for by growing its stack. Run with:
//
//	go test -run '^$' -bench Run -benchmem ./aggregate/
func BenchmarkRun(b *testing.B) {
	for _, bc := range []struct {
		name  string
		fetch func(ctx context.Context) error
	}{
		{"instant", func(ctx context.Context) error { return ctx.Err() }},
		{"stack", func(ctx context.Context) error { return deep(ctx, 24) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := aggregate.New(nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					var order, products, payment int
					degraded, err := f.Run(ctx,
						aggregate.Required("order", func(ctx context.Context) error {
							order = 1
							return bc.fetch(ctx)
						}).Then(
							aggregate.Optional("products", func(ctx context.Context) error {
								products = order
								return bc.fetch(ctx)
							}),
							aggregate.Optional("payment", func(ctx context.Context) error {
								payment = order
								return bc.fetch(ctx)
							}),
						))
					if err != nil || degraded != nil || products+payment != 2 {
						b.Errorf("got %v, %v, %d parts", degraded, err, products+payment)
						return
					}
				}
			})
		})
	}
}

// deep uses about n × 256 bytes of stack before it looks at ctx.
//
//go:noinline
func deep(ctx context.Context, n int) error {
	var pad [256]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return ctx.Err()
	}
	if err := deep(ctx, n-1); err != nil {
		return err
	}
	if pad[n%len(pad)] != byte(n) {
		panic("unreachable")
	}
	return nil
}
