package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/ratelimit"
	"storefront.dev/shared/ratelimit/ratelimittest"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

var takeAll = ratelimittest.Take

// same reports whether two decisions agree up to the microsecond
// resolution of the Redis buckets; either side's rounding up may add one.
func same(a, b ratelimit.Decision) bool {
	near := func(x, y time.Duration) bool { return (x - y).Abs() <= time.Microsecond }
	return a.Allowed == b.Allowed && a.Remaining == b.Remaining && near(a.Reset, b.Reset) && near(a.RetryAfter, b.RetryAfter)
}

func TestRateLimitMatchesMemory(t *testing.T) {
	policies := []ratelimit.Policy{
		{Name: "orders", Quota: 3, Window: 3 * time.Second},
		{Name: "default", Quota: 7, Window: time.Minute},
		{Name: "login", Quota: 1, Window: time.Second},
	}
	// Bursts, partial refills, and a long idle gap.
	steps := []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 500 * time.Millisecond, 500 * time.Millisecond, 0, 0,
		333 * time.Millisecond, 1700 * time.Millisecond, 0, 0, 0, 9 * time.Second, 0, time.Hour, 0, 0}
	c := redistest.Client(t)
	for _, p := range policies {
		t.Run(p.Name, func(t *testing.T) {
			clk := clocktest.New(start)
			mem := ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(clk.Now))
			rds := redisstore.NewRateLimit(c, redistest.Prefix(t), redisstore.WithClock(clk.Now))
			for i, adv := range steps {
				clk.Advance(adv)
				want := takeAll(t, mem, p, "user:ada")
				if got := takeAll(t, rds, p, "user:ada"); !same(got, want) {
					t.Errorf("step %d (after %v): got %+v, want %+v as Memory decides", i, adv, got, want)
				}
			}
		})
	}
}

func TestRateLimitTokenBucket(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	clk := clocktest.New(start)
	p := ratelimittest.TokenBucket(t, redisstore.NewRateLimit(c, prefix, redisstore.WithClock(clk.Now)), clk)
	// An idle bucket is full again after a window, so its key goes then.
	keys := c.Keys(context.Background(), prefix+"*").Val()
	if len(keys) != 1 {
		t.Fatalf("got keys %v, want one bucket", keys)
	}
	if ttl := c.PTTL(context.Background(), keys[0]).Val(); ttl <= 0 || ttl > p.Window {
		t.Errorf("got a bucket TTL of %v, want (0, %v]", ttl, p.Window)
	}
}

func TestRateLimitSharedAcrossClients(t *testing.T) {
	// Two replicas: two clients of one Redis, on the server's clock.
	url := redistest.URL(t)
	t.Setenv("REDIS_TEST_URL", url)
	prefix := redistest.Prefix(t)
	a := redisstore.NewRateLimit(redistest.Client(t), prefix)
	b := redisstore.NewRateLimit(redistest.Client(t), prefix)
	p := ratelimit.Policy{Name: "orders", Quota: 10, Window: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			d, err := s.Take(context.Background(), p, "user:ada")
			if err != nil {
				t.Errorf("Take: %v", err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Errorf("got %d of 40 requests through two stores allowed, want 10", got)
	}
	// The 41st is refused with one token's worth of wait, on either.
	for _, s := range []*redisstore.RateLimit{a, b} {
		d := takeAll(t, s, p, "user:ada")
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > p.Window/10 {
			t.Errorf("over the quota: got %+v, want refused with RetryAfter in (0, %v]", d, p.Window/10)
		}
	}
	// Another caller and another policy have buckets of their own.
	if d := takeAll(t, a, p, "user:grace"); !d.Allowed || d.Remaining != 9 {
		t.Errorf("another caller: got %+v, want allowed with 9 remaining", d)
	}
	other := ratelimit.Policy{Name: "default", Quota: 10, Window: time.Hour}
	if d := takeAll(t, b, other, "user:ada"); !d.Allowed {
		t.Errorf("another policy: got %+v, want allowed", d)
	}
}

func TestRateLimitDisabledAndInvalidPolicies(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	s := redisstore.NewRateLimit(c, prefix)
	if d := takeAll(t, s, ratelimit.Policy{Name: "off"}, "k"); !d.Allowed {
		t.Errorf("zero quota: got %+v, want allowed", d)
	}
	if keys := c.Keys(context.Background(), prefix+"*").Val(); len(keys) != 0 {
		t.Errorf("got keys %v for a disabled policy, want none", keys)
	}
	if _, err := s.Take(context.Background(), ratelimit.Policy{Name: "x", Quota: 1, Window: 1500 * time.Millisecond}, "k"); !errors.Is(err, ratelimit.ErrPolicy) {
		t.Errorf("fractional window: got %v, want ErrPolicy", err)
	}
}

func BenchmarkTake(b *testing.B) {
	p := ratelimit.Policy{Name: "default", Quota: 1 << 30, Window: time.Second}
	c := redistest.Client(b)
	for _, bc := range []struct {
		name  string
		store ratelimit.Store
	}{
		{"memory", ratelimit.NewMemory(ratelimit.DefaultConfig())},
		{"redis", redisstore.NewRateLimit(c, redistest.Prefix(b))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := n.Add(1)
				key := fmt.Sprintf("user:%d", i)
				for pb.Next() {
					if _, err := bc.store.Take(context.Background(), p, key); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
