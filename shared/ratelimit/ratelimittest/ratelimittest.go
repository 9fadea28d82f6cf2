// Package ratelimittest holds what the tests of every ratelimit.Store
// share: Take for a test, and the token-bucket behaviour each Store must
// show. No production package imports it.
package ratelimittest

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/ratelimit"
)

// Take is s.Take for a test: it fails tb at once on an error.
func Take(tb testing.TB, s ratelimit.Store, p ratelimit.Policy, key string) ratelimit.Decision {
	tb.Helper()
	d, err := s.Take(context.Background(), p, key)
	if err != nil {
		tb.Fatalf("Take(%s, %s): %v", p.Name, key, err)
	}
	return d
}

// TokenBucket takes requests of one key from s, which reads the time from
// clk, under a policy of three requests per 3s (a full bucket of three, one
// token back a second) and fails tb for every decision that is not the
// bucket's. It returns that policy.
func TokenBucket(tb testing.TB, s ratelimit.Store, clk *clocktest.Manual) ratelimit.Policy {
	tb.Helper()
	p := ratelimit.Policy{Name: "orders", Quota: 3, Window: 3 * time.Second}
	steps := []struct {
		advance time.Duration
		want    ratelimit.Decision
	}{
		{0, ratelimit.Decision{Allowed: true, Remaining: 2, Reset: time.Second}},
		{0, ratelimit.Decision{Allowed: true, Remaining: 1, Reset: 2 * time.Second}},
		{0, ratelimit.Decision{Allowed: true, Remaining: 0, Reset: 3 * time.Second}},
		{0, ratelimit.Decision{Allowed: false, Remaining: 0, Reset: 3 * time.Second, RetryAfter: time.Second}},
		{500 * time.Millisecond, ratelimit.Decision{Allowed: false, Remaining: 0, Reset: 2500 * time.Millisecond, RetryAfter: 500 * time.Millisecond}},
		{500 * time.Millisecond, ratelimit.Decision{Allowed: true, Remaining: 0, Reset: 3 * time.Second}},
		{2 * time.Second, ratelimit.Decision{Allowed: true, Remaining: 1, Reset: 2 * time.Second}},
		{0, ratelimit.Decision{Allowed: true, Remaining: 0, Reset: 3 * time.Second}},
		// A window refills an empty bucket; a longer idle time does no more.
		{3 * time.Second, ratelimit.Decision{Allowed: true, Remaining: 2, Reset: time.Second}},
		{time.Hour, ratelimit.Decision{Allowed: true, Remaining: 2, Reset: time.Second}},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if got := Take(tb, s, p, "user:ada"); got != st.want {
			tb.Errorf("step %d (after %v): got %+v, want %+v", i, st.advance, got, st.want)
		}
	}
	return p
}
