package orderflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// errAbandoned wraps a journal write that failed: the saga can no longer
// record what it does, so it stops where it is, as a crash would, and leaves
// the record to recovery. It never compensates on its own, since another
// replica may already be driving the saga.
var errAbandoned = errors.New("saga abandoned")

// errReleased is a write after letGo: the runner gave the saga up to
// recovery and writes no more (keepAlive stops at it).
var errReleased = fmt.Errorf("%w: lease given up to recovery", errAbandoned)

// ledger is one saga's record, held under lease by this runner. Every write
// renews the lease and is fenced by the record's version, so a runner that
// lost the saga (its lease expired and another replica took over) can write
// nothing more.
type ledger struct {
	f  *Flow
	mu sync.Mutex
	// rec is the record as last written.
	rec Record
	// err is set by the first failed write; every later write returns it.
	err error
	// released is set by letGo: every later write returns errReleased, so
	// that a renewal due just after cannot take the lease back.
	released bool
	// stopped is set with err or released, and read without mu, which a
	// write holds for as long as the journal takes (see stoppedBy).
	stopped atomic.Bool
	// id is rec.ID, which never changes; written is the Write of the
	// record as last written, and writing that of the write on its way.
	// All three are read without mu (see owns).
	id               string
	written, writing atomic.Pointer[string]
}

// stoppedBy returns the error every write now returns, nil while writes
// may succeed; it does not wait for a write on its way.
func (l *ledger) stoppedBy() error {
	if !l.stopped.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return errReleased
}

// hold wraps rec, already written under this runner's lease.
func (f *Flow) hold(rec Record) *ledger {
	l := &ledger{f: f, rec: rec, id: rec.ID}
	l.written.Store(&rec.Write)
	return l
}

// owns reads the record back and reports whether this runner wrote it
// last (that write landed, or is the one on its way): no other runner has
// taken the saga over, since taking it over writes it. It does not wait
// for a write on its way; a record it cannot read, within the budget of a
// write, is not reported as its.
func (l *ledger) owns(ctx context.Context) bool {
	if l.stopped.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, l.f.cfg.LeaseTTL/2)
	defer cancel()
	rec, ok, err := l.f.deps.Journal.Get(ctx, l.id)
	if err != nil || !ok {
		return false
	}
	if w := l.writing.Load(); w != nil && rec.Write == *w {
		return true
	}
	return rec.Write == *l.written.Load()
}

// save applies change to a copy of the record and writes it, renewing the
// lease. An error wraps errAbandoned.
func (l *ledger) save(ctx context.Context, change func(*Record)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(ctx, change, l.f.cfg.LeaseTTL)
}

// letGo ends the lease now, so that recovery takes the saga over on its
// next pass rather than after a whole TTL, and stops this runner's writes.
func (l *ledger) letGo(ctx context.Context) error { return l.letGoAt(ctx, time.Time{}) }

// letGoAt is letGo with the lease ending at until rather than now: recovery
// takes the saga over then, and a retry of its key meanwhile is told to
// wait (409) rather than settle it on the spot.
func (l *ledger) letGoAt(ctx context.Context, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.write(ctx, func(*Record) {}, max(0, until.Sub(l.f.cfg.now())))
	l.released = true
	l.stopped.Store(true)
	return err
}

// write applies change and writes the record with a lease of lease. l.mu
// is held.
func (l *ledger) write(ctx context.Context, change func(*Record), lease time.Duration) error {
	if l.err != nil {
		return l.err
	}
	if l.released {
		return errReleased
	}
	next := l.rec
	next.Undone = append([]Undo(nil), l.rec.Undone...)
	change(&next)
	l.f.stamp(&next, lease)
	next.Version = l.rec.Version + 1
	// The write outlives the request: a client that went away must not
	// leave the journal behind the upstreams. It does not outlive half the
	// lease it renews: a journal that stopped answering (a paused Redis,
	// a failover) hands the saga over to recovery rather than hold it.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.f.cfg.LeaseTTL/2)
	defer cancel()
	l.writing.Store(&next.Write)
	if err := l.f.deps.Journal.Update(wctx, next); err != nil {
		l.err = fmt.Errorf("%w: journal %s: %w", errAbandoned, next.State, err)
		l.stopped.Store(true)
		return l.err
	}
	l.rec = next
	l.written.Store(&next.Write)
	return nil
}

// record returns the record as last written.
func (l *ledger) record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// keepAlive renews the lease every third of its TTL until the returned stop
// is called, so a saga slower than the TTL (a long compensation) is not
// taken for dead.
func (l *ledger) keepAlive(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.f.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if l.save(ctx, func(*Record) {}) != nil {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// keylessRetention is how long the record of a finished checkout sent
// without an Idempotency-Key, or refused at its first attempt (see
// Record.Refused), is kept: no retry can ask for its outcome, so only long
// enough for a look at it while it is fresh, rather than Retention's day in
// the bound on records kept. A key refused at a later attempt keeps its
// record, and so its count of attempts, whose references were sent: a
// fresh record would send them again.
const keylessRetention = time.Minute

// stamp sets the lease, the times and a new Write of a record about to be
// written by this runner, and its expiry once the saga has finished.
func (f *Flow) stamp(rec *Record, lease time.Duration) {
	now := f.cfg.now()
	rec.Owner, rec.Write = f.owner, randomID()[:16]
	rec.LeaseUntil = now.Add(lease)
	rec.UpdatedAt = now
	rec.ExpiresAt = time.Time{}
	if rec.State.Finished() {
		rec.LeaseUntil = now
		rec.ExpiresAt = now.Add(f.cfg.Retention)
		if rec.Key == "" || rec.Refused && rec.Attempt == 0 {
			rec.ExpiresAt = now.Add(min(keylessRetention, f.cfg.Retention))
		}
	}
}
