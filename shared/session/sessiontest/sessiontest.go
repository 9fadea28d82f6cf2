// Package sessiontest is the contract every session.Store must keep, run
// against each store by its own tests.
package sessiontest

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/session"
)

// Run runs the contract's tests, each on a store open returns.
func Run(t *testing.T, open func(t *testing.T) session.Store) {
	t.Run("PutGetDelete", func(t *testing.T) { testPutGetDelete(t, open(t)) })
	t.Run("LockExcludes", func(t *testing.T) { testLockExcludes(t, open(t)) })
	t.Run("LockLapsesAfterTTL", func(t *testing.T) { testLockLapses(t, open(t)) })
	t.Run("StaleUnlockKeepsAnothersLock", func(t *testing.T) { testStaleUnlock(t, open(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, open(t)) })
}

func testPutGetDelete(t *testing.T, s session.Store) {
	ctx := context.Background()
	want := session.Session{UserID: "usr_ada"}
	if err := s.PutSession(ctx, "k", want, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.GetSession(ctx, "k"); err != nil || !ok || got.UserID != want.UserID {
		t.Fatalf("GetSession = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if err := s.PutSession(ctx, "gone", want, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetSession(ctx, "gone"); ok || err != nil {
		t.Errorf("GetSession of an expired session = %v, %v; want none", ok, err)
	}
	if err := s.DeleteSession(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.GetSession(ctx, "k"); ok || err != nil {
		t.Errorf("GetSession after DeleteSession = %v, %v; want none", ok, err)
	}
}

func testLockExcludes(t *testing.T, s session.Store) {
	ctx := context.Background()
	unlock, ok, err := s.LockSession(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("LockSession = %v, %v", ok, err)
	}
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); ok || err != nil {
		t.Errorf("a second LockSession while held = %v, %v; want refused", ok, err)
	}
	unlock()
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); !ok || err != nil {
		t.Errorf("LockSession after unlock = %v, %v; want taken", ok, err)
	}
}

func testLockLapses(t *testing.T, s session.Store) {
	ctx := context.Background()
	// A sub-millisecond ttl is a lock too, however short.
	if _, ok, err := s.LockSession(ctx, "k", 500*time.Microsecond); !ok || err != nil {
		t.Fatalf("LockSession for 500µs = %v, %v; want taken", ok, err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); !ok || err != nil {
		t.Errorf("LockSession once the first lapsed = %v, %v; want taken", ok, err)
	}
}

func testStaleUnlock(t *testing.T, s session.Store) {
	ctx := context.Background()
	first, ok, err := s.LockSession(ctx, "k", 10*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("LockSession = %v, %v", ok, err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("LockSession once the first lapsed = %v, %v", ok, err)
	}
	first() // late: the lock is another's now
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); ok || err != nil {
		t.Errorf("LockSession after a lapsed holder's unlock = %v, %v; want the second holder's lock kept", ok, err)
	}
}

func testCanceled(t *testing.T, s session.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok, err := s.LockSession(ctx, "k", time.Minute); ok || err == nil {
		t.Errorf("LockSession with a cancelled context = %v, %v; want an error", ok, err)
	}
}
