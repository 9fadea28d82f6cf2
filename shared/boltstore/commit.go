package boltstore

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the writes committed in one transaction.
const maxGroup = 256

// errClosed is returned by a write to a closed Store.
var errClosed = errors.New("state file is closed")

// pending is one write waiting for the committer.
type pending struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// commit runs fn in a read-write transaction of the committer and returns
// when it is on disk. fn may run twice (alone, after its group failed), so
// it must decide afresh each time and report refusals through variables it
// resets, not through its error, which fails its whole group.
func (s *Store) commit(fn func(*bolt.Tx) error) error {
	if err := s.Failure(); err != nil {
		return err
	}
	p := pending{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- p:
	case <-s.stop:
		return errClosed
	}
	return <-p.done
}

// committer is group commit without a timer: it takes every write waiting,
// commits them in one transaction (one fsync), and answers them. A lone
// write is committed at once; under load the writes that arrive during one
// commit share the next. (bbolt's Batch instead waits MaxBatchDelay for
// company, which a lone checkout pays on every step.)
func (s *Store) committer() {
	defer close(s.committed)
	for {
		var group []pending
		select {
		case p := <-s.writes:
			group = append(group, p)
		case <-s.stop:
			return
		}
	gather:
		for len(group) < maxGroup {
			select {
			case p := <-s.writes:
				group = append(group, p)
			default:
				break gather
			}
		}
		s.run(group)
	}
}

// run commits group, or, when one of its writes fails, each of them
// alone, so that one write's error is its own. A failure of the commit
// itself fails the file (see fail).
func (s *Store) run(group []pending) {
	if err := s.Failure(); err != nil {
		// Queued before the file failed: not one more transaction.
		for _, p := range group {
			p.done <- err
		}
		return
	}
	var refused bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Checked again under the writer lock: a session write may have
		// failed the file since.
		if err := s.Failure(); err != nil {
			refused = true
			return err
		}
		for _, p := range group {
			if err := p.fn(tx); err != nil {
				refused = true
				return err
			}
		}
		return nil
	})
	if err != nil && !refused {
		err = s.fail(err)
	}
	if refused && len(group) > 1 {
		for _, p := range group {
			p.done <- s.update(p.fn)
		}
		return
	}
	for _, p := range group {
		p.done <- err
	}
}

// update runs fn in a read-write transaction of its own, unless the file
// failed; a failure of the commit itself fails the file.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if err := s.Failure(); err != nil {
		return err
	}
	var refused bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := s.Failure(); err != nil {
			refused = true
			return err
		}
		err := fn(tx)
		refused = err != nil
		return err
	})
	if err != nil && !refused {
		return s.fail(err)
	}
	return err
}

// fail records err, a commit that failed on the file itself (a write or
// an fsync), and returns the error every write gets from then on: bbolt
// may have put that transaction's meta page on disk, and a later one
// could reuse the pages it freed, which a crash would then show as a
// damaged file. The way out is a new process, which reopens the file; the
// BFF exits (see Failed). A closed file is not a failure.
func (s *Store) fail(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return errClosed
	}
	failure := fmt.Errorf("state file %s failed to commit; restart the process: %w", s.path, err)
	if s.failure.CompareAndSwap(nil, &failure) {
		close(s.failed)
	}
	return s.Failure()
}

// Failure is the error of the commit that failed the file, nil while none
// has.
func (s *Store) Failure() error {
	if f := s.failure.Load(); f != nil {
		return *f
	}
	return nil
}

// Failed is closed once a commit failed the file: the Store writes no more,
// and the process should end so that a new one reopens it.
func (s *Store) Failed() <-chan struct{} { return s.failed }
