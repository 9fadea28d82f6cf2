// Package boltstore keeps a BFF's checkout saga journal, an
// orderflow.Journal, in one bbolt file under STATE_DIR: the default for a
// single replica, which needs no Redis to survive its own restarts.
//
// While a Store is open its file is locked, so a second process opening it
// fails within a second with an error naming the file instead of waiting
// for ever. A file that is corrupt, unreadable or not a journal is refused
// with an error naming it, and is left exactly as it was, so that an
// operator can inspect it or move it aside; a hasty restart loses nothing.
//
// # Generations
//
// The lock proves only that one process has the file open; a record's lease
// says when its runner meant to renew it, not whether that runner still
// exists. Each Open therefore increments a generation counter kept in the
// file, and every record carries the generation that wrote it. A record of
// an earlier generation was written by a process that has since closed the
// file or died, so nobody can be running its saga: Get, Create and Expired
// report it with a zero LeaseUntil. A restarted BFF thus recovers the sagas
// of its previous incarnation at once, instead of refusing their retries as
// busy and waiting out their leases. Claiming such a record (an Update)
// stamps it with the current generation, and its new lease counts again.
//
// # Writes and indexes
//
// Create and Update are each one transaction, committed by one goroutine
// that groups the writes waiting into one transaction, so that concurrent
// checkouts share one fsync and a lone one waits for none. Unfinished records are
// indexed by generation and lease, so that recovery reads only the sagas it
// may take over, those its predecessor left first. Records whose ExpiresAt
// is set are indexed by it; they are hidden from reads as soon as it passes
// and deleted by a background sweeper.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"storefront.dev/shared/orderflow"
)

const (
	// lockTimeout bounds the wait for the file lock. Another process holding
	// it is a misconfiguration (two BFFs on one STATE_DIR), not contention,
	// so it is reported rather than waited out.
	lockTimeout = time.Second
	// pageSize is the page size of a file this package creates; one
	// created before keeps its own. A checkout's record outgrows half a
	// 4 KiB page once it holds its result, so that with the operating
	// system's page size most leaves written spanned two pages or more,
	// which bbolt allocates afresh at every commit (38% of bff-mobile's
	// allocations placing orders). With 16 KiB a leaf fits in one of the
	// pages bbolt reuses: in make bench's closed loop, alternated, 1,241
	// to 1,387 orders/s and 803 to 707 µs of CPU per checkout, for about
	// 20 MiB more of the file mapped.
	pageSize = 16 << 10
)

// Store is an orderflow.Journal in a bbolt file. It is safe for concurrent
// use by one process; Open refuses a second.
type Store struct {
	db   *bolt.DB
	path string
	// gen is this Open's generation; records of lower ones are orphans.
	gen uint64
	// maxRecords bounds the records stored (Config.MaxRecords).
	maxRecords int64

	stop chan struct{}
	// kept is closed when housekeeping stops (see housekeep).
	kept chan struct{}
	// writes feeds the committer, which closes committed when it stops.
	writes    chan pending
	committed chan struct{}
	// failure is set, and failed closed, once a commit fails on the file
	// itself (see fail).
	failure   atomic.Pointer[error]
	failed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Interface guard.
var _ orderflow.Journal = (*Store)(nil)

// Config is the settings of a Store; DefaultConfig returns every default.
type Config struct {
	// MaxRecords bounds the records the file holds, finished ones included,
	// so that a flood of checkouts cannot fill the disk. At the bound a
	// Create deletes an expired record, else the finished one closest to
	// its expiry (whose key then can no longer be replayed); it returns
	// orderflow.ErrFull only when every record stored is unfinished. A
	// record takes from about 2 KiB to tens of KiB (a completed one holds
	// its order's products). Default 100000.
	MaxRecords int
	// SweepInterval is how often expired records are deleted from the
	// file. Reads hide expired records at once, so sweeping only reclaims
	// space and may lag. Default 1m.
	SweepInterval time.Duration
}

// DefaultConfig returns the defaults of every setting of a Store.
func DefaultConfig() Config {
	return Config{MaxRecords: 100_000, SweepInterval: time.Minute}
}

// Validate reports the settings a Store cannot work with.
func (c Config) Validate() error {
	if c.MaxRecords < 1 || c.SweepInterval <= 0 {
		return fmt.Errorf("boltstore: MaxRecords %d and SweepInterval %v must be positive", c.MaxRecords, c.SweepInterval)
	}
	return nil
}

// syncDir makes the entries of the directory dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// makeDirs creates dir and its missing parents, as os.MkdirAll does, and
// makes each new entry durable in its parent: a power cut must not lose
// the directory of a file that holds checkouts.
func makeDirs(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range missing {
		// A parent this process may write in but not read (mode 0733)
		// cannot be opened to sync: its entry is left to the file system.
		if err := syncDir(filepath.Dir(d)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

// errForeign marks a valid bbolt file that is not a journal of this layout:
// writing to it could destroy someone else's data.
var errForeign = errors.New("not a saga journal")

// errCorrupt marks a file bbolt panicked on: its metadata checked out but
// its pages did not.
var errCorrupt = errors.New("damaged pages")

// Open opens the journal at path with the settings cfg (start from
// DefaultConfig), creating it and its directory if missing, and starts its
// housekeeping; Close stops both.
func Open(path string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := makeDirs(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	_, statErr := os.Stat(path)
	db, gen, err := openFile(path)
	if err != nil {
		return nil, describeOpenError(path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// bbolt syncs the file, not the directory entry that names it: a
		// power cut could otherwise lose a new file with what it holds.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("sync state directory: %w", err)
		}
	}
	s := &Store{db: db, path: path, gen: gen, maxRecords: int64(cfg.MaxRecords),
		stop: make(chan struct{}), kept: make(chan struct{}),
		writes: make(chan pending), committed: make(chan struct{}), failed: make(chan struct{})}
	go s.committer()
	go s.housekeep(cfg.SweepInterval)
	return s, nil
}

// openFile opens path and starts a new generation in it. bbolt panics on
// some damaged pages rather than returning an error, and faults on pages
// past the end of a truncated file, which it reads through its memory map
// before begin can check the file's size; both are turned into errCorrupt,
// so that a bad file stops this BFF with a message naming it, not a crash.
// (A panic inside bolt.Open leaks the file handle and its lock until the
// handle is collected; the process is about to exit anyway.)
func openFile(path string) (db *bolt.DB, gen uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, gen, err = nil, 0, fmt.Errorf("%w: %v", errCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, PageSize: pageSize})
	if err != nil {
		return nil, 0, err
	}
	if gen, err = begin(db); err != nil {
		_ = db.Close()
		return nil, 0, err
	}
	return db, gen, nil
}

// describeOpenError names the file in every error, and says what an
// operator should know: whether another process has it or it is unusable
// (and untouched).
func describeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("state file %s is in use by another process: %w", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, errCorrupt):
		return fmt.Errorf("state file %s is corrupt and was left untouched: %w", path, err)
	case errors.Is(err, errForeign):
		return fmt.Errorf("state file %s was left untouched: %w", path, err)
	}
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("open state file: %w", err) // it names the file
	}
	return fmt.Errorf("open state file %s: %w", path, err)
}

// Close stops the housekeeping and closes the file, releasing its lock. Calling
// it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.kept
		<-s.committed
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close state file %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Get implements orderflow.Journal. A record whose ExpiresAt has passed is
// reported missing, whether or not it was swept yet.
func (s *Store) Get(ctx context.Context, id string) (orderflow.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return orderflow.Record{}, false, err
	}
	var (
		rec orderflow.Record
		ok  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, ok, err = s.read(fileOf(tx), []byte(id), nanos(time.Now()))
		return err
	})
	if err != nil {
		return orderflow.Record{}, false, fmt.Errorf("get %s: %w", id, err)
	}
	return rec, ok, nil
}

// Create implements orderflow.Journal. An expired record under rec.ID, not
// yet swept, is replaced, as Get reports none. When the store is full,
// expired records are deleted first, so that ErrFull means full of live
// records and not a sweeper running late.
func (s *Store) Create(ctx context.Context, rec orderflow.Record) (orderflow.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return orderflow.Record{}, false, err
	}
	if rec.Version != 1 {
		return orderflow.Record{}, false, fmt.Errorf("create %s: version %d, want 1", rec.ID, rec.Version)
	}
	id, h, env, err := s.encode(rec)
	if err != nil {
		return orderflow.Record{}, false, fmt.Errorf("create %s: %w", rec.ID, err)
	}
	var (
		existing      orderflow.Record
		created, full bool
	)
	// commit may run this more than once: it decides afresh each time, and
	// reports only through the variables it resets. Refusals return nil,
	// since an error would fail its whole group.
	err = s.commit(func(tx *bolt.Tx) error {
		existing, created, full = orderflow.Record{}, false, false
		f, now := fileOf(tx), nanos(time.Now())
		old := f.records.Get(id)
		if old == nil {
			var err error
			if full, err = s.reserve(f, now); err != nil || full {
				return err
			}
		} else {
			oh, err := parseHeader(old)
			if err != nil {
				return err
			}
			if !oh.expired(now) {
				existing, err = s.decode(oh, old)
				return err
			}
			if err := f.unindex(id, oh); err != nil {
				return err
			}
		}
		created = true
		return f.put(id, h, env)
	})
	switch {
	case err != nil:
		return orderflow.Record{}, false, fmt.Errorf("create %s: %w", rec.ID, err)
	case full:
		return orderflow.Record{}, false, orderflow.ErrFull
	}
	return existing, created, nil
}

// reserve counts one more record, unless the store is full of unfinished
// ones. At the bound it deletes expired records first, then, if none was,
// the finished record closest to its expiry: its key can no longer be
// replayed, which is better than refusing every checkout until records
// expire (a flash sale may fill the store in hours where they are kept a
// day).
func (s *Store) reserve(f file, now uint64) (full bool, err error) {
	if s.maxRecords > 0 && f.count() >= s.maxRecords {
		if _, _, err := f.evict(now, evictOnFull); err != nil {
			return false, err
		}
		if f.count() >= s.maxRecords {
			if _, _, err := f.evict(math.MaxUint64, 1); err != nil {
				return false, err
			}
		}
		if f.count() >= s.maxRecords {
			return true, nil
		}
	}
	return false, f.addCount(1)
}

// Update implements orderflow.Journal. An expired record, not yet swept,
// counts as missing.
func (s *Store) Update(ctx context.Context, rec orderflow.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, h, env, err := s.encode(rec)
	if err != nil {
		return fmt.Errorf("update %s: %w", rec.ID, err)
	}
	var conflict bool
	// As in Create: idempotent, with the decision in a variable.
	err = s.commit(func(tx *bolt.Tx) error {
		conflict = false
		f := fileOf(tx)
		old := f.records.Get(id)
		if old == nil {
			conflict = true
			return nil
		}
		oh, err := parseHeader(old)
		if err != nil {
			return err
		}
		if oh.expired(nanos(time.Now())) || oh.version != rec.Version-1 {
			conflict = true
			return nil
		}
		if err := f.unindex(id, oh); err != nil {
			return err
		}
		return f.put(id, h, env)
	})
	switch {
	case err != nil:
		return fmt.Errorf("update %s: %w", rec.ID, err)
	case conflict:
		return orderflow.ErrConflict
	}
	return nil
}

// Expired implements orderflow.Journal: the orphans of earlier generations
// first, then the records of this one whose lease ended longest ago. The
// index is in that order, so the scan stops at the first live lease. A
// limit of 0 or less returns nothing.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]orderflow.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	var recs []orderflow.Record
	var unreadable orderflow.Unreadable
	err := s.db.View(func(tx *bolt.Tx) error {
		f, clock := fileOf(tx), nanos(time.Now())
		return s.eachExpired(f, now, func(id []byte) bool {
			rec, ok, err := s.read(f, id, clock)
			switch {
			case err != nil:
				unreadable.Add(string(id), err)
			case ok:
				recs = append(recs, rec)
			}
			return len(recs) < limit
		})
	})
	if err != nil {
		return nil, fmt.Errorf("expired: %w", err)
	}
	return recs, unreadable.Err()
}

// Backlog implements orderflow.Journal: the keys of the index of
// unfinished records, in Expired's order, up to the first live lease.
func (s *Store) Backlog(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	if limit <= 0 {
		return 0, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return s.eachExpired(fileOf(tx), now, func([]byte) bool {
			n++
			return n < limit
		})
	})
	if err != nil {
		return 0, fmt.Errorf("backlog: %w", err)
	}
	return n, nil
}

// eachExpired calls visit with the id of each unfinished record whose
// lease had ended at now, in the index's order (the orphans of earlier
// generations first, then this one's by lease), until visit returns false
// or the first live lease.
func (s *Store) eachExpired(f file, now time.Time, visit func(id []byte) bool) error {
	at := nanos(now)
	c := f.unfinished.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		gen, lease, id, err := splitUnfinishedKey(k)
		if err != nil {
			return err
		}
		if gen >= s.gen && lease > at || !visit(id) {
			return nil
		}
	}
	return nil
}

// encode prepares rec's envelope before the transaction, so that the
// writer lock, which every checkout waits for, is not held while encoding.
func (s *Store) encode(rec orderflow.Record) (id []byte, h header, env []byte, err error) {
	if rec.ID == "" {
		return nil, header{}, nil, errors.New("empty record id")
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, header{}, nil, fmt.Errorf("encode record: %w", err)
	}
	h = headerOf(s.gen, rec)
	env = append(h.appendTo(make([]byte, 0, headerLen+len(body))), body...)
	return []byte(rec.ID), h, env, nil
}

// read returns the live record under id, as Get reports it.
func (s *Store) read(f file, id []byte, now uint64) (orderflow.Record, bool, error) {
	v := f.records.Get(id)
	if v == nil {
		return orderflow.Record{}, false, nil
	}
	h, err := parseHeader(v)
	if err != nil || h.expired(now) {
		return orderflow.Record{}, false, err
	}
	rec, err := s.decode(h, v)
	return rec, err == nil, err
}

// decode returns the record in envelope v, its lease dropped if an earlier
// generation wrote it (see the package documentation).
func (s *Store) decode(h header, v []byte) (orderflow.Record, error) {
	var rec orderflow.Record
	if err := json.Unmarshal(v[headerLen:], &rec); err != nil {
		return orderflow.Record{}, fmt.Errorf("decode record: %w", err)
	}
	if h.gen < s.gen {
		rec.LeaseUntil = time.Time{}
	}
	return rec, nil
}

// housekeep deletes expired records every sweepInterval, the first time
// a whole interval after Open (reads hide expired records anyway, and a
// start is busy enough recovering sagas), and drops the map of the file's
// pages every releaseInterval (see release), until Close. A failed sweep
// is not reported: it fails only when the file cannot be written, which
// every Create and Update then reports, and the next tick tries again.
func (s *Store) housekeep(sweepInterval time.Duration) {
	defer close(s.kept)
	sweeps := time.NewTicker(sweepInterval)
	defer sweeps.Stop()
	releases := time.NewTicker(releaseInterval)
	defer releases.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-sweeps.C:
			_, _ = s.sweep(time.Now())
			_, _ = s.sweepSessions(time.Now())
		case <-releases.C:
			_ = s.release()
		}
	}
}

// releaseInterval is how often the store drops its map of the file's
// pages: a process's resident memory holds at most the pages of the file
// it read in the last interval.
const releaseInterval = 10 * time.Second

// release tells the kernel that this process no longer needs the pages of
// the file it has read through bbolt's memory map (Linux; elsewhere it
// does nothing). bbolt reads every record it touches through that map,
// and checkouts touch records all over the file, so that after a rush the
// whole file, tens of MiB, stayed counted in the process's resident memory
// though nothing read it any more. The pages stay in the page cache, from
// which the next read maps them again; unmapped, they are the first the
// kernel reclaims when memory runs short. The map cannot move meanwhile:
// bbolt remaps only once every read transaction has ended.
func (s *Store) release() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return unmapPages(s.db.Info().Data, tx.Size())
	})
}

// sweep deletes every record whose ExpiresAt is at or before now and
// returns how many it deleted. It works in transactions of sweepChunk
// records, so that a large backlog (after a long downtime) does not hold
// the writer lock, and so every checkout, for long.
func (s *Store) sweep(now time.Time) (int, error) {
	at, total := nanos(now), 0
	for {
		var n, seen int
		err := s.update(func(tx *bolt.Tx) error {
			var err error
			seen, n, err = fileOf(tx).evict(at, sweepChunk)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sweep: %w", err)
		}
		total += n
		if seen < sweepChunk {
			return total, nil
		}
		select {
		case <-s.stop:
			return total, nil
		default:
		}
	}
}
