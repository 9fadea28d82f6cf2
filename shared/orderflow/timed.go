package orderflow

import (
	"context"
	"time"
)

// The journal writes Observer.JournalWrite tells apart.
const (
	// JournalCreate is the write that opens a key's first record, before
	// its first upstream write.
	JournalCreate = "create"
	// JournalUpdate is every other write: a new attempt's opening, each
	// phase's outcome, a lease renewed, the end.
	JournalUpdate = "update"
)

// JournalOps are the values of Observer.JournalWrite's op.
var JournalOps = []string{JournalCreate, JournalUpdate}

// timedJournal tells its observer how long each write of the journal it
// wraps takes, waiting for the write's turn (group commit, a Redis round
// trip) included: New wraps the journal once, so that no write goes
// unmeasured.
type timedJournal struct {
	Journal
	observer Observer
}

func (j timedJournal) Create(ctx context.Context, rec Record) (Record, bool, error) {
	start := time.Now()
	existing, created, err := j.Journal.Create(ctx, rec)
	j.observer.JournalWrite(JournalCreate, time.Since(start))
	return existing, created, err
}

func (j timedJournal) Update(ctx context.Context, rec Record) error {
	start := time.Now()
	err := j.Journal.Update(ctx, rec)
	j.observer.JournalWrite(JournalUpdate, time.Since(start))
	return err
}
