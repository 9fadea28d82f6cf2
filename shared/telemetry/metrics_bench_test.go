package telemetry_test

import (
	"testing"
	"time"

	"storefront.dev/shared/telemetry"
)

// BenchmarkMetrics is what an order page records: one answered request,
// two upstream calls, two attempts, and a cache lookup per product. Run
// with:
//
//	go test -run '^$' -bench Metrics -benchmem ./telemetry/
func BenchmarkMetrics(b *testing.B) {
	m := telemetry.NewMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveCall("order", "get", "ok", 800*time.Microsecond)
			m.ObserveAttempt("order", "ok")
			m.ObserveCall("payment", "get", "ok", 700*time.Microsecond)
			m.ObserveAttempt("payment", "ok")
			for range 3 {
				m.CacheLookup("products", true)
			}
			m.ObserveRequest("GET", "/api/orders/:id", "200", 2*time.Millisecond)
		}
	})
}
