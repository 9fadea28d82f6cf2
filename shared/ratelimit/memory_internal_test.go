package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"testing"
	"time"
)

// TestMemoryDropsIdleCallersBeforeLiveOnes: at the bound, the callers idle
// for a whole window (full again, so forgetting them changes nothing) go
// first, in whichever shard they are, before a caller still spending its
// quota is forgotten and handed a fresh one. Here every idle caller is in
// another shard than the guesser's, and the newcomers all in the
// guesser's, where no idle caller is left to drop.
func TestMemoryDropsIdleCallersBeforeLiveOnes(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := Policy{Name: "login", Quota: 3, Window: time.Minute}
	const bound = 32
	m := NewMemory(Config{MaxKeys: bound}, WithClock(func() time.Time { return now }))
	shardOf := func(key string) uint64 { return maphash.String(m.seed, key) % shards }
	take := func(key string) Decision {
		d, err := m.Take(context.Background(), p, key)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// keys returns n keys of the prefix whose shard is (in) or is not (out)
	// the guesser's.
	guesser := "ip:guesser"
	keys := func(prefix string, n int, in bool) []string {
		var ks []string
		for i := 0; len(ks) < n; i++ {
			if k := fmt.Sprintf("%s-%d", prefix, i); (shardOf(k) == shardOf(guesser)) == in {
				ks = append(ks, k)
			}
		}
		return ks
	}
	for _, k := range keys("ip:old", bound-2, false) {
		take(k)
	}
	now = now.Add(2 * p.Window)
	for range p.Quota {
		take(guesser)
	}
	for _, k := range keys("ip:new", 2, true) {
		take(k)
	}
	if d := take(guesser); d.Allowed {
		t.Errorf("the guesser, its quota spent, was allowed again while %d callers idle for two windows were kept (%d tracked)",
			bound-2, m.Len(p))
	}
}
