package gateway

import (
	"context"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/redistest"
)

// TestRedisCallsEndByTheirDeadline pauses the Redis a client talks to, as a
// stalled node or a failover would, and checks that a call ends by its
// context's deadline rather than by go-redis's read timeouts (seconds,
// retried), for one node and for the master of Sentinels that ask for a
// password of their own.
func TestRedisCallsEndByTheirDeadline(t *testing.T) {
	const pw = "s3cret"
	rs := redistest.StartSentinel(t, pw)
	one, sentinels := DefaultConfig(), DefaultConfig()
	one.RedisURL = redistest.URL(t)
	sentinels.RedisAddrs, sentinels.RedisMasterName = rs.Addrs, rs.MasterName
	sentinels.RedisPassword, sentinels.RedisSentinelPassword = pw, pw
	for name, cfg := range map[string]Config{"one node": one, "sentinels": sentinels} {
		t.Run(name, func(t *testing.T) {
			client, _, err := cfg.redisClient()
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx := context.Background()
			if err := client.Ping(ctx).Err(); err != nil {
				t.Fatalf("ping: %v", err)
			}
			pause(t, client)
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = client.Get(cctx, "any").Err()
			// A bound on a hang, not a timing: without the deadline, the
			// call waits out a 3s read timeout, and retries it.
			if took := time.Since(start); err == nil || took > 2*time.Second {
				t.Errorf("a GET with a 200ms deadline on a paused Redis answered %v after %v", err, took.Round(10*time.Millisecond))
			}
		})
	}
}

// pause stops the process of the Redis client talks to until t ends.
func pause(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	info, err := client.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`process_id:(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no process_id in INFO: %q", info)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}
