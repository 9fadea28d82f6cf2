package orderflow

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
)

// BenchmarkPlace places orders against the in-process sandbox, with and
// without an injected latency on every write route, one at a time and in
// parallel. It reports orders/s and, one at a time, the flow's latency per
// order (flow-ms/op) beside the sum of the latencies injected on its six
// writes (upstream-ms/op), what they would cost made one after another:
// the writes run in three phases of concurrent steps, the two reads run
// concurrently and are not slowed.
func BenchmarkPlace(b *testing.B) {
	writes := sandbox.CheckoutWrites()
	for _, latency := range []time.Duration{0, 2 * time.Millisecond} {
		for _, parallel := range []bool{false, true} {
			mode := "sequential"
			if parallel {
				mode = "parallel"
			}
			b.Run(fmt.Sprintf("latency=%v/%s", latency, mode), func(b *testing.B) {
				ctx := context.Background()
				rt, _, f := startFlowWith(b, nil, configWith(func(c *Config) { c.NotifyWorkers = 4 }))
				if err := rt.Sandbox.SetStock(1, 1_000_000); err != nil {
					b.Fatal(err)
				}
				for _, w := range writes {
					if latency == 0 {
						continue
					}
					if err := rt.InjectFault(ctx, w.Service, sandbox.Fault{Route: w.Route, LatencyMS: int(latency.Milliseconds())}); err != nil {
						b.Fatal(err)
					}
				}
				var seq atomic.Int64
				place := func() {
					ref := fmt.Sprintf("bench-%d", seq.Add(1))
					if _, err := f.Place(ctx, Request{UserID: ada, Key: ref, Input: visa(Item{ProductID: 1, Quantity: 1})}); err != nil {
						b.Errorf("Place: %v", err)
					}
				}
				b.ResetTimer()
				start := time.Now()
				if parallel {
					// Many flows per CPU: a flow mostly waits on the network.
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							place()
						}
					})
				} else {
					for b.Loop() {
						place()
					}
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
				if !parallel {
					b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "flow-ms/op")
					b.ReportMetric(float64((time.Duration(len(writes)) * latency).Milliseconds()), "upstream-ms/op")
				}
			})
		}
	}
}
