// Package session keeps browser sessions on the server, the way a
// backend-for-frontend should: the browser holds an opaque random id in an
// HttpOnly cookie, and the user's access and refresh tokens never leave
// the BFF. A Manager creates sessions at login, resolves a cookie to its
// user on every request, refreshing the access token before it expires
// (once per session, however many requests arrive at once), and ends them
// at logout, revoking the refresh token upstream. Sessions live in a Store
// that outlives the process: the state file (boltstore) or Redis
// (redisstore). The tokens of a stored session are sealed (AES-256-GCM)
// under a key derived from the session id, which only the cookie holds, so
// that a copy of the store yields neither a usable cookie nor a usable
// token.
package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"golang.org/x/sync/singleflight"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/user"
)

// Session is one signed-in browser's state, as stored.
type Session struct {
	UserID       string `json:"user_id"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// AccessExpires is when AccessToken expires; AccessLifetime how long
	// it was issued for, which sets how early it is refreshed.
	AccessExpires  time.Time     `json:"access_expires"`
	AccessLifetime time.Duration `json:"access_lifetime"`
	// CSRF is the token cookie-authenticated writes echo.
	CSRF string `json:"csrf"`
	// Created and LastSeen bound the session: MaxAge after Created, and
	// IdleTimeout after LastSeen.
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Sealed is AccessToken and RefreshToken as stored: encrypted under a
	// key only the session id yields, bound to UserID. Both tokens are
	// empty in a stored session that has it, and it is empty in every
	// session a Manager returns.
	Sealed []byte `json:"sealed,omitempty"`
}

// Store keeps sessions under a key (the hash of the session id, so that
// what is stored cannot be replayed as a cookie) until their expiry.
// Implementations must be safe for concurrent use.
type Store interface {
	// GetSession returns the session under key; ok is false when there is
	// none or it expired.
	GetSession(ctx context.Context, key string) (s Session, ok bool, err error)
	// PutSession stores s under key until expires.
	PutSession(ctx context.Context, key string, s Session, expires time.Time) error
	// DeleteSession removes the session under key, if any.
	DeleteSession(ctx context.Context, key string) error
	// LockSession takes a lock on key for at most ttl, so that one
	// replica at a time changes a stored session (a refresh token is good
	// once, and no change may undo another); ok is false while another
	// holds it. unlock releases it.
	LockSession(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Tokens is what the user service issues and refreshes.
type Tokens interface {
	// Refresh exchanges refreshToken; the same token and retryKey again
	// get the first answer (see user.Client.Refresh).
	Refresh(ctx context.Context, refreshToken, retryKey string) (user.Token, error)
	Revoke(ctx context.Context, refreshToken string) error
}

// Config is the lifetime of sessions; DefaultConfig states the defaults.
type Config struct {
	// IdleTimeout ends a session not used for that long. Default 30m.
	IdleTimeout time.Duration
	// MaxAge ends a session that long after its login, however much it is
	// used. Default 12h.
	MaxAge time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour} }

// Validate reports settings a Manager cannot work with.
func (c Config) Validate() error {
	if c.IdleTimeout <= 0 || c.MaxAge <= 0 {
		return fmt.Errorf("session: IdleTimeout %v and MaxAge %v must be positive", c.IdleTimeout, c.MaxAge)
	}
	if c.MaxAge < MinMaxAge {
		return fmt.Errorf("session: MaxAge %v must be at least %v", c.MaxAge, MinMaxAge)
	}
	return nil
}

// MinMaxAge is the shortest MaxAge: below a minute a session ends while
// its user is still signing in, and a value such as 1ns is a typo of a
// unit, not a choice.
const MinMaxAge = time.Minute

const (
	// idBytes is the entropy of a session id: 256 bits.
	idBytes = 32
	// maxRefreshMargin is the most before its expiry an access token is
	// refreshed; a short-lived one is refreshed in its last quarter.
	maxRefreshMargin = 30 * time.Second
	// lockTTL bounds a session's lock; the work done under it ends
	// lockMargin before, so that the lock cannot lapse while its holder
	// writes. waitForPeer is how long a request waits for another holder
	// (a refresh under way, here or on another replica) before giving up.
	lockTTL     = 5 * time.Second
	lockMargin  = 500 * time.Millisecond
	waitForPeer = 3 * time.Second
)

// Manager creates, resolves and ends sessions.
type Manager struct {
	store  Store
	tokens Tokens
	cfg    Config
	now    func() time.Time
	flight singleflight.Group
}

// Option gives a Manager a collaborator.
type Option func(*Manager)

// WithClock makes the Manager read the time from now, so that tests move
// sessions and tokens through their lifetimes without sleeping. Default
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now = now }
}

// New returns a Manager of the sessions in store.
func New(store Store, tokens Tokens, cfg Config, opts ...Option) *Manager {
	m := &Manager{store: store, tokens: tokens, cfg: cfg, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

// noSession is the 401 problem of a cookie that names no live session.
func noSession() error {
	return problem.New(problem.CodeUnauthenticated, "The session has ended; log in again.")
}

// Create starts a session for userID with tok, the tokens of its login
// (tok's access token expiring at accessExpires), and returns its id, the
// cookie's value, and the session.
func (m *Manager) Create(ctx context.Context, userID string, tok user.Token, accessExpires time.Time) (string, Session, error) {
	var b [idBytes]byte
	_, _ = rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	var csrf [24]byte
	_, _ = rand.Read(csrf[:])
	now := m.now()
	s := Session{UserID: userID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		AccessExpires: accessExpires, AccessLifetime: time.Duration(tok.ExpiresIn) * time.Second,
		CSRF: base64.RawURLEncoding.EncodeToString(csrf[:]), Created: now, LastSeen: now}
	if err := m.put(ctx, handleOf(id), s); err != nil {
		return "", Session{}, err
	}
	return id, s, nil
}

// Expires is when s ends unless used again: its idle timeout from its last
// use, or its maximum age, whichever is sooner.
func (m *Manager) Expires(s Session) time.Time {
	idle, maxAge := s.LastSeen.Add(m.cfg.IdleTimeout), s.Created.Add(m.cfg.MaxAge)
	if idle.Before(maxAge) {
		return idle
	}
	return maxAge
}

// Resolve returns the live session of id, its access token refreshed when
// it is near its expiry, and records the use. A cookie naming no live
// session is a 401 problem.
func (m *Manager) Resolve(ctx context.Context, id string) (Session, error) {
	if !wellFormed(id) {
		return Session{}, noSession()
	}
	h := handleOf(id)
	now := m.now()
	s, err := m.live(ctx, h, now)
	if err != nil {
		return Session{}, err
	}
	if m.stale(s, now) {
		renewed, err := m.refresh(ctx, h)
		// A token still good serves the request whatever kept it from
		// being renewed, the session's end aside: the next request, or
		// the browser's retry, tries again (the same refresh, see renew).
		if err != nil && problem.From(err).Code != problem.CodeUnauthenticated && now.Before(s.AccessExpires) {
			return s, nil
		}
		return renewed, err
	}
	// A use is recorded at most every tenth of the idle timeout: a write
	// per request would cost more than the sliding window is worth.
	if now.Sub(s.LastSeen) > m.cfg.IdleTimeout/10 {
		m.recordUse(ctx, h, now)
	}
	return s, nil
}

// Peek returns the live session of id as stored, for a request that can
// do without it (a public read): unlike Resolve, it neither refreshes its
// tokens, which may so have expired, nor records the use, so it waits on
// the store alone. A cookie naming no live session is a 401 problem.
func (m *Manager) Peek(ctx context.Context, id string) (Session, error) {
	if !wellFormed(id) {
		return Session{}, noSession()
	}
	return m.live(ctx, handleOf(id), m.now())
}

// live returns the session under h if it is live at now.
func (m *Manager) live(ctx context.Context, h handle, now time.Time) (Session, error) {
	s, ok, err := m.get(ctx, h)
	if err != nil {
		return Session{}, err
	}
	if !ok || !now.Before(m.Expires(s)) {
		return Session{}, noSession()
	}
	return s, nil
}

// recordUse sets the last use of the session under k to now, under its
// lock and on the session as stored then, so that it cannot put back the
// tokens a refresh has just replaced or a session a logout has just ended.
// While another holds the lock (a refresh, which records the use itself)
// it does nothing. It is best effort: a use not recorded only leaves the
// idle timeout counting from the last one, and must not fail a request
// whose session is valid.
func (m *Manager) recordUse(ctx context.Context, h handle, now time.Time) {
	_ = m.underLock(ctx, h, 0, func(ctx context.Context, s Session, ok bool) error {
		if !ok || !now.After(s.LastSeen) {
			return nil
		}
		s.LastSeen = now
		return m.put(ctx, h, s)
	})
}

// stale reports whether s's access token is to be refreshed now.
func (m *Manager) stale(s Session, now time.Time) bool {
	margin := min(maxRefreshMargin, s.AccessLifetime/4)
	return !now.Before(s.AccessExpires.Add(-margin))
}

// refresh refreshes the tokens of the session of h once in this
// process, and under the session's lock across replicas: a request that
// finds the lock taken waits for the other's new tokens.
func (m *Manager) refresh(ctx context.Context, h handle) (Session, error) {
	v, err, _ := m.flight.Do(h.key, func() (any, error) {
		// Detached: a caller that gives up must not cancel the refresh the
		// others wait for, nor leave a used refresh token unrecorded.
		var renewed Session
		err := m.underLock(context.WithoutCancel(ctx), h, waitForPeer, func(ctx context.Context, s Session, ok bool) (err error) {
			switch {
			case !ok:
				return noSession()
			case !m.stale(s, m.now()):
				renewed = s // refreshed meanwhile, here or on a peer
				return nil
			}
			renewed, err = m.renew(ctx, h, s)
			return err
		})
		return renewed, err
	})
	if err != nil {
		return Session{}, err
	}
	return v.(Session), nil
}

// underLock runs fn on the session of h as stored once this replica
// holds the session's lock (ok false when there is none, or it does not
// open), waiting up to
// wait (real time, as the pauses between tries are) for another holder,
// else failing with a 503 problem. Every change of a
// stored session goes through it but its creation: a refresh token is
// good once, and no write may undo another's (a refresh's tokens, a
// logout's deletion). fn's context ends before the lock may lapse.
func (m *Manager) underLock(ctx context.Context, h handle, wait time.Duration, fn func(ctx context.Context, s Session, ok bool) error) error {
	waited := time.NewTimer(wait)
	defer waited.Stop()
	for {
		unlock, locked, err := m.store.LockSession(ctx, h.key, lockTTL)
		if err != nil {
			return storeDown(err)
		}
		if locked {
			defer unlock()
			lctx, cancel := context.WithTimeout(ctx, lockTTL-lockMargin)
			defer cancel()
			s, ok, err := m.get(lctx, h)
			if err != nil {
				return err
			}
			return fn(lctx, s, ok)
		}
		select {
		case <-ctx.Done():
			return storeDown(ctx.Err())
		case <-waited.C:
			return &problem.Error{Code: problem.CodeUnavailable, Detail: "The session is being renewed; retry.", RetryAfter: time.Second}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// renew exchanges s's refresh token and stores the new pair; the caller
// holds the session's lock. A refresh token the user service refuses ends
// the session; a user service that does not answer is a 503 to retry. The
// refresh is retried under the session's own key: only this BFF holds the
// token, and a refresh whose answer was lost, or whose new pair could not
// be stored, gets the same pair when sent again rather than revoking the
// family as a reuse would. That pair may be old by then: stored, since its
// refresh token is the one that works now, it is refreshed once more at
// once when its access token is spent.
func (m *Manager) renew(ctx context.Context, h handle, s Session) (Session, error) {
	for range 2 {
		var err error
		if s, err = m.renewOnce(ctx, h, s); err != nil || !m.stale(s, m.now()) {
			return s, err
		}
	}
	return s, nil
}

// renewOnce is one exchange of renew.
func (m *Manager) renewOnce(ctx context.Context, h handle, s Session) (Session, error) {
	tok, err := m.tokens.Refresh(ctx, s.RefreshToken, h.key)
	if user.Refused(err) {
		_ = m.store.DeleteSession(ctx, h.key)
		return Session{}, noSession()
	}
	if err != nil {
		return Session{}, &problem.Error{Code: problem.CodeUnavailable,
			Detail: "The session could not be renewed; retry.", RetryAfter: time.Second, Err: err}
	}
	now := m.now()
	s.AccessToken, s.RefreshToken = tok.AccessToken, tok.RefreshToken
	s.AccessLifetime = time.Duration(tok.ExpiresIn) * time.Second
	s.AccessExpires, s.LastSeen = now.Add(s.AccessLifetime), now
	if err := m.put(ctx, h, s); err != nil {
		return Session{}, err
	}
	return s, nil
}

// End deletes the session of id, so that its cookie, even replayed, is
// refused from now on, and revokes its refresh token upstream. A session
// already gone is no error.
func (m *Manager) End(ctx context.Context, id string) error {
	if !wellFormed(id) {
		return nil
	}
	h := handleOf(id)
	// Under the lock: a refresh under way stores its new tokens first, and
	// those are what is deleted and revoked.
	var ended Session
	err := m.underLock(ctx, h, waitForPeer, func(ctx context.Context, s Session, ok bool) error {
		if !ok {
			// Nothing to delete: a made-up cookie costs no write.
			return nil
		}
		if err := m.store.DeleteSession(ctx, h.key); err != nil {
			return storeDown(err)
		}
		ended = s
		return nil
	})
	if err != nil {
		return err
	}
	if ended.RefreshToken != "" {
		// The session is gone whatever happens upstream: a revocation that
		// fails leaves a refresh token nobody holds any more.
		_ = m.tokens.Revoke(ctx, ended.RefreshToken)
	}
	return nil
}

// idLength is the length of every id Create makes.
var idLength = base64.RawURLEncoding.EncodedLen(idBytes)

// wellFormed reports whether id has the shape of an id Create makes:
// a cookie of any other shape names no session, and is refused without
// hashing it or asking the store (a flood of made-up cookies costs
// neither the CPU nor the store a look-up each).
func wellFormed(id string) bool {
	if len(id) != idLength {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// sealInfo names the key derived from a session id to seal its tokens;
// a later scheme would change it.
const sealInfo = "storefront.dev/session tokens v1"

// handle is how a Manager reaches one session: key is the store's key, the
// SHA-256 of the session id, so that a copy of the store yields no usable
// cookie; aead seals the session's tokens under a key derived from the id
// (HKDF-SHA-256), so that it yields no usable token either.
type handle struct {
	key  string
	aead cipher.AEAD
}

func handleOf(id string) handle {
	sum := sha256.Sum256([]byte(id))
	// Neither call can fail: the length is fixed and valid for both.
	k, err := hkdf.Key(sha256.New, []byte(id), nil, sealInfo, 32)
	if err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return handle{key: hex.EncodeToString(sum[:]), aead: aead}
}

// tokens is what is sealed of a session.
type tokens struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
}

// put stores s sealed under h until it expires.
func (m *Manager) put(ctx context.Context, h handle, s Session) error {
	plain, err := json.Marshal(tokens{Access: s.AccessToken, Refresh: s.RefreshToken})
	if err != nil {
		return err
	}
	nonce := make([]byte, h.aead.NonceSize(), h.aead.NonceSize()+len(plain)+h.aead.Overhead())
	_, _ = rand.Read(nonce)
	stored := s
	stored.AccessToken, stored.RefreshToken = "", ""
	stored.Sealed = h.aead.Seal(nonce, nonce, plain, []byte(s.UserID))
	if err := m.store.PutSession(ctx, h.key, stored, m.Expires(s)); err != nil {
		return storeDown(err)
	}
	return nil
}

// lookupBudget bounds each wait for the store to read a session: a store
// that takes connections and never answers (a Redis that hangs) fails a
// request within it, with a 503, rather than hold it, and its place in
// admission control, until the request's deadline.
const lookupBudget = time.Second

// get returns the session of h with its tokens opened; ok is false when
// there is none, or its seal does not open (the store was changed: its
// user id, or the sealed bytes). A session stored before tokens were
// sealed is returned as it is, and sealed when it is next written.
func (m *Manager) get(ctx context.Context, h handle) (s Session, ok bool, err error) {
	lctx, cancel := context.WithTimeout(ctx, lookupBudget)
	s, ok, err = m.store.GetSession(lctx, h.key)
	budgetSpent := lctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		if budgetSpent {
			// The budget ran out, not the caller's time: the store is
			// failing (503), which is not the request's timeout.
			err = fmt.Errorf("session store: no answer within %v (%v)", lookupBudget, err)
		}
		return Session{}, false, storeDown(err)
	}
	if !ok || len(s.Sealed) == 0 {
		return s, ok, nil
	}
	n := h.aead.NonceSize()
	if len(s.Sealed) < n {
		return Session{}, false, nil
	}
	plain, err := h.aead.Open(nil, s.Sealed[:n], s.Sealed[n:], []byte(s.UserID))
	var t tokens
	if err != nil || json.Unmarshal(plain, &t) != nil {
		return Session{}, false, nil
	}
	s.AccessToken, s.RefreshToken, s.Sealed = t.Access, t.Refresh, nil
	return s, true, nil
}

// storeDownRetryAfter is the Retry-After of a 503 for a session store that
// does not answer: a store restarting or failing over is back within
// seconds.
const storeDownRetryAfter = time.Second

// storeDown is the problem of a session store that failed: a 504 when it
// did not answer in time, else a 503 to retry.
func storeDown(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return problem.Wrap(err, problem.CodeTimeout, "The session store did not answer in time.")
	}
	p := problem.Wrap(err, problem.CodeUnavailable, "The session store is unavailable; retry.")
	p.RetryAfter = storeDownRetryAfter
	return p
}
