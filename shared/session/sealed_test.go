package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/session"
)

// storeKey is the key a session id is stored under, as the stores see it.
func storeKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// TestStoredTokensAreSealed: what Redis and the state file hold of a
// session, through a login and a refresh, contains neither its access nor
// its refresh token, and the Manager still resolves it with both.
func TestStoredTokensAreSealed(t *testing.T) {
	client, prefix := redistest.Client(t), redistest.Prefix(t)
	path := filepath.Join(t.TempDir(), "state.db")
	bs, err := boltstore.Open(path, boltstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	stores := []struct {
		name  string
		store session.Store
		// raw returns every byte the store holds.
		raw func() []byte
	}{
		{"redis", redisstore.NewSessions(client, prefix), func() []byte {
			var all []byte
			keys, err := client.Keys(context.Background(), prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				v, _ := client.Get(context.Background(), k).Bytes()
				all = append(append(all, k...), v...)
			}
			return all
		}},
		{"state file", bs, func() []byte {
			// Every page of the file, the freed ones included.
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			tokens := newRotating()
			m, clock, id, login := loggedIn(t, st.store, tokens, tokens)
			ctx := context.Background()
			clock.Advance(nearExpiry)
			s, err := m.Resolve(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if s.RefreshToken == login.RefreshToken || s.RefreshToken == "" || s.AccessToken == "" || len(s.Sealed) != 0 {
				t.Fatalf("resolved after a refresh: access %q refresh %q sealed %d bytes, want the new tokens in the clear",
					s.AccessToken, s.RefreshToken, len(s.Sealed))
			}
			raw := st.raw()
			if !bytes.Contains(raw, []byte(storeKey(id))) {
				t.Fatal("the session is not where the test looks for it")
			}
			for _, tok := range []string{login.AccessToken, login.RefreshToken, s.AccessToken, s.RefreshToken} {
				// Quoted, as JSON holds it: a short token could turn up by
				// chance in the sealed bytes.
				if bytes.Contains(raw, []byte(`"`+tok+`"`)) {
					t.Errorf("the store holds token %q in the clear", tok)
				}
			}
		})
	}
}

// TestChangedSessionDoesNotOpen: a stored session whose user id was
// changed, or whose sealed tokens were, is no session (401); so is one
// moved under another cookie's key.
func TestChangedSessionDoesNotOpen(t *testing.T) {
	changes := map[string]func(k string, s *session.Session, store *memStore){
		"user id": func(_ string, s *session.Session, _ *memStore) { s.UserID = "usr_grace" },
		"sealed":  func(_ string, s *session.Session, _ *memStore) { s.Sealed[len(s.Sealed)-1] ^= 1 },
		"truncated": func(_ string, s *session.Session, _ *memStore) {
			s.Sealed = s.Sealed[:4]
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			tokens := newRotating()
			store := newMemStore()
			m := session.New(store, tokens, session.DefaultConfig())
			ctx := context.Background()
			id, _, err := m.Create(ctx, "usr_ada", tokens.login(), time.Now().Add(15*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Resolve(ctx, id); err != nil {
				t.Fatalf("before the change: %v", err)
			}
			k := storeKey(id)
			store.mu.Lock()
			s := store.m[k]
			change(k, &s, store)
			store.m[k] = s
			store.mu.Unlock()
			if s, err := m.Resolve(ctx, id); problem.From(err).Code != problem.CodeUnauthenticated {
				t.Errorf("after the change: user %q, error %v, want %s", s.UserID, err, problem.CodeUnauthenticated)
			}
		})
	}
	t.Run("moved", func(t *testing.T) {
		tokens := newRotating()
		store := newMemStore()
		m := session.New(store, tokens, session.DefaultConfig())
		ctx := context.Background()
		ada, _, _ := m.Create(ctx, "usr_ada", tokens.login(), time.Now().Add(15*time.Minute))
		mallory, _, _ := m.Create(ctx, "usr_mallory", tokens.login(), time.Now().Add(15*time.Minute))
		store.mu.Lock()
		s := store.m[storeKey(ada)]
		s.UserID = "usr_mallory"
		store.m[storeKey(mallory)] = s
		store.mu.Unlock()
		if s, err := m.Resolve(ctx, mallory); err == nil {
			t.Errorf("another session's sealed tokens opened under mallory's cookie: refresh token %q", s.RefreshToken)
		}
	})
}

// TestSessionStoredInTheClearIsSealedOnItsNextWrite: a session stored
// before tokens were sealed still resolves, and its next write seals it.
func TestSessionStoredInTheClearIsSealedOnItsNextWrite(t *testing.T) {
	clock := clocktest.New(time.Now())
	tokens := newRotating()
	store := newMemStore()
	m := session.New(store, tokens, session.DefaultConfig(), session.WithClock(clock.Now))
	ctx := context.Background()
	login := tokens.login()
	const id = "a-cookie-from-before-sealing-of-tokens-0000"
	now := clock.Now()
	store.m[storeKey(id)] = session.Session{UserID: "usr_ada", AccessToken: login.AccessToken, RefreshToken: login.RefreshToken,
		AccessExpires: now.Add(15 * time.Minute), AccessLifetime: 15 * time.Minute, CSRF: "c", Created: now, LastSeen: now}
	s, err := m.Resolve(ctx, id)
	if err != nil || s.RefreshToken != login.RefreshToken {
		t.Fatalf("the session stored in the clear: %v, refresh token %q", err, s.RefreshToken)
	}
	clock.Advance(nearExpiry)
	s, err = m.Resolve(ctx, id)
	if err != nil {
		t.Fatalf("its refresh: %v", err)
	}
	stored := store.m[storeKey(id)]
	if stored.RefreshToken != "" || stored.AccessToken != "" || len(stored.Sealed) == 0 {
		t.Errorf("after its refresh the store holds refresh token %q, access token %q, %d sealed bytes; want it sealed",
			stored.RefreshToken, stored.AccessToken, len(stored.Sealed))
	}
	if again, err := m.Resolve(ctx, id); err != nil || again.RefreshToken != s.RefreshToken {
		t.Errorf("resolved again: %v, refresh token %q, want %q", err, again.RefreshToken, s.RefreshToken)
	}
}
