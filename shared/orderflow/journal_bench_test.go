package orderflow_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/payment"
)

// BenchmarkJournal places orders in parallel against the in-process
// sandbox with each journal: in memory (the cost of the saga alone), the
// bbolt state file and Redis. The difference is what durability costs a
// checkout: seven journal writes.
func BenchmarkJournal(b *testing.B) {
	journals := []struct {
		name string
		open func(b *testing.B) orderflow.Journal
	}{
		{"memory", func(*testing.B) orderflow.Journal { return orderflow.NewMemJournalForTest() }},
		{"bolt", func(b *testing.B) orderflow.Journal {
			st, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), boltstore.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			return st
		}},
		{"redis", func(b *testing.B) orderflow.Journal {
			return redisstore.NewJournal(redistest.Client(b), redistest.Prefix(b))
		}},
	}
	for _, j := range journals {
		b.Run(j.name, func(b *testing.B) {
			rt := sandboxtest.Start(b, sandbox.Config{})
			if err := rt.Sandbox.SetStock(1, 1_000_000); err != nil {
				b.Fatal(err)
			}
			f := newFlow(b, rt, j.open(b), time.Now)
			var seq atomic.Int64
			in := orderflow.Input{Items: []orderflow.Item{{ProductID: 1, Quantity: 1}}, PaymentToken: payment.TokenVisa}
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := orderflow.Request{UserID: "usr_ada", Key: fmt.Sprint("bench-", seq.Add(1)), Input: in}
					if _, err := f.Place(context.Background(), req); err != nil {
						b.Errorf("Place: %v", err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
		})
	}
}
