package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/session"
)

// downStore is a session store that cannot be reached: every call fails
// as a refused connection does.
type downStore struct{}

var errRefused = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (downStore) GetSession(context.Context, string) (session.Session, bool, error) {
	return session.Session{}, false, errRefused
}

func (downStore) PutSession(context.Context, string, session.Session, time.Time) error {
	return errRefused
}

func (downStore) DeleteSession(context.Context, string) error { return errRefused }

func (downStore) LockSession(context.Context, string, time.Duration) (func(), bool, error) {
	return nil, false, errRefused
}

// TestStoreDownIsRetryable: a session store that cannot be reached fails
// a login, a request and a logout with a 503 that says when to retry.
func TestStoreDownIsRetryable(t *testing.T) {
	tokens := newRotating()
	m := session.New(downStore{}, tokens, session.DefaultConfig())
	ctx := context.Background()
	calls := map[string]func() error{
		"create": func() error {
			_, _, err := m.Create(ctx, "usr_ada", tokens.login(), time.Now().Add(15*time.Minute))
			return err
		},
		"resolve": func() error { _, err := m.Resolve(ctx, "a-session-id"); return err },
		"end":     func() error { return m.End(ctx, "a-session-id") },
	}
	for name, call := range calls {
		err := call()
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Code != problem.CodeUnavailable || pe.RetryAfter <= 0 || !errors.Is(err, errRefused) {
			t.Errorf("%s with the store down: %v, want %s with a Retry-After, wrapping the store's error", name, err, problem.CodeUnavailable)
		}
	}
}

// hangingStore is a session store that takes every call and never
// answers, as a Redis that hangs does: a call ends with its context.
type hangingStore struct{ downStore }

func (hangingStore) GetSession(ctx context.Context, _ string) (session.Session, bool, error) {
	<-ctx.Done()
	return session.Session{}, false, ctx.Err()
}

// TestAStoreThatHangsFailsALookupSoon: a request whose session store
// hangs is answered 503 with a Retry-After once the lookup's budget runs
// out, not held until its own deadline.
func TestAStoreThatHangsFailsALookupSoon(t *testing.T) {
	m := session.New(hangingStore{}, newRotating(), session.DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.Resolve(ctx, "a-session-id")
		done <- err
	}()
	select {
	case err := <-done:
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Code != problem.CodeUnavailable || pe.RetryAfter <= 0 {
			t.Errorf("a lookup on a store that hangs: %v, want %s with a Retry-After", err, problem.CodeUnavailable)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lookup on a store that hangs still waits after 10s, with a minute to its deadline")
	}
}
