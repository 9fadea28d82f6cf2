package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// sharedState reports whether checkouts and rate limits are kept in Redis,
// shared by every replica, rather than in the state file and memory.
func (c Config) sharedState() bool { return c.RedisURL != "" || len(c.RedisAddrs) > 0 }

// redisClient returns the client of the Redis the settings name, and how
// to name it in a log line (no password): one node (RedisURL), the master
// that Sentinels watch (RedisAddrs with RedisMasterName, followed across
// failovers), or a Cluster (RedisAddrs). Every call ends by its context's
// deadline: go-redis otherwise waits out its own read timeout, and retries
// it, on a Redis that stopped answering (a paused node, a failover).
func (c Config) redisClient() (redis.UniversalClient, string, error) {
	if c.RedisURL != "" {
		opts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			// go-redis's message may quote the URL, password and all.
			return nil, "", errors.New("gateway: RedisURL is not a Redis URL")
		}
		opts.ContextTimeoutEnabled = true
		return redis.NewClient(opts), "redis " + opts.Addr, nil
	}
	opts := &redis.UniversalOptions{Addrs: c.RedisAddrs, MasterName: c.RedisMasterName,
		Password: c.RedisPassword, SentinelPassword: c.RedisSentinelPassword, ContextTimeoutEnabled: true}
	what := "redis cluster " + strings.Join(c.RedisAddrs, ",")
	if c.RedisMasterName != "" {
		what = "redis master " + c.RedisMasterName + " of sentinels " + strings.Join(c.RedisAddrs, ",")
		return redis.NewFailoverClient(opts.Failover()), what, nil
	}
	return redis.NewClusterClient(opts.Cluster()), what, nil
}

// redisLog passes go-redis's own log lines (a failed Sentinel lookup, a
// pool that cannot dial, a new master) through the BFF's logger, as JSON
// with the request's ids when the call had them, at warn: go-redis logs
// only what went wrong or changed. Its default writes plain text to
// stderr, which a log pipeline reading JSON lines would mangle or drop.
type redisLog struct{ logger *slog.Logger }

// Printf is go-redis's logging interface.
func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l.logger.WarnContext(ctx, "redis client", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// warnOfEviction logs, once, a Redis server that evicts keys when full:
// with an allkeys policy the record of a running checkout may go, which
// recovery then never finds; with a volatile one, the keys that have a
// TTL (finished checkouts, sessions, rate-limit buckets) go early. The
// journal needs noeviction (see redisstore.Journal). It is a best effort:
// a server that refuses CONFIG (many managed ones) or does not answer in
// time is left unchecked.
func warnOfEviction(ctx context.Context, client redis.UniversalClient, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := client.ConfigGet(ctx, "maxmemory*").Result()
	if err != nil {
		logger.Debug("redis eviction policy not checked", "err", err)
		return
	}
	if got["maxmemory"] == "0" {
		return // no limit: nothing is evicted, whatever the policy
	}
	switch policy := got["maxmemory-policy"]; {
	case strings.HasPrefix(policy, "allkeys-"):
		logger.Error("redis evicts any key when full: a running checkout's record may be lost; set maxmemory-policy noeviction",
			"maxmemory_policy", policy)
	case strings.HasPrefix(policy, "volatile-"):
		logger.Warn("redis evicts keys with a TTL when full (finished checkouts, sessions, rate-limit buckets); noeviction refuses new checkouts instead",
			"maxmemory_policy", policy)
	}
}
