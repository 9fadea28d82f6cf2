package boltstore

import (
	"errors"

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

// run commits group, or, when that fails, each of its writes alone, so
// that one write's error is its own.
func (s *Store) run(group []pending) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, p := range group {
			if err := p.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, p := range group {
			p.done <- s.db.Update(p.fn)
		}
		return
	}
	for _, p := range group {
		p.done <- err
	}
}
