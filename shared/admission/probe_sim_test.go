package admission

import (
	"container/heap"
	"fmt"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
)

// finish is an admitted request and when it ends.
type finish struct {
	at time.Time
	tk Ticket
}

// finishes orders requests by their end, soonest first (container/heap).
type finishes []finish

func (q finishes) Len() int           { return len(q) }
func (q finishes) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q finishes) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *finishes) Push(x any)        { *q = append(*q, x.(finish)) }
func (q *finishes) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// TestAFastCheckoutInAProbeSetsNoBaseline: signed-in reads of 20 ms (8
// offered every millisecond, 160 in flight wanted) beside checkouts of
// 300 ms every 50 ms, with latencies that do not depend on the load. A
// probe window is shorter than a checkout, so the checkouts it sees may be
// only the fast ones (a replay answered from its record in 2 ms); one of
// them must not become the checkouts' baseline, which would hold the limit
// at its floor from then on.
func TestAFastCheckoutInAProbeSetsNoBaseline(t *testing.T) {
	checkouts := map[string]func(n int) time.Duration{
		"all 300 ms": func(int) time.Duration { return 300 * time.Millisecond },
		"every fifth a 2 ms replay": func(n int) time.Duration {
			if n%5 == 0 {
				return 2 * time.Millisecond
			}
			return 300 * time.Millisecond
		},
		"spread over 20-600 ms": func(n int) time.Duration {
			return 20*time.Millisecond + time.Duration(n*37%581)*time.Millisecond
		},
	}
	for name, latency := range checkouts {
		t.Run(name, func(t *testing.T) {
			clock := clocktest.New(time.Unix(1_700_000_000, 0))
			l := New(DefaultConfig(), WithClock(clock.Now))
			var q finishes
			var shed int
			n := 0
			for ms := range 120_000 {
				now := clock.Now()
				for q.Len() > 0 && !q[0].at.After(now) {
					heap.Pop(&q).(finish).tk.Done()
				}
				for range 8 {
					if tk, ok := l.Acquire(Authenticated); ok {
						heap.Push(&q, finish{now.Add(20 * time.Millisecond), tk})
					} else {
						shed++
					}
				}
				if ms%50 == 0 {
					n++
					if tk, ok := l.Acquire(Checkout); ok {
						heap.Push(&q, finish{now.Add(latency(n)), tk})
					}
				}
				clock.Advance(time.Millisecond)
			}
			if got := l.Limit(); got < 160 {
				l.mu.Lock()
				base := fmt.Sprint(l.baseline, l.probedBase)
				l.mu.Unlock()
				t.Errorf("limit %d, want at least 160: latency never depends on the load (%d reads shed; baselines, probed: %s)",
					got, shed, base)
			}
		})
	}
}

// TestBaselineFallsNoFurtherThanToleranceBetweenProbes: bursts of answers
// that cost nothing, in the class of real work (a logout without a
// session, answered at once), pull that class's median far down for a
// window or two. Its baseline follows no lower than the probed one over
// Tolerance, so that the real work after a burst is not taken for
// queueing: a baseline that fell with the burst halved the limit.
func TestBaselineFallsNoFurtherThanToleranceBetweenProbes(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	l := New(DefaultConfig(), WithClock(clock.Now))
	var q finishes
	for ms := range 60_000 {
		now := clock.Now()
		for q.Len() > 0 && !q[0].at.After(now) {
			heap.Pop(&q).(finish).tk.Done()
		}
		if ms > 10_000 && ms%3000 < 100 {
			for range 20 {
				if tk, ok := l.Acquire(Authenticated); ok {
					heap.Push(&q, finish{now.Add(20 * time.Microsecond), tk})
				}
			}
		}
		for range 10 {
			if tk, ok := l.Acquire(Authenticated); ok {
				heap.Push(&q, finish{now.Add(20 * time.Millisecond * time.Duration(max(150, l.InFlight())) / 150), tk})
			}
		}
		l.mu.Lock()
		b, p := l.baseline[Authenticated], l.probedBase[Authenticated]
		l.mu.Unlock()
		if p > 0 && b < p/l.cfg.Tolerance*0.999 {
			t.Fatalf("at %v: baseline %.3fms, want at least the probed %.3fms over Tolerance", time.Duration(ms)*time.Millisecond, b/1e6, p/1e6)
		}
		clock.Advance(time.Millisecond)
	}
}
