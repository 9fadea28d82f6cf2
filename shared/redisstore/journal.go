package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/orderflow"
)

// Journal is an orderflow.Journal in Redis, for a BFF running several
// replicas: every replica reads and fences the same saga records. It is safe
// for concurrent use.
//
// Each record is its JSON under prefix + "{tag}:rec:" + id, and a sorted
// set under prefix + "{tag}:unfinished" holds the ids of the unfinished
// ones scored by the end of their lease (Unix milliseconds), which is what
// Expired reads. A finished record leaves the set and expires
// at its ExpiresAt; an unfinished one has no TTL.
//
// The tag is the prefix itself (less any braces), a Redis Cluster hash tag
// that puts every key of the journal in one slot, so that each script may
// touch a record and the set together. All of one BFF's sagas therefore
// live on one cluster node, which is fine for a journal that is small (a
// record per checkout of the retention period) and hot. A prefix holding a
// hash tag of its own ("sf:{web}:") decides the slot instead; it must not
// hold an empty one ("{}"), which would scatter the keys.
//
// The server must not evict the records of running sagas: with a
// maxmemory-policy of noeviction, a full Redis refuses Create with
// orderflow.ErrFull instead, and takes the Updates of the sagas already
// running (volatile-* policies only evict finished
// records, whose retention then ends early; allkeys-* ones must not be
// used).
//
// Redis replicates asynchronously: a write the master acknowledged but had
// not yet passed on is lost if a replica is promoted (a Sentinel or Cluster
// failover). A checkout whose record is lost that way stops at its next
// write, and its upstream holds lapse at their own expiry, but nothing
// recovers it. In a partition, a replica of the BFF that still reaches a
// master cut off from its Sentinels goes on writing there while the others
// write to the master promoted: the version check holds within each
// master, not across the two, and both may run one saga. WithReplicas
// closes both windows at the cost of a wait for the replicas on every
// write (a write on a master without its replicas is run but fails its
// WAIT, and its saga stops there), as does min-replicas-to-write on the
// master, which refuses the write itself.
type Journal struct {
	client     redis.UniversalClient
	rec        string // prefix of the record keys
	unfinished string // the index
	replicas   int    // that must hold a write before it counts; see WithReplicas
	// plainUpdates is set once the server refused the flags of
	// updateScript: a Redis before 7 (see Update). It is cleared when a
	// full server refuses plainUpdateScript but runs updateScript.
	plainUpdates atomic.Bool
}

// JournalOption configures a Journal.
type JournalOption func(*Journal)

// WithReplicas makes every write wait (Redis WAIT, on the connection that
// wrote, at most replicaWait) until n replicas of the master hold it, and
// fail when fewer do: a checkout is then refused rather than journaled on
// the master alone. n must not exceed the replicas the master has, or
// every write fails. Default 0: a write counts once the master has it.
func WithReplicas(n int) JournalOption { return func(j *Journal) { j.replicas = n } }

// replicaWait bounds the wait of WithReplicas.
const replicaWait = time.Second

// Interface guard.
var _ orderflow.Journal = (*Journal)(nil)

// NewJournal returns a Journal keeping its keys under prefix ("sf:saga:bff-web:"
// in bff-web), followed by a hash tag made of the prefix.
func NewJournal(client redis.UniversalClient, prefix string, opts ...JournalOption) *Journal {
	tag := strings.NewReplacer("{", "", "}", "").Replace(prefix)
	if tag == "" {
		tag = "journal"
	}
	base := prefix + "{" + tag + "}:"
	j := &Journal{client: client, rec: base + "rec:", unfinished: base + "unfinished"}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Record scripts take KEYS[1] the record and KEYS[2] the index; ARGV[1] the
// record's JSON, ARGV[2] its id, and ARGV[3] its lease score when it is
// unfinished, or "" and then ARGV[4] the Unix milliseconds at which it
// expires, or "" when it does not. SET drops any TTL the key had, so an
// unfinished record lives until it has finished. A script run again (the
// client sends it once more when the first answer was late) finds the
// very record it wrote, whose JSON (with its Write, random at each write)
// is that write's alone, and answers as it did the first time.

// createScript stores a record unless one exists, and returns the existing
// one, nil when it created.
var createScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return false end
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
elseif ARGV[4] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
return false
`)

// updateScript replaces the record if its version is ARGV[5] and returns 1;
// it returns 0 when the record is missing or at another version, and -1
// when the stored record is not JSON. Versions are small integers, which
// the doubles of cjson hold exactly. The stored JSON is only read: cjson
// would rewrite its numbers (amounts, times) if it encoded it again.
//
// It runs on a full Redis too (allow-oom): only Create, which adds a
// record, is refused there, and the sagas already journaled must renew
// their leases and finish, or one that took the money could not go on to
// its order. They hold the memory they grow by; finishing gives their
// records a TTL. Script flags need Redis 7: an earlier server, which
// cannot compile them, runs plainUpdateScript instead (see Update), and
// refuses updates when full, as it does creates.
var updateScript = redis.NewScript("#!lua flags=allow-oom\n" + updateBody)

// plainUpdateScript is updateScript without its flags, for Redis 5 and 6.
var plainUpdateScript = redis.NewScript(updateBody)

const updateBody = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v == ARGV[1] then return 1 end
local ok, r = pcall(cjson.decode, v)
if not ok or type(r) ~= 'table' then return -1 end
if tonumber(r['version']) ~= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  if ARGV[4] ~= '' then
    redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  end
end
return 1
`

// pruneScript removes from the index KEYS[1] the ids ARGV[i] whose record
// KEYS[i+1] is gone (evicted, deleted by hand), which Expired would
// otherwise read first on every pass. It checks again in the script, so a
// record created meanwhile keeps its entry.
var pruneScript = redis.NewScript(`
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    redis.call('ZREM', KEYS[1], id)
  end
end
return 0
`)

// Get implements orderflow.Journal.
func (j *Journal) Get(ctx context.Context, id string) (orderflow.Record, bool, error) {
	v, err := j.client.Get(ctx, j.rec+id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return orderflow.Record{}, false, nil
	case err != nil:
		return orderflow.Record{}, false, fmt.Errorf("redis journal get %s: %w", id, err)
	}
	rec, err := decodeRecord(id, v)
	if err != nil {
		return orderflow.Record{}, false, err
	}
	return rec, true, nil
}

// Create implements orderflow.Journal. It never returns orderflow.ErrFull
// but when Redis is out of memory.
func (j *Journal) Create(ctx context.Context, rec orderflow.Record) (orderflow.Record, bool, error) {
	if rec.Version != 1 {
		return orderflow.Record{}, false, fmt.Errorf("redisstore: journal create of %s at version %d, want 1", rec.ID, rec.Version)
	}
	args, err := recordArgs(rec)
	if err != nil {
		return orderflow.Record{}, false, err
	}
	v, err := j.write(ctx, createScript, rec.ID, args).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return orderflow.Record{}, true, nil
	case redis.IsOOMError(err):
		return orderflow.Record{}, false, fmt.Errorf("redis journal create %s: %w: %w", rec.ID, orderflow.ErrFull, err)
	case err != nil:
		return orderflow.Record{}, false, fmt.Errorf("redis journal create %s: %w", rec.ID, err)
	}
	existing, err := decodeRecord(rec.ID, v)
	if err != nil {
		return orderflow.Record{}, false, err
	}
	return existing, false, nil
}

// Update implements orderflow.Journal.
func (j *Journal) Update(ctx context.Context, rec orderflow.Record) error {
	args, err := recordArgs(rec)
	if err != nil {
		return err
	}
	args = append(args, strconv.FormatInt(rec.Version-1, 10))
	script := updateScript
	if j.plainUpdates.Load() {
		script = plainUpdateScript
	}
	done, err := j.write(ctx, script, rec.ID, args).Int()
	switch {
	case err != nil && script == updateScript && flagsRefused(err):
		// Nothing ran: the server could not compile the script.
		j.plainUpdates.Store(true)
		done, err = j.write(ctx, plainUpdateScript, rec.ID, args).Int()
	case err != nil && script == plainUpdateScript && redis.IsOOMError(err):
		// Nothing ran: a full server refused the script without flags. It
		// may run Redis 7 by now (an upgrade, a failover to a newer
		// replica), which takes the flagged one on a full server.
		d, ferr := j.write(ctx, updateScript, rec.ID, args).Int()
		var reply redis.Error
		if ferr == nil || errors.As(ferr, &reply) && !flagsRefused(ferr) {
			// Compiled: the flags are known from now on. A failure on the
			// way (a dropped connection) tells nothing of them.
			j.plainUpdates.Store(false)
		}
		if !flagsRefused(ferr) {
			done, err = d, ferr
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("redis journal update %s: %w", rec.ID, err)
	case done == 0:
		return orderflow.ErrConflict
	case done < 0:
		return fmt.Errorf("redisstore: journal record %s is not valid JSON; not updated", rec.ID)
	}
	return nil
}

// flagsRefused reports whether err is a server's refusal to compile a
// script that declares flags: Redis before 7 reads its first line, the
// "#!lua" of the flags, as Lua ("Error compiling script (new function):
// user_script:1: unexpected symbol near '#'").
func flagsRefused(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "Error compiling script") && strings.Contains(msg, "near '#'")
}

// Expired implements orderflow.Journal. The oldest leases come first. A
// record whose lease was renewed, or which finished, between reading the
// index and reading the records is left out, so the result may be shorter
// than limit although more records have expired. Records that do not
// decode are named in an *orderflow.UnreadableError and read past: they
// keep the oldest leases, and a page of nothing but them must not hide the
// sound ones behind it.
func (j *Journal) Expired(ctx context.Context, now time.Time, limit int) ([]orderflow.Record, error) {
	var recs []orderflow.Record
	var unreadable orderflow.Unreadable
	offset := 0
	for range maxExpiredPages {
		want := limit - len(recs)
		if want <= 0 {
			break
		}
		page, scanned, pruned, err := j.expiredPage(ctx, now, offset, want, &unreadable)
		if err != nil {
			return nil, err
		}
		recs = append(recs, page...)
		if scanned < want {
			break // the index holds no more expired leases
		}
		offset += scanned - pruned
	}
	return recs, unreadable.Err()
}

// Backlog implements orderflow.Journal: the ids of the index whose lease
// ended by now's millisecond, counted by Redis.
func (j *Journal) Backlog(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := j.client.ZCount(ctx, j.unfinished, "-inf", strconv.FormatInt(now.UnixMilli(), 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("redis journal backlog: %w", err)
	}
	return int(min(n, int64(max(limit, 0)))), nil
}

// maxExpiredPages bounds the index pages one Expired reads.
const maxExpiredPages = 16

// expiredPage reads up to count expired ids of the index from offset, and
// their records; scanned is the ids read, pruned those removed from the
// index because their record is gone.
func (j *Journal) expiredPage(ctx context.Context, now time.Time, offset, count int, unreadable *orderflow.Unreadable) (recs []orderflow.Record, scanned, pruned int, err error) {
	// Scores are whole milliseconds, rounded down: the range takes the
	// leases ending in now's millisecond too, and the records are checked
	// against now itself below.
	ids, err := j.client.ZRangeByScore(ctx, j.unfinished, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Offset: int64(offset), Count: int64(count),
	}).Result()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("redis journal expired: %w", err)
	}
	if len(ids) == 0 {
		return nil, 0, 0, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = j.rec + id
	}
	vals, err := j.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("redis journal expired: %w", err)
	}
	recs = make([]orderflow.Record, 0, len(ids))
	var gone []string
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, ids[i])
			continue
		}
		rec, err := decodeRecord(ids[i], s)
		if err != nil {
			unreadable.Add(ids[i], err)
			continue
		}
		if rec.State.Finished() || now.Before(rec.LeaseUntil) {
			continue
		}
		recs = append(recs, rec)
	}
	if len(gone) > 0 {
		keys := append([]string{j.unfinished}, make([]string, len(gone))...)
		args := make([]any, len(gone))
		for i, id := range gone {
			keys[i+1], args[i] = j.rec+id, id
		}
		if err := pruneScript.Run(ctx, j.client, keys, args...).Err(); err != nil {
			return nil, 0, 0, fmt.Errorf("redis journal expired: prune: %w", err)
		}
	}
	return recs, len(ids), len(gone), nil
}

// keys are the keys of a record script for id.
func (j *Journal) keys(id string) []string { return []string{j.rec + id, j.unfinished} }

// write runs the record script on the record id and, with WithReplicas,
// waits on the same connection for the replicas to hold what it wrote.
func (j *Journal) write(ctx context.Context, script *redis.Script, id string, args []any) *redis.Cmd {
	keys := j.keys(id)
	if j.replicas == 0 {
		return script.Run(ctx, j.client, keys, args...)
	}
	// WAIT counts the writes of its own connection, on the master of the
	// record's slot: one pipeline to that node.
	var node redis.Cmdable = j.client
	if cc, ok := j.client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return failed(ctx, err)
		}
		node = m
	}
	var run, acked *redis.Cmd
	// Each command's own error is read below: the pipeline's is the first
	// of them, redis.Nil (a create that wrote) included.
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		run = script.Eval(ctx, p, keys, args...)
		acked = p.Do(ctx, "wait", j.replicas, replicaWait.Milliseconds())
		return nil
	})
	if err := run.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return run
	}
	switch n, err := acked.Int64(); {
	case err != nil:
		return failed(ctx, fmt.Errorf("wait for %d replicas: %w", j.replicas, err))
	case n < int64(j.replicas):
		return failed(ctx, fmt.Errorf("%d of %d replicas hold the write after %v", n, j.replicas, replicaWait))
	}
	return run
}

// failed is a command that failed with err before it could run.
func failed(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// recordArgs are the ARGV of a record script for rec, before any of the
// script's own.
func recordArgs(rec orderflow.Record) ([]any, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode saga record %s: %w", rec.ID, err)
	}
	score, expires := strconv.FormatInt(rec.LeaseUntil.UnixMilli(), 10), ""
	if rec.State.Finished() {
		score = ""
		if !rec.ExpiresAt.IsZero() {
			expires = strconv.FormatInt(rec.ExpiresAt.UnixMilli(), 10)
		}
	}
	return []any{b, rec.ID, score, expires}, nil
}

func decodeRecord(id, v string) (orderflow.Record, error) {
	var rec orderflow.Record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return orderflow.Record{}, fmt.Errorf("redisstore: decode journal record %s: %w", id, err)
	}
	return rec, nil
}
