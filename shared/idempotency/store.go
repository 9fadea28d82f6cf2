package idempotency

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	cache "github.com/patrickmn/go-cache"
)

// Record is what a Store keeps for one key: an in-flight marker until the
// first request finishes, then its response.
type Record struct {
	// Fingerprint identifies the request body that took the key.
	Fingerprint string
	// Done is false while the first request is in flight.
	Done bool
	// Reference names the work the key started (Reference(ctx) inside the
	// Manager's fn). A request that takes over a key whose first request
	// died in flight inherits it, so that the work it repeats is the same
	// work, deduplicated downstream, not a second one.
	Reference string
	// Status, ContentType, Location and Body are the stored response when
	// Done.
	Status      int
	ContentType string
	Location    string
	Body        []byte
	// CreatedAt is when the record was written, by the Manager's clock; the
	// Manager decides expiry from it.
	CreatedAt time.Time
}

// Store keeps records by key. Its operations are those of a shared key-value
// store (set-if-absent, compare-and-set, compare-and-delete, each with an
// expiry) so that replicas can share it. The
// ttl a Store receives only reclaims space; it is longer than the lifetime the
// Manager enforces itself.
type Store interface {
	// Reserve atomically creates an in-flight record for key if none exists;
	// it returns (existing, false, nil) when a record is already there.
	Reserve(ctx context.Context, key string, rec Record, ttl time.Duration) (existing Record, created bool, err error)
	// Complete replaces the record of key if it is still the in-flight
	// record created at owner, the one the caller reserved; a request that
	// outlived its lock, whose key another request has since taken, gets
	// ErrNotOwner and overwrites nothing.
	Complete(ctx context.Context, key string, owner time.Time, rec Record, ttl time.Duration) error
	// Release deletes the record of key if it is still the one created at
	// owner, and otherwise leaves the key alone and returns nil.
	Release(ctx context.Context, key string, owner time.Time) error
}

// MemoryStore is a Store in process memory, for a single replica.
type MemoryStore struct {
	c   *cache.Cache
	max int
	// mu makes Complete's and Release's compare-and-write atomic; Reserve
	// needs no lock: go-cache's Add fails when the key exists.
	mu sync.Mutex
}

// StoreOption configures a MemoryStore.
type StoreOption func(*MemoryStore)

// MaxRecords bounds how many keys a MemoryStore holds at once (a record
// costs about 1 KiB). A key beyond the bound is refused, which the Manager
// answers with a 503: evicting a live record instead would let a retry run
// its request twice. Zero or less means no bound.
func MaxRecords(n int) StoreOption { return func(s *MemoryStore) { s.max = n } }

// ErrFull is returned by Reserve when a MemoryStore holds MaxRecords keys.
var ErrFull = errors.New("idempotency: memory store is full")

// ErrNotOwner is returned by Complete when the key no longer holds the
// caller's in-flight record: its lock expired and another request took it.
var ErrNotOwner = errors.New("idempotency: the key was taken over by another request")

// Interface guard.
var _ Store = (*MemoryStore)(nil)

// DefaultCleanupInterval is how often a MemoryStore drops expired records.
const DefaultCleanupInterval = time.Minute

// NewMemoryStore returns an empty MemoryStore that drops expired records
// every cleanupInterval (DefaultCleanupInterval when not positive), unbounded
// unless MaxRecords says otherwise.
func NewMemoryStore(cleanupInterval time.Duration, opts ...StoreOption) *MemoryStore {
	if cleanupInterval <= 0 {
		cleanupInterval = DefaultCleanupInterval
	}
	s := &MemoryStore{c: cache.New(cache.NoExpiration, cleanupInterval)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errNoTTL guards against go-cache reading a zero ttl as "never expire".
var errNoTTL = errors.New("idempotency: store ttl must be positive")

// Reserve implements Store with go-cache's atomic Add.
func (s *MemoryStore) Reserve(_ context.Context, key string, rec Record, ttl time.Duration) (Record, bool, error) {
	if ttl <= 0 {
		return Record{}, false, errNoTTL
	}
	// The bound is checked before Add, so concurrent reserves may pass it
	// by a few records; it bounds memory, not an exact count.
	if s.max > 0 && s.c.ItemCount() >= s.max {
		if x, ok := s.c.Get(key); ok {
			return clone(x.(Record)), false, nil
		}
		return Record{}, false, ErrFull
	}
	// Add fails when the key exists; the record may be released before Get
	// reads it, in which case Add is tried again.
	for range 8 {
		if err := s.c.Add(key, clone(rec), ttl); err == nil {
			return Record{}, true, nil
		}
		if x, ok := s.c.Get(key); ok {
			return clone(x.(Record)), false, nil
		}
	}
	return Record{}, false, errors.New("idempotency: key kept changing during reserve")
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, key string, owner time.Time, rec Record, ttl time.Duration) error {
	if ttl <= 0 {
		return errNoTTL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.owns(key, owner) {
		return ErrNotOwner
	}
	s.c.Set(key, clone(rec), ttl)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, owner time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owns(key, owner) {
		s.c.Delete(key)
	}
	return nil
}

// owns reports whether key holds the record created at owner. Called with
// s.mu held.
func (s *MemoryStore) owns(key string, owner time.Time) bool {
	x, ok := s.c.Get(key)
	return ok && x.(Record).CreatedAt.Equal(owner)
}

// clone copies the body so that neither the caller nor the store can change
// a response the other holds: a replay must be byte for byte the original.
func clone(r Record) Record {
	r.Body = bytes.Clone(r.Body)
	return r
}
