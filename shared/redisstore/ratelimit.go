package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/ratelimit"
)

// RateLimit is a ratelimit.Store in Redis: the token buckets of
// ratelimit.Memory, with the same Decisions, kept in one hash per policy and
// caller and updated by a script, so that every replica spends from the same
// bucket. It is safe for concurrent use.
type RateLimit struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

// Interface guard.
var _ ratelimit.Store = (*RateLimit)(nil)

// RateLimitOption changes one default of a RateLimit.
type RateLimitOption func(*RateLimit)

// WithClock makes the buckets refill by now instead of by the Redis
// server's clock. Default: the server's clock, the one clock all replicas
// share, so that their skew cannot refill a bucket early or late.
func WithClock(now func() time.Time) RateLimitOption {
	return func(r *RateLimit) { r.now = now }
}

// NewRateLimit returns a Store keeping each bucket under prefix ("sf:rl:" in
// the BFFs) followed by its policy and caller.
func NewRateLimit(client redis.UniversalClient, prefix string, opts ...RateLimitOption) *RateLimit {
	r := &RateLimit{client: client, prefix: prefix}
	for _, o := range opts {
		o(r)
	}
	return r
}

// takeScript is the token bucket of ratelimit.Memory (x/time/rate): at most
// quota tokens, refilled at quota per window, one spent per allowed request,
// nothing spent by a refused one. Times are in microseconds, which a Lua
// number (a double) holds exactly; numbers written to the hash are
// formatted explicitly because Redis would write them with 14 significant
// digits. A bucket idle for a window is full again, the same as no bucket,
// so the key expires then.
//
// KEYS[1] is the bucket; ARGV is quota, window (µs), and now (µs) or "" for
// the server's clock. It returns allowed (0 or 1), the whole tokens left,
// the time until the bucket is full and, when refused, until one token is
// there (µs, rounded up).
var takeScript = redis.NewScript(`
local quota = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tokens = quota
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if b[1] and b[2] then
  local at = tonumber(b[2])
  tokens = tonumber(b[1])
  if now > at then
    tokens = math.min(quota, tokens + (now - at) * quota / window)
  else
    -- Another replica's clock ran ahead: refill from its time, not twice.
    now = at
  end
end
if tokens >= 1 then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, math.floor(tokens), math.ceil((quota - tokens) * window / quota), 0}
end
return {0, 0, math.ceil((quota - tokens) * window / quota), math.ceil((1 - tokens) * window / quota)}
`)

// Take implements ratelimit.Store. A policy that limits nothing always
// allows, without a round trip.
func (r *RateLimit) Take(ctx context.Context, p ratelimit.Policy, key string) (ratelimit.Decision, error) {
	if err := p.Validate(); err != nil {
		return ratelimit.Decision{}, fmt.Errorf("%w: %w", ratelimit.ErrPolicy, err)
	}
	if !p.Enabled() {
		return ratelimit.Decision{Allowed: true}, nil
	}
	now := ""
	if r.now != nil {
		now = strconv.FormatInt(r.now().UnixMicro(), 10)
	}
	// The policy's field names its bucket: its name cannot hold a quote, so
	// no policy and caller can spell another's key, and a changed quota or
	// window starts afresh, as in Memory.
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + p.Field() + ":" + key},
		p.Quota, p.Window.Microseconds(), now).Int64Slice()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if len(res) != 4 {
		return ratelimit.Decision{}, fmt.Errorf("redis rate limit: got %d values, want 4", len(res))
	}
	return ratelimit.Decision{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		Reset:      time.Duration(res[2]) * time.Microsecond,
		RetryAfter: time.Duration(res[3]) * time.Microsecond,
	}, nil
}
