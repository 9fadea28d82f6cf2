package upstream_test

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/telemetry"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/upstreamtest"
)

// BenchmarkTypedGet is one typed read as a screen makes it: product.Client.Get
// against the sandbox's real product handler on a loopback port, decoded
// into product.Product. "bare" is the Service without collaborators;
// "wired" has what the gateway gives every Service (the metrics observer,
// the request id and trace context headers, a tracer provider that makes a
// span per attempt without exporting it) and calls under a request's
// context, as a BFF handler does. The figures include the in-process
// server's share, the same for both. Run with:
//
//	go test -run '^$' -bench TypedGet -benchmem ./upstream/
func BenchmarkTypedGet(b *testing.B) {
	rt := sandboxtest.Start(b, sandbox.Config{Clock: clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)).Now})
	tracing, err := telemetry.NewTracing(context.Background(), "bench", telemetry.DefaultTracingConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tracing.Shutdown(context.Background()) })
	metrics := telemetry.NewMetrics()
	// A request's context: its id, the server span the middleware starts,
	// and the deadline of a screen.
	viewCtx, cancel := context.WithTimeout(httpserver.WithRequestID(context.Background(), "bench-1"), time.Hour)
	defer cancel()
	reqCtx, span := tracing.Provider.Tracer("bench").Start(viewCtx, "GET")
	defer span.End()
	for _, bc := range []struct {
		name string
		ctx  context.Context
		opts []upstream.Option
	}{
		{"bare", context.Background(), nil},
		{"wired", reqCtx, []upstream.Option{upstream.WithObserver(metrics), upstream.WithHeaders(httpserver.PropagateHeaders),
			upstream.WithTracerProvider(tracing.Provider)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := product.New(upstreamtest.Service(b, "product", []string{rt.ProductURL}, upstream.DefaultConfig(), bc.opts...))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p, err := c.Get(bc.ctx, 7)
					if err != nil || p.ID != 7 || len(p.Images) == 0 {
						b.Errorf("got %+v, %v", p, err)
						return
					}
				}
			})
		})
	}
}
