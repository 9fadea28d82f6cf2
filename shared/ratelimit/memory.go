package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// shards splits each policy's buckets so that callers of one policy rarely
// wait for each other's lock.
const shards = 16

// Memory is the in-process Store: one x/time/rate token bucket per policy
// and caller. Its memory is bounded: a bucket idle for a whole window is
// full again, indistinguishable from a new one, and is dropped; beyond
// Config.MaxKeys callers per policy a bucket seen least recently (in its
// shard) is dropped too, which, unlike the idle eviction, hands that caller
// a fresh quota. The bound counts the policy's callers over every shard: a
// bound per shard would start dropping in the fullest shard long before
// the policy holds MaxKeys callers. It is safe for concurrent use.
type Memory struct {
	now     func() time.Time
	maxKeys int
	seed    maphash.Seed

	mu   sync.RWMutex
	sets map[Policy]*bucketSet
}

// MemoryOption gives a Memory a collaborator.
type MemoryOption func(*Memory)

// WithClock sets the time source of the buckets. Default time.Now.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now = now }
}

// NewMemory returns an empty Memory keeping at most cfg.MaxKeys callers per
// policy (start from DefaultConfig); the policies come with each Take.
func NewMemory(cfg Config, opts ...MemoryOption) *Memory {
	m := &Memory{now: time.Now, maxKeys: max(cfg.MaxKeys, 1), seed: maphash.MakeSeed(), sets: map[Policy]*bucketSet{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// bucketSet holds one policy's buckets.
type bucketSet struct {
	shards [shards]shard
	// held counts the buckets of every shard.
	held atomic.Int64
}

// shard is a slice of a policy's callers, most recently seen first, so that
// both evictions take from the back.
type shard struct {
	mu    sync.Mutex
	lru   list.List
	index map[string]*list.Element
	held  *atomic.Int64 // the set's count
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

// Take spends one request of key's bucket under p when it fits. A policy
// that limits nothing always allows.
func (m *Memory) Take(_ context.Context, p Policy, key string) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if !p.Enabled() {
		return Decision{Allowed: true}, nil
	}
	now := m.now()
	set := m.set(p)
	sh := &set.shards[maphash.String(m.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.evictIdle(now, p.Window)
	b := sh.get(key, now)
	if b == nil {
		set.makeRoom(sh, m.maxKeys, now, p.Window)
		b = sh.add(key, p, now)
	}

	perSecond := p.perSecond()
	if !b.lim.AllowN(now, 1) {
		tokens := b.lim.TokensAt(now)
		return Decision{
			Allowed:    false,
			Remaining:  0,
			Reset:      secondsToDuration((float64(p.Quota) - tokens) / perSecond),
			RetryAfter: secondsToDuration((1 - tokens) / perSecond),
		}, nil
	}
	tokens := b.lim.TokensAt(now)
	return Decision{
		Allowed:   true,
		Remaining: int(math.Floor(tokens)),
		Reset:     secondsToDuration((float64(p.Quota) - tokens) / perSecond),
	}, nil
}

// Len returns how many callers are tracked under p, for tests and metrics.
func (m *Memory) Len(p Policy) int {
	m.mu.RLock()
	set := m.sets[p]
	m.mu.RUnlock()
	if set == nil {
		return 0
	}
	n := 0
	for i := range set.shards {
		sh := &set.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		sh.mu.Unlock()
	}
	return n
}

func (m *Memory) set(p Policy) *bucketSet {
	m.mu.RLock()
	set := m.sets[p]
	m.mu.RUnlock()
	if set != nil {
		return set
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if set = m.sets[p]; set == nil {
		set = &bucketSet{}
		for i := range set.shards {
			set.shards[i].index = map[string]*list.Element{}
			set.shards[i].held = &set.held
		}
		m.sets[p] = set
	}
	return set
}

// evictIdle drops the buckets nobody used for a whole window: they have
// refilled, so forgetting them changes no decision.
func (sh *shard) evictIdle(now time.Time, window time.Duration) {
	for e := sh.lru.Back(); e != nil; e = sh.lru.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.last) < window {
			return
		}
		sh.remove(e)
	}
}

// get returns key's bucket, marked as used now; nil when there is none.
func (sh *shard) get(key string, now time.Time) *bucket {
	e, ok := sh.index[key]
	if !ok {
		return nil
	}
	sh.lru.MoveToFront(e)
	b := e.Value.(*bucket)
	if now.After(b.last) {
		b.last = now
	}
	return b
}

// add makes key's bucket, full and used now.
func (sh *shard) add(key string, p Policy, now time.Time) *bucket {
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Limit(p.perSecond()), p.Quota), last: now}
	sh.index[key] = sh.lru.PushFront(b)
	sh.held.Add(1)
	return b
}

// makeRoom drops buckets until the set holds fewer than limit: first the
// idle ones (full again, so dropping them changes no decision) of the
// other shards, own's having just gone; then the least recently used of
// own, whose lock the caller holds, or, when own is empty, of another
// shard. Another shard is only taken when its lock is free at once:
// waiting for it while holding own could deadlock with a caller doing the
// same the other way round. When every other shard is busy the set goes
// over limit by one bucket, until the next addition.
func (set *bucketSet) makeRoom(own *shard, limit int, now time.Time, window time.Duration) {
	full := func() bool { return set.held.Load() >= int64(limit) }
	for i := range set.shards {
		if sh := &set.shards[i]; full() && sh != own && sh.mu.TryLock() {
			sh.evictIdle(now, window)
			sh.mu.Unlock()
		}
	}
	for full() {
		if own.lru.Len() > 0 {
			own.remove(own.lru.Back())
			continue
		}
		if !set.dropElsewhere(own) {
			return
		}
	}
}

// dropElsewhere drops the least recently used bucket of a shard other than
// own that holds one and whose lock is free; it reports whether it did.
func (set *bucketSet) dropElsewhere(own *shard) bool {
	for i := range set.shards {
		sh := &set.shards[i]
		if sh == own || !sh.mu.TryLock() {
			continue
		}
		dropped := sh.lru.Len() > 0
		if dropped {
			sh.remove(sh.lru.Back())
		}
		sh.mu.Unlock()
		if dropped {
			return true
		}
	}
	return false
}

func (sh *shard) remove(e *list.Element) {
	delete(sh.index, e.Value.(*bucket).key)
	sh.lru.Remove(e)
	sh.held.Add(-1)
}

func secondsToDuration(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// Interface guard.
var _ Store = (*Memory)(nil)
