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
		"resolve": func() error { _, err := m.Resolve(ctx, madeUpID); return err },
		"end":     func() error { return m.End(ctx, madeUpID) },
	}
	for name, call := range calls {
		err := call()
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Code != problem.CodeUnavailable || pe.RetryAfter <= 0 || !errors.Is(err, errRefused) {
			t.Errorf("%s with the store down: %v, want %s with a Retry-After, wrapping the store's error", name, err, problem.CodeUnavailable)
		}
	}
}

// madeUpID has the shape of the ids Manager.Create makes.
const madeUpID = "a-session-id-the-shape-of-one-Create-makes0"

// TestACookieOfAnotherShapeIsRefusedUnread: an id no Create could have
// made (another length, a character outside base64url) names no session,
// and is refused without asking the store: with the store down, a 401
// rather than a 503; and ending it is nothing to do.
func TestACookieOfAnotherShapeIsRefusedUnread(t *testing.T) {
	m := session.New(downStore{}, newRotating(), session.DefaultConfig())
	ctx := context.Background()
	for _, id := range []string{"", "a-session-id", madeUpID + "0", madeUpID[1:], madeUpID[1:] + "=", madeUpID[1:] + ".", "é" + madeUpID[2:]} {
		for name, call := range map[string]func() (session.Session, error){
			"resolve": func() (session.Session, error) { return m.Resolve(ctx, id) },
			"peek":    func() (session.Session, error) { return m.Peek(ctx, id) },
		} {
			if _, err := call(); problem.From(err).Code != problem.CodeUnauthenticated || errors.Is(err, errRefused) {
				t.Errorf("%s %q with the store down: %v, want %s without asking the store", name, id, err, problem.CodeUnauthenticated)
			}
		}
		if err := m.End(ctx, id); err != nil {
			t.Errorf("end %q with the store down: %v, want nothing to do", id, err)
		}
	}
	// The same store is asked for an id of the right shape.
	if _, err := m.Peek(ctx, madeUpID); !errors.Is(err, errRefused) {
		t.Errorf("peek of a well-formed id with the store down: %v, want the store's error", err)
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
		_, err := m.Resolve(ctx, madeUpID)
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
