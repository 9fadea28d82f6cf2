package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"storefront.dev/shared/session"
)

// GetSession implements session.Store; an expired session is reported
// missing, whether or not it was swept yet.
func (s *Store) GetSession(ctx context.Context, key string) (session.Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return session.Session{}, false, err
	}
	var (
		sess session.Session
		ok   bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(sessionsBucket).Get([]byte(key))
		if sessionExpired(v, nanos(time.Now())) {
			return nil
		}
		ok = true
		return json.Unmarshal(v[8:], &sess)
	})
	if err != nil {
		return session.Session{}, false, fmt.Errorf("get session: %w", err)
	}
	return sess, ok, nil
}

// PutSession implements session.Store.
func (s *Store) PutSession(ctx context.Context, key string, sess session.Session, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(body)), nanos(expires))
	v = append(v, body...)
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(sessionsBucket).Put([]byte(key), v) }); err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	return nil
}

// DeleteSession implements session.Store.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.Bucket(sessionsBucket).Delete([]byte(key)) }); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// sessionLocks are the locks of a state file's sessions, which every
// change of a session takes (see session.Store): one process owns the
// file, so a lock in memory is the lock.
var sessionLocks sync.Map // "path key" -> *sessionLock

// sessionLock is one taking of a session's lock, held until its end.
type sessionLock struct{ end time.Time }

// LockSession implements session.Store. The lock lapses after ttl, as
// Redis's does, and an unlock releases only the taking it was returned
// with.
func (s *Store) LockSession(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	k, mine := s.path+" "+key, &sessionLock{end: time.Now().Add(ttl)}
	for {
		held, taken := sessionLocks.LoadOrStore(k, mine)
		if !taken {
			break
		}
		if time.Now().Before(held.(*sessionLock).end) {
			return nil, false, nil
		}
		if sessionLocks.CompareAndSwap(k, held, mine) {
			break
		}
	}
	return func() { sessionLocks.CompareAndDelete(k, mine) }, true, nil
}

// sweepSessions deletes the sessions expired at now. It finds them in a
// read transaction, which holds no lock a checkout waits for (sessions
// have no expiry index: the scan reads every one), then deletes them in
// transactions of sweepChunk, each checking again that its sessions are
// still expired (one may have been used meanwhile), and stops between
// them at Close.
func (s *Store) sweepSessions(now time.Time) (int, error) {
	at := nanos(now)
	var gone [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(sessionsBucket).ForEach(func(k, v []byte) error {
			if sessionExpired(v, at) {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	total := 0
	for chunk := range slices.Chunk(gone, sweepChunk) {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			b := tx.Bucket(sessionsBucket)
			n = 0
			for _, k := range chunk {
				if v := b.Get(k); v == nil || !sessionExpired(v, at) {
					continue
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("sweep sessions: %w", err)
		}
		total += n
		select {
		case <-s.stop:
			return total, nil
		default:
		}
	}
	return total, nil
}

// sessionExpired reports whether the stored session v (its expiry first)
// has expired at at, or cannot be read.
func sessionExpired(v []byte, at uint64) bool {
	return len(v) < 8 || binary.BigEndian.Uint64(v) <= at
}

var _ session.Store = (*Store)(nil)
