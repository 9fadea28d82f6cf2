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

// Complete implements idempotency.Store.
func (s *Idempotency) Complete(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return errNoTTL
	}
	val, err := encode(rec)
	if err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.prefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("redis complete: %w", err)
	}
	return nil
}

// Release implements idempotency.Store.
func (s *Idempotency) Release(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis release: %w", err)
	}
	return nil
}

// errNoTTL guards against a record that would never expire: Redis keeps a
// key set without PX forever.
var errNoTTL = errors.New("redisstore: idempotency ttl must be at least a millisecond")

// record is a Record as stored: short member names, and the creation time
// in Unix nanoseconds, because the Manager names expired records by it and
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
	CreatedAt   int64  `json:"c"`
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
		CreatedAt:   r.CreatedAt.UnixNano(),
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
	return idempotency.Record{
		Fingerprint: r.Fingerprint,
		Done:        r.Done,
		Reference:   r.Reference,
		Status:      r.Status,
		ContentType: r.ContentType,
		Location:    r.Location,
		Body:        r.Body,
		CreatedAt:   time.Unix(0, r.CreatedAt).UTC(),
	}, nil
}
