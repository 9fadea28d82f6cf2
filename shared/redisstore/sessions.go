package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/session"
)

// Sessions keeps web sessions in Redis, shared by every replica: each under
// prefix + "s:" + key, expiring with the session, and its refresh lock
// under prefix + "lock:" + key.
type Sessions struct {
	client redis.UniversalClient
	prefix string
}

// NewSessions returns the sessions kept in client under prefix.
func NewSessions(client redis.UniversalClient, prefix string) *Sessions {
	return &Sessions{client: client, prefix: prefix}
}

// GetSession implements session.Store.
func (s *Sessions) GetSession(ctx context.Context, key string) (session.Session, bool, error) {
	b, err := s.client.Get(ctx, s.prefix+"s:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return session.Session{}, false, nil
	}
	if err != nil {
		return session.Session{}, false, fmt.Errorf("redis get session: %w", err)
	}
	var sess session.Session
	if err := json.Unmarshal(b, &sess); err != nil {
		return session.Session{}, false, fmt.Errorf("redis session: %w", err)
	}
	return sess, true, nil
}

// PutSession implements session.Store; a session already expired is
// deleted.
func (s *Sessions) PutSession(ctx context.Context, key string, sess session.Session, expires time.Time) error {
	ttl := time.Until(expires)
	if ttl <= 0 {
		return s.DeleteSession(ctx, key)
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := s.client.Set(ctx, s.prefix+"s:"+key, b, ttl).Err(); err != nil {
		return fmt.Errorf("redis put session: %w", err)
	}
	return nil
}

// DeleteSession implements session.Store.
func (s *Sessions) DeleteSession(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.prefix+"s:"+key).Err(); err != nil {
		return fmt.Errorf("redis delete session: %w", err)
	}
	return nil
}

// unlockScript deletes a lock only while it is still the caller's.
var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// lockScript takes the lock KEYS[1] with the token ARGV[1] for ARGV[2]
// milliseconds and returns 1, or 0 while another token holds it. Run
// again (the client sends it once more when the first answer was late),
// it finds its own token, starts the lock's time again (the caller counts
// it from now) and answers 1 again.
var lockScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// LockSession implements session.Store with SET NX PX; the lock expires
// after ttl should its holder die.
func (s *Sessions) LockSession(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token, k := hex.EncodeToString(b[:]), s.prefix+"lock:"+key
	// PX takes whole milliseconds, and refuses 0.
	ms := max(1, (ttl + time.Millisecond - 1).Milliseconds())
	held, err := lockScript.Run(ctx, s.client, []string{k}, token, ms).Int()
	if err != nil {
		return nil, false, fmt.Errorf("redis lock session: %w", err)
	}
	if held == 0 {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = unlockScript.Run(ctx, s.client, []string{k}, token).Err()
	}, true, nil
}

var _ session.Store = (*Sessions)(nil)
