package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// shards splits each policy's buckets so that callers of one policy rarely
// wait for each other's lock.
const shards = 16

// Memory is the in-process Store: one x/time/rate token bucket per policy
// and caller. Its memory is bounded: a bucket idle for a whole window is
// full again, indistinguishable from a new one, and is dropped; beyond
// Config.MaxKeys callers per policy the least recently seen bucket is dropped too,
// which, unlike the idle eviction, hands that caller a fresh quota. It is
// safe for concurrent use.
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
	m := &Memory{now: time.Now, maxKeys: max(cfg.MaxKeys, shards), seed: maphash.MakeSeed(), sets: map[Policy]*bucketSet{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// bucketSet holds one policy's buckets.
type bucketSet struct {
	shards [shards]shard
}

// shard is a slice of a policy's callers, most recently seen first, so that
// both evictions take from the back.
type shard struct {
	mu    sync.Mutex
	lru   list.List
	index map[string]*list.Element
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
	sh := &m.set(p).shards[maphash.String(m.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.evictIdle(now, p.Window)
	b := sh.get(key, p, now, m.maxKeys/shards)

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

// get returns key's bucket, marked as used now, creating it (full) when
// absent and dropping the least recently used one when the shard is full.
func (sh *shard) get(key string, p Policy, now time.Time, max int) *bucket {
	if e, ok := sh.index[key]; ok {
		sh.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		if now.After(b.last) {
			b.last = now
		}
		return b
	}
	for sh.lru.Len() >= max {
		sh.remove(sh.lru.Back())
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Limit(p.perSecond()), p.Quota), last: now}
	sh.index[key] = sh.lru.PushFront(b)
	return b
}

func (sh *shard) remove(e *list.Element) {
	delete(sh.index, e.Value.(*bucket).key)
	sh.lru.Remove(e)
}

func secondsToDuration(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}

// Interface guard.
var _ Store = (*Memory)(nil)
