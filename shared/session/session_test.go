package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/session"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/user"
)

// rotating issues tokens as the user service does: a refresh token is good
// once, a used one presented again revokes its whole login (its family),
// and a revocation does too. onRefresh, when set, runs inside Refresh once
// the token is used up, before the answer is returned.
type rotating struct {
	mu        sync.Mutex
	n         int
	used      map[string]bool
	family    map[string]int
	revoked   map[int]bool
	onRefresh func()
	// answered holds the answer to each refresh sent with a retry key, by
	// token and key: the same again gets it, as the user service's
	// Idempotency-Key promises.
	answered map[[2]string]user.Token
}

func newRotating() *rotating {
	return &rotating{used: map[string]bool{}, family: map[string]int{}, revoked: map[int]bool{},
		answered: map[[2]string]user.Token{}}
}

func (r *rotating) login() user.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	rt := fmt.Sprintf("rt%d", r.n)
	r.family[rt] = r.n
	return user.Token{AccessToken: "at" + rt, RefreshToken: rt, ExpiresIn: 900}
}

func (r *rotating) Refresh(_ context.Context, rt, retryKey string) (user.Token, error) {
	r.mu.Lock()
	if tok, ok := r.answered[[2]string{rt, retryKey}]; ok && retryKey != "" {
		r.mu.Unlock()
		return tok, nil
	}
	f, ok := r.family[rt]
	if !ok || r.revoked[f] || r.used[rt] {
		if ok {
			r.revoked[f] = true
		}
		r.mu.Unlock()
		return user.Token{}, &upstream.Error{Service: "user", Op: "refresh", Status: 401, Kind: upstream.KindUnauthorized}
	}
	r.used[rt] = true
	r.n++
	next := fmt.Sprintf("rt%d", r.n)
	r.family[next] = f
	tok := user.Token{AccessToken: "at" + next, RefreshToken: next, ExpiresIn: 900}
	if retryKey != "" {
		r.answered[[2]string{rt, retryKey}] = tok
	}
	hook := r.onRefresh
	r.onRefresh = nil
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	return tok, nil
}

func (r *rotating) Revoke(_ context.Context, rt string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.family[rt]; ok {
		r.revoked[f] = true
	}
	return nil
}

// memStore is a Store in memory; beforePut and beforeLock, when set, run
// once before the next PutSession or LockSession, and touched, when set,
// gets the name of each LockSession and DeleteSession called.
type memStore struct {
	mu         sync.Mutex
	m          map[string]session.Session
	locks      map[string]bool
	beforePut  func()
	beforeLock func()
	touched    chan string
}

// touch reports op on touched, if set.
func (s *memStore) touch(op string) {
	s.mu.Lock()
	c := s.touched
	s.mu.Unlock()
	if c != nil {
		c <- op
	}
}

func newMemStore() *memStore {
	return &memStore{m: map[string]session.Session{}, locks: map[string]bool{}}
}

func (s *memStore) GetSession(_ context.Context, k string) (session.Session, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok, nil
}

func (s *memStore) PutSession(_ context.Context, k string, v session.Session, _ time.Time) error {
	s.mu.Lock()
	hook := s.beforePut
	s.beforePut = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
	return nil
}

func (s *memStore) DeleteSession(_ context.Context, k string) error {
	s.touch("delete")
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *memStore) LockSession(_ context.Context, k string, _ time.Duration) (func(), bool, error) {
	s.mu.Lock()
	hook := s.beforeLock
	s.beforeLock = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.touch("lock")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[k] {
		return nil, false, nil
	}
	s.locks[k] = true
	return func() { s.mu.Lock(); delete(s.locks, k); s.mu.Unlock() }, true, nil
}

// nearExpiry is how long after login the access token (15 minutes) is due
// for its refresh.
const nearExpiry = 14*time.Minute + 45*time.Second

// loggedIn returns a Manager over store and users on a manual clock, and
// the session of a login tokens just issued, its access token good for 15
// minutes.
func loggedIn(t *testing.T, store session.Store, users session.Tokens, tokens *rotating) (*session.Manager, *clocktest.Manual, string, user.Token) {
	t.Helper()
	clock := clocktest.New(time.Now())
	m := session.New(store, users, session.DefaultConfig(), session.WithClock(clock.Now))
	login := tokens.login()
	id, _, err := m.Create(context.Background(), "usr_ada", login, clock.Now().Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return m, clock, id, login
}

// TestLogoutDuringARefreshEndsTheSession: a logout while a request
// refreshes the session's tokens ends the session, new tokens included:
// the refresh cannot store it back.
func TestLogoutDuringARefreshEndsTheSession(t *testing.T) {
	tokens, store := newRotating(), newMemStore()
	m, clock, id, _ := loggedIn(t, store, tokens, tokens)
	ctx := context.Background()
	clock.Advance(nearExpiry)
	refreshing, release := make(chan struct{}), make(chan struct{})
	tokens.onRefresh = func() { close(refreshing); <-release }
	resolved := make(chan error, 1)
	go func() { _, err := m.Resolve(ctx, id); resolved <- err }()
	<-refreshing
	// The logout goes as far as it can while the refresh is under way
	// (its first touch of the store), then the refresh ends.
	touched := make(chan string, 100)
	store.mu.Lock()
	store.touched = touched
	store.mu.Unlock()
	ended := make(chan error, 1)
	go func() { ended <- m.End(ctx, id) }()
	<-touched
	close(release)
	if err := <-resolved; err != nil {
		t.Fatalf("the request that refreshed: %v", err)
	}
	if err := <-ended; err != nil {
		t.Fatalf("End: %v", err)
	}
	if s, err := m.Resolve(ctx, id); err == nil {
		t.Errorf("the session's cookie works after logout: user %s, refresh token %s", s.UserID, s.RefreshToken)
	}
	if _, err := tokens.Refresh(ctx, "rt2", ""); err == nil {
		t.Error("the refresh token issued during the logout still works upstream")
	}
}

// TestRecordedUseKeepsNewTokens: a request that records a use while
// another refreshes the session does not put the used refresh token back.
func TestRecordedUseKeepsNewTokens(t *testing.T) {
	clock := clocktest.New(time.Now())
	tokens := newRotating()
	store := newMemStore()
	m := session.New(store, tokens, session.DefaultConfig(), session.WithClock(clock.Now))
	ctx := context.Background()
	id, _, _ := m.Create(ctx, "usr_ada", tokens.login(), clock.Now().Add(15*time.Minute))
	// Not yet due for a refresh, but due to record a use.
	clock.Advance(14*time.Minute + 29*time.Second)
	// Request A has read the session and is about to record its use when
	// the token falls due and request B refreshes it.
	store.beforeLock = func() {
		clock.Advance(2 * time.Second)
		if _, err := m.Resolve(ctx, id); err != nil {
			t.Fatalf("request B: %v", err)
		}
	}
	if _, err := m.Resolve(ctx, id); err != nil {
		t.Fatalf("request A: %v", err)
	}
	clock.Advance(15 * time.Minute)
	if _, err := m.Resolve(ctx, id); err != nil {
		t.Errorf("the session at its next refresh: %v, want it refreshed", err)
	}
}

// hookedStore runs beforeLock once before the next LockSession.
type hookedStore struct {
	session.Store
	beforeLock func()
}

func (h *hookedStore) LockSession(ctx context.Context, k string, ttl time.Duration) (func(), bool, error) {
	if f := h.beforeLock; f != nil {
		h.beforeLock = nil
		f()
	}
	return h.Store.LockSession(ctx, k, ttl)
}

// TestRefreshOnceAcrossReplicas: on one Redis, replica X finds the session
// due for a refresh, and replica Y refreshes it in full before X takes
// the lock. X reads the session again under the lock and uses Y's tokens,
// rather than spend the used refresh token, which would end the login.
func TestRefreshOnceAcrossReplicas(t *testing.T) {
	store := redisstore.NewSessions(redistest.Client(t), redistest.Prefix(t))
	tokens := newRotating()
	clock := clocktest.New(time.Now())
	x := &hookedStore{Store: store}
	replicaX := session.New(x, tokens, session.DefaultConfig(), session.WithClock(clock.Now))
	replicaY := session.New(store, tokens, session.DefaultConfig(), session.WithClock(clock.Now))
	ctx := context.Background()
	id, _, err := replicaY.Create(ctx, "usr_ada", tokens.login(), clock.Now().Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(nearExpiry)
	x.beforeLock = func() {
		if _, err := replicaY.Resolve(ctx, id); err != nil {
			t.Fatalf("replica Y: %v", err)
		}
	}
	if _, err := replicaX.Resolve(ctx, id); err != nil {
		t.Errorf("replica X: %v", err)
	}
	if _, err := replicaY.Resolve(ctx, id); err != nil {
		t.Errorf("the session afterwards: %v", err)
	}
}

// lostAnswer is a user service whose next refresh answer is lost: it
// rotates the token, and the caller gets a timeout.
type lostAnswer struct {
	*rotating
	lost *atomic.Int32
}

func (l lostAnswer) Refresh(ctx context.Context, rt, retryKey string) (user.Token, error) {
	tok, err := l.rotating.Refresh(ctx, rt, retryKey)
	if err != nil || l.lost.Add(-1) < 0 {
		return tok, err
	}
	return user.Token{}, &upstream.Error{Service: "user", Op: "refresh", Kind: upstream.KindTimeout, Err: context.DeadlineExceeded}
}

// failingPut is a Store whose second write (the first after a login's)
// fails.
type failingPut struct {
	session.Store
	puts *atomic.Int32
}

func (f failingPut) PutSession(ctx context.Context, k string, s session.Session, expires time.Time) error {
	if f.puts.Add(1) == 2 {
		return errors.New("store unreachable")
	}
	return f.Store.PutSession(ctx, k, s, expires)
}

// TestALostRefreshIsSentAgain: a refresh whose answer is lost, or whose
// new tokens could not be stored, is sent again by the next request with
// the same key, and gets the same tokens rather than the revocation a
// reused refresh token earns. Meanwhile a token still good serves the
// requests; once it expired, the request gets a 503 to retry.
func TestALostRefreshIsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(tokens *rotating) (session.Store, session.Tokens)
	}{
		{"answer lost", func(tokens *rotating) (session.Store, session.Tokens) {
			lost := new(atomic.Int32)
			lost.Store(1)
			return newMemStore(), lostAnswer{tokens, lost}
		}},
		{"tokens not stored", func(tokens *rotating) (session.Store, session.Tokens) {
			return failingPut{newMemStore(), new(atomic.Int32)}, tokens
		}},
	} {
		for _, expired := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, token expired %v", tc.name, expired), func(t *testing.T) {
				tokens := newRotating()
				store, users := tc.setup(tokens)
				m, clock, id, login := loggedIn(t, store, users, tokens)
				ctx := context.Background()
				clock.Advance(nearExpiry)
				if expired {
					clock.Advance(time.Minute)
				}
				s, err := m.Resolve(ctx, id)
				var pe *problem.Error
				switch {
				case expired && (!errors.As(err, &pe) || pe.Code != problem.CodeUnavailable || pe.RetryAfter <= 0):
					t.Fatalf("the failed refresh of an expired token: %v, want %s with a Retry-After", err, problem.CodeUnavailable)
				case !expired && (err != nil || s.AccessToken != login.AccessToken):
					t.Fatalf("the failed refresh of a token still good: %v, token %q, want the current one", err, s.AccessToken)
				}
				s, err = m.Resolve(ctx, id)
				if err != nil || s.AccessToken == login.AccessToken {
					t.Fatalf("the next request: %v, token %q, want a refreshed session", err, s.AccessToken)
				}
				// The family was not revoked: the next refresh works too.
				clock.Advance(nearExpiry + time.Minute)
				if _, err := m.Resolve(ctx, id); err != nil {
					t.Errorf("the refresh after: %v", err)
				}
			})
		}
	}
}

// TestEndOfNoSessionWritesNothing: ending a session id that names no
// session (a made-up cookie) deletes nothing: on the state file a delete
// is a commit, which a flood of made-up cookies would otherwise cost.
func TestEndOfNoSessionWritesNothing(t *testing.T) {
	store := newMemStore()
	touched := make(chan string, 10)
	store.touched = touched
	m := session.New(store, newRotating(), session.DefaultConfig())
	if err := m.End(context.Background(), "made-up"); err != nil {
		t.Fatalf("End: %v", err)
	}
	close(touched)
	for op := range touched {
		if op == "delete" {
			t.Error("End of a made-up session id deleted from the store")
		}
	}
}

// spentFirst is a user service whose first refresh answers a pair whose
// access token is spent already: the first answer of a refresh sent again
// long after (bff-web times such a token by its age).
type spentFirst struct {
	*rotating
	spent *atomic.Bool
}

func (s spentFirst) Refresh(ctx context.Context, rt, retryKey string) (user.Token, error) {
	tok, err := s.rotating.Refresh(ctx, rt, retryKey)
	if err == nil && s.spent.CompareAndSwap(false, true) {
		tok.ExpiresIn = 0
	}
	return tok, err
}

// TestASpentPairIsRefreshedAgain: a refresh that brings an access token
// already spent refreshes once more, with the refresh token it brought,
// rather than serve the request, and every one after it, a spent token.
func TestASpentPairIsRefreshedAgain(t *testing.T) {
	tokens := newRotating()
	m, clock, id, login := loggedIn(t, newMemStore(), spentFirst{tokens, new(atomic.Bool)}, tokens)
	clock.Advance(nearExpiry + time.Minute)
	s, err := m.Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.AccessToken == login.AccessToken || !clock.Now().Before(s.AccessExpires) {
		t.Errorf("the session after the refresh: token %q until %v (now %v), want a token still good", s.AccessToken, s.AccessExpires, clock.Now())
	}
	if tokens.n != 3 {
		t.Errorf("%d pairs issued, want 3: the login's and two refreshes", tokens.n)
	}
}

// forbidding is a user service that answers every refresh with a 403 while
// forbid is set: a proxy before it refusing the call, not the token.
type forbidding struct {
	*rotating
	forbid *atomic.Bool
}

func (f forbidding) Refresh(ctx context.Context, rt, retryKey string) (user.Token, error) {
	if f.forbid.Load() {
		return user.Token{}, &upstream.Error{Service: "user", Op: "refresh", Status: 403, Kind: upstream.KindUnauthorized}
	}
	return f.rotating.Refresh(ctx, rt, retryKey)
}

// TestAForbiddenRefreshKeepsTheSession: a 403 to a refresh says nothing of
// the refresh token, so the session is not ended: the request is a 503 to
// retry, and once the user service answers again the session refreshes.
// Only its 401 logs the user out.
func TestAForbiddenRefreshKeepsTheSession(t *testing.T) {
	tokens := newRotating()
	forbid := new(atomic.Bool)
	forbid.Store(true)
	m, clock, id, login := loggedIn(t, newMemStore(), forbidding{tokens, forbid}, tokens)
	clock.Advance(nearExpiry + time.Minute)
	_, err := m.Resolve(context.Background(), id)
	if p := problem.From(err); p.Code != problem.CodeUnavailable {
		t.Fatalf("a refresh answered 403: got %v, want the 503 %s", err, problem.CodeUnavailable)
	}
	forbid.Store(false)
	s, err := m.Resolve(context.Background(), id)
	if err != nil {
		t.Fatalf("once the user service answers again: %v, want the session refreshed", err)
	}
	if s.AccessToken == login.AccessToken {
		t.Errorf("got the login's access token %q, want a refreshed one", s.AccessToken)
	}
}
