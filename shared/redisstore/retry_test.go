package redisstore_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/orderflow/journaltest"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
)

// lateConn holds the next reply back past the client's read timeout once
// armed: Redis has run the command, the client gives up on the answer and
// sends the command again.
type lateConn struct {
	net.Conn
	armed *atomic.Bool
}

func (c lateConn) Read(p []byte) (int, error) {
	if c.armed.CompareAndSwap(true, false) {
		time.Sleep(300 * time.Millisecond)
	}
	return c.Conn.Read(p)
}

// lateClient is a client of the test Redis whose next reply, once armed
// is set, comes too late.
func lateClient(t *testing.T, armed *atomic.Bool) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.ReadTimeout = 100 * time.Millisecond
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return lateConn{c, armed}, nil
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestWritesSentAgainAnswerAsTheFirstTime: a journal write or a session
// lock whose answer came too late, and which the client therefore sent
// again, finds what it wrote and reports success, not another's record.
func TestWritesSentAgainAnswerAsTheFirstTime(t *testing.T) {
	ctx := context.Background()
	var armed atomic.Bool
	client := lateClient(t, &armed)
	j := redisstore.NewJournal(client, redistest.Prefix(t))
	// Loaded once, so that each write below is one EVALSHA.
	warm := journaltest.Record("warm", time.Now().Add(time.Minute))
	if _, _, err := j.Create(ctx, warm); err != nil {
		t.Fatal(err)
	}
	warm.Version++
	if err := j.Update(ctx, warm); err != nil {
		t.Fatal(err)
	}

	rec := journaltest.Record("s1", time.Now().Add(time.Minute))
	armed.Store(true)
	if _, created, err := j.Create(ctx, rec); err != nil || !created {
		t.Errorf("Create sent again: created %v, %v; want its own record created", created, err)
	}
	next := rec
	next.Version, next.Step = 2, orderflow.StepCaptured
	armed.Store(true)
	if err := j.Update(ctx, next); err != nil {
		t.Errorf("Update sent again: %v, want nil", err)
	}
	if got, _, err := j.Get(ctx, "s1"); err != nil || got.Version != 2 {
		t.Errorf("stored: version %d, %v; want 2", got.Version, err)
	}

	sessions := redisstore.NewSessions(client, redistest.Prefix(t))
	if unlock, ok, err := sessions.LockSession(ctx, "warm", time.Second); err != nil || !ok {
		t.Fatalf("LockSession: %v, %v", ok, err)
	} else {
		unlock()
	}
	armed.Store(true)
	unlock, ok, err := sessions.LockSession(ctx, "k", time.Second)
	if err != nil || !ok {
		t.Fatalf("LockSession sent again: held %v, %v; want it held by this caller", ok, err)
	}
	unlock()
	if _, ok, err := sessions.LockSession(ctx, "k", time.Second); err != nil || !ok {
		t.Errorf("LockSession after unlock: %v, %v; want it free", ok, err)
	}
}
