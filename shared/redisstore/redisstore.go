// Package redisstore keeps the state that replicas of a BFF must share in
// Redis: idempotency records (an idempotency.Store) and rate-limit buckets (a
// ratelimit.Store). Each store takes a redis.UniversalClient, so a single
// server, a Sentinel group or a Cluster will do, and a key prefix under which
// all its keys live. Every operation touches one key, in one round trip.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/idempotency"
)

// Idempotency is an idempotency.Store in Redis. It is safe for concurrent
// use, and by any number of replicas sharing the server.
type Idempotency struct {
	client redis.UniversalClient
	prefix string
}

// Interface guard.
var _ idempotency.Store = (*Idempotency)(nil)

// NewIdempotency returns a Store keeping each record under prefix followed by
// its key ("sf:idem:" in the BFFs).
func NewIdempotency(client redis.UniversalClient, prefix string) *Idempotency {
	return &Idempotency{client: client, prefix: prefix}
}

// reserveScript is SET NX that returns the record it did not replace: one
// atomic step, so that no DEL can slip between a failed SET NX and the GET
// that would read the record (SET NX GET does the same, but only from
// Redis 7.0).
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// Reserve implements idempotency.Store.
func (s *Idempotency) Reserve(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) (idempotency.Record, bool, error) {
	if ttl < time.Millisecond {
		return idempotency.Record{}, false, errNoTTL
	}
	val, err := encode(rec)
	if err != nil {
		return idempotency.Record{}, false, err
	}
	existing, err := reserveScript.Run(ctx, s.client, []string{s.prefix + key}, val, ttl.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return idempotency.Record{}, true, nil
	case err != nil:
		return idempotency.Record{}, false, fmt.Errorf("redis reserve: %w", err)
	}
	got, err := decode(existing)
	if err != nil {
		return idempotency.Record{}, false, err
	}
	return got, false, nil
}

// ownedScript writes (ARGV[2] set: SET with PX ARGV[3]) or deletes (ARGV[2]
// empty) KEYS[1] only while it holds the record created at ARGV[1], its
// "c" member; it returns 1 when it acted. The creation time is stored as a
// string because Lua numbers are doubles and would round nanoseconds.
var ownedScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, r = pcall(cjson.decode, v)
if not ok or r['c'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// Complete implements idempotency.Store.
func (s *Idempotency) Complete(ctx context.Context, key string, owner time.Time, rec idempotency.Record, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return errNoTTL
	}
	val, err := encode(rec)
	if err != nil {
		return err
	}
	done, err := ownedScript.Run(ctx, s.client, []string{s.prefix + key}, stamp(owner), val, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redis complete: %w", err)
	}
	if done == 0 {
		return idempotency.ErrNotOwner
	}
	return nil
}

// Release implements idempotency.Store.
func (s *Idempotency) Release(ctx context.Context, key string, owner time.Time) error {
	if err := ownedScript.Run(ctx, s.client, []string{s.prefix + key}, stamp(owner), "", 0).Err(); err != nil {
		return fmt.Errorf("redis release: %w", err)
	}
	return nil
}

// stamp is a record's creation time as stored in its "c" member.
func stamp(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// errNoTTL guards against a record that would never expire: Redis keeps a
// key set without PX forever.
var errNoTTL = errors.New("redisstore: idempotency ttl must be at least a millisecond")

// record is a Record as stored: short member names, and the creation time
// in Unix nanoseconds (a string, for the Lua scripts), because the Manager names expired records by it and
// a text time would have to survive a round trip through time zones. The
// body is base64 in JSON, so a replay is byte for byte what was stored
// whatever the bytes are.
type record struct {
	Fingerprint string `json:"f"`
	Done        bool   `json:"d,omitempty"`
	Reference   string `json:"r,omitempty"`
	Status      int    `json:"s,omitempty"`
	ContentType string `json:"t,omitempty"`
	Location    string `json:"l,omitempty"`
	Body        []byte `json:"b,omitempty"`
	CreatedAt   string `json:"c"`
}

func encode(r idempotency.Record) ([]byte, error) {
	b, err := json.Marshal(record{
		Fingerprint: r.Fingerprint,
		Done:        r.Done,
		Reference:   r.Reference,
		Status:      r.Status,
		ContentType: r.ContentType,
		Location:    r.Location,
		Body:        r.Body,
		CreatedAt:   stamp(r.CreatedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("encode idempotency record: %w", err)
	}
	return b, nil
}

func decode(s string) (idempotency.Record, error) {
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return idempotency.Record{}, fmt.Errorf("decode idempotency record: %w", err)
	}
	created, err := strconv.ParseInt(r.CreatedAt, 10, 64)
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("decode idempotency record: creation time %q: %w", r.CreatedAt, err)
	}
	return idempotency.Record{
		Fingerprint: r.Fingerprint,
		Done:        r.Done,
		Reference:   r.Reference,
		Status:      r.Status,
		ContentType: r.ContentType,
		Location:    r.Location,
		Body:        r.Body,
		CreatedAt:   time.Unix(0, created).UTC(),
	}, nil
}
