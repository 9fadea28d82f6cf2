// Package idempotency makes a write safe to retry, after
// draft-ietf-httpapi-idempotency-key-header-07: the first response for a
// (user, Idempotency-Key) is stored and replayed to every retry, a retry
// arriving while the first request is still running is refused with 409, and
// a key reused with a different body is refused with 422.
//
// It is plain Go: the HTTP edge parses the header with ParseKey, calls
// Manager.Do around the handler and writes what it returns.
package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"storefront.dev/shared/problem"
)

// Defaults of a Manager; each has an Option to change it.
const (
	// DefaultRecordTTL is how long a response is replayed.
	DefaultRecordTTL = 24 * time.Hour
	// DefaultLockTTL is how long an in-flight request holds its key; past it
	// the request is taken for dead (its process crashed) and the key is
	// free again. It must exceed the longest request deadline.
	DefaultLockTTL = 2 * time.Minute
	// storeGrace is added to the ttl given to the store: the Manager decides
	// expiry by its own clock, and the store's expiry only reclaims space
	// afterwards, so clock skew between replicas cannot make a record vanish
	// before its time.
	storeGrace = time.Minute
	// busyRetryAfter is the Retry-After of a 409: a typical request's length.
	busyRetryAfter = time.Second
)

// Response is a response to store and replay.
type Response struct {
	Status      int
	ContentType string
	// Location is the Location header of a 201, replayed with the body.
	Location string
	Body     []byte
}

// Manager runs requests at most once per key. It is safe for concurrent use.
type Manager struct {
	store     Store
	recordTTL time.Duration
	lockTTL   time.Duration
	now       func() time.Time
	onError   func(ctx context.Context, op string, err error)
}

// Option changes one default of a Manager.
type Option interface{ apply(*Manager) }

type optionFunc func(*Manager)

func (f optionFunc) apply(m *Manager) { f(m) }

// WithRecordTTL sets how long a response is replayed. Default
// DefaultRecordTTL.
func WithRecordTTL(d time.Duration) Option {
	return optionFunc(func(m *Manager) { m.recordTTL = d })
}

// WithLockTTL sets how long an in-flight request holds its key. Default
// DefaultLockTTL.
func WithLockTTL(d time.Duration) Option {
	return optionFunc(func(m *Manager) { m.lockTTL = d })
}

// WithClock sets the source of the current time. Default time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(m *Manager) { m.now = now })
}

// WithErrorHandler sets the function told about store failures that Do
// cannot return because the client's response is already decided: a response
// that could not be stored, a key that could not be released. op is
// "complete" or "release". Default: ignore them.
func WithErrorHandler(f func(ctx context.Context, op string, err error)) Option {
	return optionFunc(func(m *Manager) { m.onError = f })
}

// New returns a Manager keeping its records in store.
func New(store Store, opts ...Option) *Manager {
	m := &Manager{
		store:     store,
		recordTTL: DefaultRecordTTL,
		lockTTL:   DefaultLockTTL,
		now:       time.Now,
		onError:   func(context.Context, string, error) {},
	}
	for _, o := range opts {
		o.apply(m)
	}
	return m
}

// Do runs fn once for the key within scope (the user id: keys are per user)
// and returns its response; a later call with the same scope, key and body
// gets the stored response with replayed true. Errors are *problem.Error:
// CodeIdempotencyBusy while the first call is in flight,
// CodeIdempotencyReused when the body differs from the first call's,
// CodeUnavailable when the store fails. A response with status 500 or more
// (or none at all) is not stored, and the key is released so that the client
// may retry; so is the key of an fn that panics, and the panic goes on.
func (m *Manager) Do(ctx context.Context, scope, key string, body []byte, fn func(ctx context.Context) Response) (Response, bool, error) {
	if key == "" {
		return Response{}, false, invalidKey("the key is empty")
	}
	sk := storeKey(scope, key)
	fp := Fingerprint(body)
	ref := ""
	// A pass ends in a decision unless it frees an expired record, after
	// which the key is reserved again; a third pass means the key is being
	// fought over, which is what "busy" says.
	for range 3 {
		now := m.now()
		if ref == "" {
			ref = newReference()
		}
		rec := Record{Fingerprint: fp, CreatedAt: now, Reference: ref}
		existing, created, err := m.store.Reserve(ctx, sk, rec, m.lockTTL+storeGrace)
		if err != nil {
			return Response{}, false, unavailable(fmt.Errorf("reserve idempotency key: %w", err))
		}
		if created {
			return m.run(context.WithValue(ctx, referenceKey{}, ref), sk, fp, now, fn)
		}
		if !m.expired(existing, now) {
			return replay(existing, fp)
		}
		if !existing.Done && existing.Reference != "" && existing.Fingerprint == fp {
			// Its first request died in flight, perhaps after its work was
			// done: repeat that same work, which downstream deduplicates by
			// its reference, rather than start a second one.
			ref = existing.Reference
		}
		freed, err := m.free(ctx, sk, existing)
		if err != nil {
			return Response{}, false, unavailable(err)
		}
		if !freed {
			return Response{}, false, busy()
		}
	}
	return Response{}, false, busy()
}

type referenceKey struct{}

// Reference is the name of the work of the request ctx belongs to, inside
// the fn of Do; "" elsewhere. It is random for a new key and inherited from
// a first request that died in flight, so fn passes it downstream as the
// idempotency reference of what it does.
func Reference(ctx context.Context) string {
	ref, _ := ctx.Value(referenceKey{}).(string)
	return ref
}

func newReference() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func replay(rec Record, fp string) (Response, bool, error) {
	switch {
	case rec.Fingerprint != fp:
		return Response{}, false, problem.New(problem.CodeIdempotencyReused,
			"This Idempotency-Key was used with a different request body.")
	case !rec.Done:
		return Response{}, false, busy()
	}
	return Response{Status: rec.Status, ContentType: rec.ContentType, Location: rec.Location, Body: rec.Body}, true, nil
}

// run calls fn holding the key, then stores its response or frees the key.
func (m *Manager) run(ctx context.Context, sk, fp string, owner time.Time, fn func(context.Context) Response) (Response, bool, error) {
	// The record must be settled even when the client has gone away.
	bg := context.WithoutCancel(ctx)
	settled := false
	defer func() {
		// Reached without settling only when fn panicked or called
		// runtime.Goexit; the panic goes on after the key is freed.
		if !settled {
			m.release(bg, sk, owner)
		}
	}()
	resp := fn(ctx)
	settled = true
	if resp.Status >= 500 || resp.Status < 100 {
		m.release(bg, sk, owner)
		return resp, false, nil
	}
	done := Record{
		Fingerprint: fp,
		Done:        true,
		Status:      resp.Status,
		ContentType: resp.ContentType,
		Location:    resp.Location,
		Body:        resp.Body,
		CreatedAt:   m.now(),
	}
	if err := m.store.Complete(bg, sk, owner, done, m.recordTTL+storeGrace); err != nil {
		// The work is done and its outcome is the client's; failing now
		// would hide it. The key stays in flight until its lock expires.
		m.onError(ctx, "complete", fmt.Errorf("store idempotent response: %w", err))
	}
	return resp, false, nil
}

func (m *Manager) release(ctx context.Context, sk string, owner time.Time) {
	if err := m.store.Release(ctx, sk, owner); err != nil {
		m.onError(ctx, "release", fmt.Errorf("release idempotency key: %w", err))
	}
}

func (m *Manager) expired(rec Record, now time.Time) bool {
	ttl := m.recordTTL
	if !rec.Done {
		ttl = m.lockTTL
	}
	return !now.Before(rec.CreatedAt.Add(ttl))
}

// free deletes the expired record stale so that the key can be reserved
// again. The delete is conditional on the record still being stale, so
// several requests finding it at once delete it once and never delete the
// record a faster one has just reserved.
func (m *Manager) free(ctx context.Context, sk string, stale Record) (bool, error) {
	if err := m.store.Release(ctx, sk, stale.CreatedAt); err != nil {
		return false, fmt.Errorf("delete expired idempotency record: %w", err)
	}
	return true, nil
}

// storeKey makes the store key of a scoped key. The scope's length comes
// first so that no (scope, key) pair can spell another's, and so that store
// keys, starting with a digit, never look like the "free:" claims.
func storeKey(scope, key string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + ":" + key
}

func busy() *problem.Error {
	return &problem.Error{
		Code:       problem.CodeIdempotencyBusy,
		Detail:     "A request with this Idempotency-Key is still being processed.",
		RetryAfter: busyRetryAfter,
	}
}

func unavailable(err error) *problem.Error {
	return &problem.Error{
		Code:       problem.CodeUnavailable,
		Detail:     "Idempotency records are unavailable; try again shortly.",
		RetryAfter: busyRetryAfter,
		Err:        err,
	}
}
