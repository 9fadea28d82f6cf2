package redisstore_test

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/orderflow/journaltest"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
)

// TestJournal runs every journal test against one Redis: the subtests'
// clients all reach the server started here.
func TestJournal(t *testing.T) {
	external := os.Getenv("REDIS_TEST_URL") != ""
	t.Setenv("REDIS_TEST_URL", redistest.URL(t))
	c := redistest.Client(t)

	journaltest.Run(t, func(t *testing.T) orderflow.Journal {
		return redisstore.NewJournal(c, redistest.Prefix(t))
	})
	t.Run("Keys", func(t *testing.T) { testJournalKeys(t, c) })
	t.Run("Replicas", testJournalReplicas)
	t.Run("Corrupt", func(t *testing.T) { testJournalCorrupt(t, c) })
	t.Run("Full", func(t *testing.T) {
		if external {
			t.Skip("fills a Redis of its own only, not REDIS_TEST_URL's")
		}
		testJournalFull(t, c)
	})
}

// TestJournalOnCluster runs every journal test against a Redis Cluster of
// three masters: each journal's keys share one hash tag, so its scripts
// run on one node whatever slot the tag falls in.
func TestJournalOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	c := redistest.StartCluster(t)
	journaltest.Run(t, func(t *testing.T) orderflow.Journal {
		return redisstore.NewJournal(c, redistest.Prefix(t))
	})
	t.Run("OneNode", func(t *testing.T) {
		ctx := context.Background()
		prefix := redistest.Prefix(t)
		j := redisstore.NewJournal(c, prefix)
		for _, id := range []string{"s1", "s2", "s3"} {
			if _, _, err := j.Create(ctx, journaltest.Record(id, time.Now().Add(time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		perNode := map[string]int{}
		err := c.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			n := len(node.Keys(ctx, prefix+"*").Val())
			mu.Lock()
			defer mu.Unlock()
			if n > 0 {
				perNode[node.Options().Addr] = n
			}
			return nil
		})
		if err != nil || len(perNode) != 1 {
			t.Errorf("journal keys by node %v (%v), want them all on one: three records and the index", perNode, err)
		}
		for _, n := range perNode {
			if n != 4 {
				t.Errorf("%d keys on the node, want 4", n)
			}
		}
	})
}

// testJournalKeys checks where the records live: under the prefix, in one
// cluster slot, with no TTL while running and the retention's once
// finished, and in the index only while unfinished.
func testJournalKeys(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	j := redisstore.NewJournal(c, prefix)
	rec := journaltest.Record("s1", time.Now().Add(time.Minute))
	if _, _, err := j.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	key := recordKey(t, c, prefix)
	keys := c.Keys(ctx, prefix+"*").Val()
	if len(keys) != 2 {
		t.Fatalf("got keys %v, want a record and the index", keys)
	}
	if a, b := hashTag(keys[0]), hashTag(keys[1]); a == "" || a != b {
		t.Errorf("keys %v have hash tags %q and %q, want one", keys, a, b)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl != -1 {
		t.Errorf("running record has a TTL of %v, want none", ttl)
	}
	if _, _, err := j.Create(ctx, journaltest.Record("s2", time.Now())); err != nil {
		t.Fatal(err)
	}
	rec.Version = 2
	rec.State = orderflow.StateCompleted
	rec.ExpiresAt = time.Now().Add(time.Hour)
	if err := j.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("finished record has a TTL of %v, want its retention of about 1h", ttl)
	}
	if all, err := j.Expired(ctx, time.Now().Add(24*time.Hour), 10); err != nil || len(all) != 1 || all[0].ID != "s2" {
		t.Errorf("unfinished records = %d, %v; want 1 (s2 only)", len(all), err)
	}
	unversioned := journaltest.Record("s3", time.Now())
	unversioned.Version = 0
	if _, _, err := j.Create(ctx, unversioned); err == nil {
		t.Error("Create at version 0 = nil error, want one")
	}
}

// testJournalReplicas runs two journals on clients of their own, two
// replicas of one BFF.
func testJournalReplicas(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	a := redisstore.NewJournal(redistest.Client(t), prefix)
	b := redisstore.NewJournal(redistest.Client(t), prefix)
	rec := journaltest.Record("s1", time.Now().Add(-time.Second))
	if _, created, err := a.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create on a = %v, %v", created, err)
	}
	if got, ok, err := b.Get(ctx, "s1"); err != nil || !ok || got.Owner != "a" {
		t.Fatalf("Get on b = %+v, %v, %v; want a's record", got, ok, err)
	}
	// b's own record for the same id (the very JSON a wrote would be a's
	// write sent again, which answers as the first time).
	mine := rec
	mine.Owner = "b"
	if _, created, err := b.Create(ctx, mine); err != nil || created {
		t.Fatalf("Create on b = %v, %v; want false, nil", created, err)
	}
	expired, err := b.Expired(ctx, time.Now(), 10)
	if err != nil || len(expired) != 1 || expired[0].ID != "s1" {
		t.Fatalf("Expired on b = %v, %v; want s1", expired, err)
	}
	// Both take the dead lease over at once; one wins.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, j := range []*redisstore.Journal{a, b} {
		wg.Go(func() {
			next := expired[0]
			next.Version, next.Owner = 2, string(rune('a'+i))
			next.LeaseUntil = time.Now().Add(time.Minute)
			errs[i] = j.Update(ctx, next)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
		case !errors.Is(err, orderflow.ErrConflict):
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("claims = %v, want exactly one to win", errs)
	}
	got, _, _ := a.Get(ctx, "s1")
	if want := string(rune('a' + winner)); got.Owner != want || got.Version != 2 {
		t.Errorf("after the claims: owner %q at version %d, want %q at 2", got.Owner, got.Version, want)
	}
	if left, err := a.Expired(ctx, time.Now(), 10); err != nil || len(left) != 0 {
		t.Errorf("Expired after the claim = %v, %v; want none", left, err)
	}
}

// testJournalCorrupt checks that a record that is not JSON is named, not
// taken for a conflict or a missing record, and that an index entry whose
// record is gone is dropped.
func testJournalCorrupt(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	j := redisstore.NewJournal(c, prefix)
	rec := journaltest.Record("bad", time.Now().Add(-time.Second))
	if _, _, err := j.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	key := recordKey(t, c, prefix)
	c.Set(ctx, key, "{not json", 0)
	if _, _, err := j.Get(ctx, "bad"); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("Get = %v, want an error naming the record", err)
	}
	rec.Version = 2
	if err := j.Update(ctx, rec); err == nil || errors.Is(err, orderflow.ErrConflict) || !strings.Contains(err.Error(), "bad") {
		t.Errorf("Update = %v, want an error naming the record, not a conflict", err)
	}
	// A sound record beside it is still returned for recovery, the
	// damaged one named apart.
	if _, _, err := j.Create(ctx, journaltest.Record("good", time.Now().Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	got, err := j.Expired(ctx, time.Now(), 10)
	var ue *orderflow.UnreadableError
	if !errors.As(err, &ue) || len(ue.IDs) != 1 || ue.IDs[0] != "bad" || len(got) != 1 || got[0].ID != "good" {
		t.Errorf("Expired = %d records, %v; want the good one, and the bad one named unreadable", len(got), err)
	}
	// More damaged records than a pass asks for, with the oldest leases:
	// the sound one behind them is still found.
	for i := range 3 {
		id := fmt.Sprintf("bad%d", i)
		if _, _, err := j.Create(ctx, journaltest.Record(id, time.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		c.Set(ctx, c.Keys(ctx, prefix+"*:rec:"+id).Val()[0], "{not json", 0)
	}
	got, err = j.Expired(ctx, time.Now(), 2)
	if !errors.As(err, &ue) || len(got) != 1 || got[0].ID != "good" {
		t.Errorf("Expired(2) behind 4 damaged records = %d records, %v; want the good one", len(got), err)
	}
	for i := range 3 {
		c.Del(ctx, c.Keys(ctx, prefix+fmt.Sprintf("*:rec:bad%d", i)).Val()...)
	}
	_, _ = j.Expired(ctx, time.Now(), 10) // prunes their index entries
	if err := c.Del(ctx, c.Keys(ctx, prefix+"*:rec:good").Val()...).Err(); err != nil {
		t.Fatal(err)
	}
	_, _ = j.Expired(ctx, time.Now(), 10) // prunes good's index entry

	c.Del(ctx, key)
	if got, err := j.Expired(ctx, time.Now(), 10); err != nil || len(got) != 0 {
		t.Errorf("Expired with the record gone = %v, %v; want none", got, err)
	}
	if idx := c.Keys(ctx, prefix+"*unfinished").Val(); len(idx) != 0 {
		t.Errorf("index keys %v after the record went, want none: the id is pruned", idx)
	}
}

// testJournalFull fills the test's own server: a Create refused for memory
// is ErrFull, an order refused rather than a record evicted; the sagas
// already journaled still renew their leases and finish, or one that took
// the money could not go on to its order.
func testJournalFull(t *testing.T, c redis.UniversalClient) {
	ctx := context.Background()
	j := redisstore.NewJournal(c, redistest.Prefix(t))
	renew := journaltest.Record("renew", time.Now().Add(time.Minute))
	finish := journaltest.Record("finish", time.Now().Add(time.Minute))
	for _, r := range []orderflow.Record{renew, finish} {
		if _, _, err := j.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer c.ConfigSet(ctx, "maxmemory", "0")
	if _, _, err := j.Create(ctx, journaltest.Record("s1", time.Now())); !errors.Is(err, orderflow.ErrFull) {
		t.Errorf("Create on a full Redis = %v, want ErrFull", err)
	}
	renew.Version, renew.LeaseUntil = renew.Version+1, time.Now().Add(2*time.Minute)
	if err := j.Update(ctx, renew); err != nil {
		t.Errorf("a lease renewed on a full Redis: %v", err)
	}
	finish.Version, finish.State, finish.ExpiresAt = finish.Version+1, orderflow.StateCompleted, time.Now().Add(time.Hour)
	if err := j.Update(ctx, finish); err != nil {
		t.Errorf("a saga finished on a full Redis: %v", err)
	}
}

// recordKey returns the one record key under prefix.
func recordKey(t *testing.T, c redis.UniversalClient, prefix string) string {
	t.Helper()
	keys := c.Keys(context.Background(), prefix+"*:rec:*").Val()
	if len(keys) != 1 {
		t.Fatalf("got record keys %v, want one", keys)
	}
	return keys[0]
}

// hashTag is the part of key that Redis Cluster hashes when it is not the
// whole key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return ""
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return ""
	}
	return key[open+1 : open+1+end]
}

// TestJournalWithReplicas runs every journal test on the master of a
// replicated Redis with writes confirmed by its replica, then stops the
// replica: a write it cannot confirm fails, which one that counts once the
// master has it does not.
func TestJournalWithReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a replicated Redis of its own")
	}
	ctx := context.Background()
	rs := redistest.StartSentinel(t, "")
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: rs.Addrs[0]})
	t.Cleanup(func() { _ = sentinel.Close() })
	addr, err := sentinel.GetMasterAddrByName(ctx, rs.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	master := redis.NewClient(&redis.Options{Addr: addr[0] + ":" + addr[1]})
	t.Cleanup(func() { _ = master.Close() })
	journaltest.Run(t, func(t *testing.T) orderflow.Journal {
		return redisstore.NewJournal(master, redistest.Prefix(t), redisstore.WithReplicas(1))
	})

	replicas, err := sentinel.Replicas(ctx, rs.MasterName).Result()
	if err != nil || len(replicas) != 1 {
		t.Fatalf("replicas %v, %v; want one", replicas, err)
	}
	replica := redis.NewClient(&redis.Options{Addr: replicas[0]["ip"] + ":" + replicas[0]["port"]})
	t.Cleanup(func() { _ = replica.Close() })
	prefix := redistest.Prefix(t)
	confirmed := redisstore.NewJournal(master, prefix, redisstore.WithReplicas(1))
	if _, created, err := confirmed.Create(ctx, journaltest.Record("held", time.Now().Add(time.Minute))); err != nil || !created {
		t.Fatalf("Create confirmed by the replica: %v, %v", created, err)
	}
	stop(t, replica)
	if _, _, err := confirmed.Create(ctx, journaltest.Record("alone", time.Now().Add(time.Minute))); err == nil || !strings.Contains(err.Error(), "replicas") {
		t.Errorf("Create with the replica stopped: %v, want an error naming the replicas", err)
	}
	unconfirmed := redisstore.NewJournal(master, prefix)
	if _, created, err := unconfirmed.Create(ctx, journaltest.Record("master-only", time.Now().Add(time.Minute))); err != nil || !created {
		t.Errorf("Create without WithReplicas, the replica stopped: %v, %v; want it written", created, err)
	}
}

// stop pauses the process of the Redis client talks to until t ends.
func stop(t *testing.T, client *redis.Client) {
	t.Helper()
	info, err := client.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("no process_id in INFO: %q", info)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// beforeFlags is a go-redis hook that makes a Redis 7 answer scripts as
// Redis 5 and 6 do: a script that declares flags ("#!lua ...") does not
// compile, and only the scripts it compiled are known by their digest.
type beforeFlags struct {
	mu    sync.Mutex
	known map[string]bool // digests of the scripts it compiled
	// upgraded makes the server Redis 7 again, as after an upgrade or a
	// failover to a newer replica.
	upgraded atomic.Bool
}

func (*beforeFlags) DialHook(next redis.DialHook) redis.DialHook { return next }
func (*beforeFlags) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (b *beforeFlags) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if b.upgraded.Load() {
			return next(ctx, cmd)
		}
		args := cmd.Args()
		b.mu.Lock()
		known := len(args) > 1 && b.known[fmt.Sprint(args[1])]
		b.mu.Unlock()
		switch name := strings.ToLower(cmd.Name()); {
		case name == "evalsha" && !known:
			cmd.SetErr(serverError("NOSCRIPT No matching script. Please use EVAL."))
			return cmd.Err()
		case name == "eval" && strings.HasPrefix(args[1].(string), "#!"):
			cmd.SetErr(serverError("ERR Error compiling script (new function): user_script:1: unexpected symbol near '#'"))
			return cmd.Err()
		case name == "eval":
			b.mu.Lock()
			b.known[fmt.Sprintf("%x", sha1.Sum([]byte(args[1].(string))))] = true
			b.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

// serverError is an error as the server answers it, which go-redis tells
// from a failure to reach it.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

// TestJournalBeforeRedis7: a server that cannot compile the flags of the
// update script still takes every update, by the script without them. Once
// it runs Redis 7 (upgraded, or failed over to a newer replica) and is
// full, which refuses that script, the journal takes the flagged one
// again, which a full server runs (see testJournalFull).
func TestJournalBeforeRedis7(t *testing.T) {
	external := os.Getenv("REDIS_TEST_URL") != ""
	c := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(redistest.URL(t), "redis://")})
	t.Cleanup(func() { c.Close() })
	old := &beforeFlags{known: map[string]bool{}}
	c.AddHook(old)
	ctx := context.Background()
	j := redisstore.NewJournal(c, redistest.Prefix(t))
	rec := journaltest.Record("old-redis", time.Now().Add(time.Minute))
	if _, _, err := j.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first finds the flags refused, the second knows
		rec.Version++
		if err := j.Update(ctx, rec); err != nil {
			t.Fatalf("update %d on a server before Redis 7: %v", rec.Version, err)
		}
	}
	if got, ok, err := j.Get(ctx, rec.ID); err != nil || !ok || got.Version != rec.Version {
		t.Errorf("got version %d, %v, %v; want %d", got.Version, ok, err, rec.Version)
	}
	if external {
		return // fills a Redis of its own only, not REDIS_TEST_URL's
	}
	old.upgraded.Store(true)
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	defer c.ConfigSet(ctx, "maxmemory", "0")
	for range 2 { // the first finds the flagless script refused, the second knows
		rec.Version++
		if err := j.Update(ctx, rec); err != nil {
			t.Fatalf("update %d on a full server upgraded to Redis 7: %v", rec.Version, err)
		}
	}
}
