package ratelimit_test

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
)

// newClock returns a hand-moved clock at the tests' fixed start.
func newClock() *clocktest.Manual { return clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) }

var take = ratelimittest.Take

func TestMemoryTokenBucket(t *testing.T) {
	clk := newClock()
	ratelimittest.TokenBucket(t, ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(clk.Now)), clk)
}

func TestMemoryIsolatesKeysAndPolicies(t *testing.T) {
	login := ratelimit.Policy{Name: "login", Quota: 2, Window: time.Minute}
	orders := ratelimit.Policy{Name: "orders", Quota: 2, Window: time.Minute}
	m := ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(newClock().Now))
	for range 2 {
		take(t, m, login, "ip:192.0.2.1")
	}
	tests := []struct {
		name   string
		policy ratelimit.Policy
		key    string
		want   bool
	}{
		{"same key and policy, over the quota", login, "ip:192.0.2.1", false},
		{"another key", login, "ip:192.0.2.2", true},
		{"another policy", orders, "ip:192.0.2.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := take(t, m, tt.policy, tt.key); got.Allowed != tt.want {
				t.Errorf("got allowed %v, want %v", got.Allowed, tt.want)
			}
		})
	}
}

func TestMemoryDisabledAndInvalidPolicies(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.DefaultConfig())
	off := ratelimit.Policy{Name: "off", Quota: 0}
	for i := range 1000 {
		if d := take(t, m, off, "k"); !d.Allowed {
			t.Fatalf("request %d refused by a zero-quota policy", i)
		}
	}
	if n := m.Len(off); n != 0 {
		t.Errorf("got %d keys tracked for a disabled policy, want 0", n)
	}
	for _, p := range []ratelimit.Policy{
		{Name: "", Quota: 1, Window: time.Second},
		{Name: `a"b`, Quota: 1, Window: time.Second},
		{Name: "neg", Quota: -1, Window: time.Second},
		{Name: "beyond a field's integer", Quota: ratelimit.MaxQuota + 1, Window: time.Second},
		{Name: "sub-second", Quota: 1, Window: 500 * time.Millisecond},
		{Name: "fraction", Quota: 1, Window: 1500 * time.Millisecond},
	} {
		if _, err := m.Take(context.Background(), p, "k"); !errors.Is(err, ratelimit.ErrPolicy) {
			t.Errorf("Take with %+v: got %v, want ErrPolicy", p, err)
		}
	}
}

func TestMemoryEvictsIdleKeys(t *testing.T) {
	p := ratelimit.Policy{Name: "default", Quota: 5, Window: time.Minute}
	clk := newClock()
	m := ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(clk.Now))
	callers := func(prefix string) {
		for i := range 1000 {
			take(t, m, p, fmt.Sprintf("%s-%d", prefix, i))
		}
	}
	callers("ip:old")
	for range 5 {
		take(t, m, p, "user:ada")
	}
	// A second before their window ends, the first callers' buckets are not
	// full yet: they must be kept, or ada would get a fresh quota early.
	clk.Advance(p.Window - time.Second)
	callers("ip:mid")
	if got := m.Len(p); got != 2001 {
		t.Errorf("before a window: got %d keys tracked, want 2001", got)
	}
	// A window after their last request they are full again and go, as soon
	// as their shard is touched; the later callers stay.
	clk.Advance(time.Second)
	callers("ip:new")
	if got := m.Len(p); got != 2000 {
		t.Errorf("after a window: got %d keys tracked, want 2000 (mid and new)", got)
	}
	if d := take(t, m, p, "user:ada"); !d.Allowed || d.Remaining != 4 {
		t.Errorf("after an idle window: got %+v, want a full quota (4 remaining)", d)
	}
}

func TestMemoryBoundsKeys(t *testing.T) {
	p := ratelimit.Policy{Name: "default", Quota: 1, Window: time.Hour}
	m := ratelimit.NewMemory(ratelimit.Config{MaxKeys: 64}, ratelimit.WithClock(newClock().Now))
	for i := range 10_000 {
		take(t, m, p, fmt.Sprintf("ip:%d", i))
	}
	if got := m.Len(p); got > 64 {
		t.Errorf("got %d keys tracked, want at most 64", got)
	}
}

// TestMemoryKeepsEveryCallerUnderTheBound: MaxKeys bounds a policy's
// callers over all its shards, so that a caller is forgotten, and handed a
// fresh quota, only once the policy holds that many; and a bound of one
// holds although the next caller lands in an empty shard.
func TestMemoryKeepsEveryCallerUnderTheBound(t *testing.T) {
	p := ratelimit.Policy{Name: "login", Quota: 3, Window: time.Minute}
	m := ratelimit.NewMemory(ratelimit.Config{MaxKeys: 100}, ratelimit.WithClock(newClock().Now))
	const callers = 100
	for i := range callers {
		for range p.Quota {
			take(t, m, p, fmt.Sprintf("ip:10.0.0.%d", i))
		}
	}
	again := 0
	for i := range callers {
		if take(t, m, p, fmt.Sprintf("ip:10.0.0.%d", i)).Allowed {
			again++
		}
	}
	if got := m.Len(p); got != callers || again != 0 {
		t.Errorf("%d of %d callers tracked (MaxKeys %d), %d allowed again over their quota; want all tracked, none allowed",
			got, callers, callers, again)
	}

	one := ratelimit.NewMemory(ratelimit.Config{MaxKeys: 1}, ratelimit.WithClock(newClock().Now))
	for i := range 100 {
		take(t, one, p, fmt.Sprintf("ip:%d", i))
		if got := one.Len(p); got != 1 {
			t.Fatalf("after %d callers: %d tracked, want 1 (MaxKeys 1)", i+1, got)
		}
	}
}

func TestMemoryConcurrentTakesNeverExceedQuota(t *testing.T) {
	p := ratelimit.Policy{Name: "orders", Quota: 50, Window: time.Minute}
	m := ratelimit.NewMemory(ratelimit.DefaultConfig(), ratelimit.WithClock(newClock().Now))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			d, err := m.Take(context.Background(), p, "user:ada")
			if err == nil && d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 50 {
		t.Errorf("got %d of 200 concurrent requests allowed, want 50", got)
	}
}

func TestFields(t *testing.T) {
	p := ratelimit.Policy{Name: "orders", Quota: 10, Window: time.Minute}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"policy", p.Field(), `"orders";q=10;w=60`},
		{"allowed", string(ratelimit.Decision{Allowed: true, Remaining: 9, Reset: 6 * time.Second}.AppendField(nil, p)), `"orders";r=9;t=6`},
		{"fraction of a second rounds up", string(ratelimit.Decision{Remaining: 0, Reset: 5001 * time.Millisecond}.AppendField(nil, p)), `"orders";r=0;t=6`},
		{"full", string(ratelimit.Decision{Allowed: true, Remaining: 10}.AppendField(nil, p)), `"orders";r=10;t=0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func BenchmarkMemoryTake(b *testing.B) {
	p := ratelimit.Policy{Name: "default", Quota: 1 << 30, Window: time.Second}
	m := ratelimit.NewMemory(ratelimit.DefaultConfig())
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		keys int
	}{{"one key", 1}, {"10k keys", 10_000}} {
		keys := make([]string, bc.keys)
		for i := range keys {
			keys[i] = fmt.Sprintf("user:%d", i)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(n.Add(1))
				for pb.Next() {
					i++
					if _, err := m.Take(ctx, p, keys[i%len(keys)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
