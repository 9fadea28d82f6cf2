package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

// pause stops the process of the Redis client talks to until t ends, or
// until the returned resume is called.
func pause(t *testing.T, client redis.UniversalClient) (resume func()) {
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
	resume = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(resume)
	return resume
}

// TestCursorKeySharedOnceRedisAnswers: a replica that started while Redis
// did not answer seals cursors with a key of its own, and with the shared
// one once Redis answers again, so that its cursors hold on every replica;
// those it handed out before still open on it.
func TestCursorKeySharedOnceRedisAnswers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RedisURL = redistest.URL(t)
	peer, err := New("bff-test", cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	resume := pause(t, peer.redis)
	g, err := New("bff-test", cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const listing = "products:"
	early, _ := g.Cursors.SealNext(listing, "page-2")
	if _, err := peer.Cursors.Open(listing, early); err == nil {
		t.Fatal("a replica started without Redis sealed a cursor its peer opens: the key was shared after all")
	}

	resume()
	ctx, cancel := context.WithCancel(context.Background())
	shared := make(chan struct{})
	go func() { defer close(shared); g.shareCursorKey(ctx) }()
	defer func() { cancel(); <-shared }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, _ := g.Cursors.SealNext(listing, "page-2")
		if _, err := peer.Cursors.Open(listing, c); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("10s after Redis answered again, the replica still seals cursors its peer cannot open")
		}
	}
	if next, err := g.Cursors.Open(listing, early); err != nil || next != "page-2" {
		t.Errorf("a cursor sealed before the key was shared opens to %q, %v; want page-2", next, err)
	}
}

// TestRedisLogsAreJSON: what go-redis logs itself goes through the BFF's
// logger, as a JSON line, not as plain text on stderr.
func TestRedisLogsAreJSON(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RedisURL = "redis://" + freeAddr(t) // no Redis needed: the line is the client's own
	var logs lockedBuffer
	g, err := New("bff-test", cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// The process's one go-redis logger outlives this gateway.
	defer redis.SetLogger(redisLog{slog.New(slog.DiscardHandler)})
	// go-redis logs that it rounds an expiry under a millisecond up.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = g.redis.Set(ctx, "k", "v", time.Microsecond).Err()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var e struct{ Level, Msg, Detail, App string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if e.Msg == "redis client" && strings.Contains(e.Detail, "truncating to 1ms") {
			if e.Level != "WARN" || e.App != "bff-test" {
				t.Errorf("go-redis's line logged as %s", line)
			}
			return
		}
	}
	t.Errorf("go-redis's line is not in the BFF's log:\n%s", logs.String())
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is a log destination written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCursorKeyInRedisThatIsNoKey: a cursor key in Redis that does not
// decode is reported as such, not as Redis not answering, and not asked
// for again.
func TestCursorKeyInRedisThatIsNoKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RedisURL = redistest.URL(t)
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Set(context.Background(), cfg.RedisKeyPrefix+"cursor-key:bff-test", "not a key", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	g, err := New("bff-test", cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if out := logs.String(); !strings.Contains(out, "the one in redis is not a key") || strings.Contains(out, "redis did not answer") {
		t.Errorf("log:\n%s\nwant the key reported as no key, not Redis as not answering", out)
	}
	if g.unsharedCursorKey != "" {
		t.Errorf("the replica will ask Redis again for %s, which holds no key", g.unsharedCursorKey)
	}
}

// TestWarnOfEviction: a Redis that evicts keys when full is logged, at
// error when any key may go, and one that evicts none (its policy, or no
// memory limit) is not.
func TestWarnOfEviction(t *testing.T) {
	if os.Getenv("REDIS_TEST_URL") != "" {
		t.Skip("sets the policy of a Redis of its own only, not REDIS_TEST_URL's")
	}
	client := redistest.Client(t)
	ctx := context.Background()
	defer client.ConfigSet(ctx, "maxmemory-policy", "noeviction")
	defer client.ConfigSet(ctx, "maxmemory", "0")
	for policy, want := range map[string]string{"allkeys-lru": "ERROR", "volatile-ttl": "WARN", "noeviction": "", "allkeys-lfu 0": ""} {
		policy, limit, unbounded := strings.Cut(policy, " ")
		if !unbounded {
			limit = "1gb"
		}
		if err := client.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.ConfigSet(ctx, "maxmemory", limit).Err(); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		warnOfEviction(ctx, client, slog.New(slog.NewJSONHandler(&out, nil)))
		var line struct {
			Level  string `json:"level"`
			Policy string `json:"maxmemory_policy"`
		}
		if out.Len() > 0 {
			if err := json.Unmarshal([]byte(out.String()), &line); err != nil {
				t.Fatal(err)
			}
		}
		if line.Level != want || want != "" && line.Policy != policy {
			t.Errorf("policy %s: logged %q, want a line at %q naming it", policy, out.String(), want)
		}
	}
}
