package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/orderflow/journaltest"
	"storefront.dev/shared/session"
)

var ctx = context.Background()

// open opens a store at path with the default settings changed by edits,
// closed when the test ends.
func open(t testing.TB, path string, edits ...func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	for _, edit := range edits {
		edit(&cfg)
	}
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "journal.db")
}

func TestJournalContract(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) orderflow.Journal { return open(t, tempPath(t)) })
}

// finish moves rec to completed at its next version, expiring at expires.
func finish(t *testing.T, s *Store, rec orderflow.Record, expires time.Time) orderflow.Record {
	t.Helper()
	rec.Version++
	rec.State, rec.LeaseUntil, rec.ExpiresAt = orderflow.StateCompleted, time.Now(), expires
	if err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func create(t *testing.T, s *Store, rec orderflow.Record) {
	t.Helper()
	if _, created, err := s.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create %s = created %v, err %v", rec.ID, created, err)
	}
}

// stored counts the records in the file, and checks the kept count and
// the indexes against them.
func stored(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		f := fileOf(tx)
		n = f.records.Stats().KeyN
		var unfinished, expiring int
		err := f.records.ForEach(func(_, v []byte) error {
			h, err := parseHeader(v)
			if h.unfinished {
				unfinished++
			}
			if h.expires != 0 {
				expiring++
			}
			return err
		})
		if got := f.count(); got != int64(n) {
			t.Errorf("kept count %d, %d records", got, n)
		}
		if got := f.unfinished.Stats().KeyN; got != unfinished {
			t.Errorf("unfinished index has %d entries, want %d", got, unfinished)
		}
		if got := f.expiry.Stats().KeyN; got != expiring {
			t.Errorf("expiry index has %d entries, want %d", got, expiring)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGenerationDropsLeasesOfEarlierOpens(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	far := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	create(t, s, journaltest.Record("orphan", far))
	if got, _, _ := s.Get(ctx, "orphan"); !got.LeaseUntil.Equal(far) {
		t.Fatalf("before the restart LeaseUntil = %v, want %v", got.LeaseUntil, far)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got, ok, err := s.Get(ctx, "orphan")
	if err != nil || !ok || !got.LeaseUntil.IsZero() {
		t.Fatalf("after the restart Get = %v lease %v, ok %v, err %v; want a zero lease", got.ID, got.LeaseUntil, ok, err)
	}
	if got.Owner != "a" || got.Version != 1 {
		t.Errorf("after the restart Get = %+v, want the record as written", got)
	}
	create(t, s, journaltest.Record("fresh", far))
	exp, err := s.Expired(ctx, time.Now(), 10)
	if err != nil || len(exp) != 1 || exp[0].ID != "orphan" || !exp[0].LeaseUntil.IsZero() {
		t.Fatalf("Expired = %v, %v; want only the orphan, with a zero lease", exp, err)
	}
	if fresh, _, _ := s.Get(ctx, "fresh"); !fresh.LeaseUntil.Equal(far) {
		t.Errorf("a record of this generation has LeaseUntil %v, want %v", fresh.LeaseUntil, far)
	}

	// Claiming the orphan makes its lease count again.
	claimed := got
	claimed.Version, claimed.Owner, claimed.LeaseUntil = 2, "b", far
	if err := s.Update(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, "orphan"); !got.LeaseUntil.Equal(far) || got.Owner != "b" {
		t.Errorf("claimed orphan: lease %v owner %s, want %v b", got.LeaseUntil, got.Owner, far)
	}
	if exp, _ := s.Expired(ctx, time.Now(), 10); len(exp) != 0 {
		t.Errorf("Expired after the claim = %d records, want none", len(exp))
	}
}

func TestExpiredOrder(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	now := time.Now()
	create(t, s, journaltest.Record("old-gen", now.Add(time.Hour)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	create(t, s, journaltest.Record("late", now.Add(-time.Second)))
	create(t, s, journaltest.Record("early", now.Add(-time.Minute)))
	create(t, s, journaltest.Record("live", now.Add(time.Minute)))
	got, err := s.Expired(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "old-gen,early,late" {
		t.Errorf("Expired = %v, want old-gen,early,late", ids)
	}
	if got, _ := s.Expired(ctx, now, 0); len(got) != 0 {
		t.Errorf("Expired with limit 0 = %d records", len(got))
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := tempPath(t)
	open(t, path)
	start := time.Now()
	s, err := Open(path, DefaultConfig())
	if err == nil {
		s.Close()
		t.Fatal("second Open of an open file succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error %q, want it to name %s as in use", err, path)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestUnusableFileLeftUntouched(t *testing.T) {
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone-else"))
		return err
	})
	if err != nil || db.Close() != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte("not a bbolt file \x00\xff"), 4096)
	for name, content := range map[string][]byte{
		"garbage":   garbage,
		"short":     []byte("{}"),
		"truncated": truncatedJournal(t),
		"foreign":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			path := foreign
			if content != nil {
				path = filepath.Join(t.TempDir(), "journal.db")
				if err := os.WriteFile(path, content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, DefaultConfig())
			if err == nil {
				s.Close()
				t.Fatal("Open of an unusable file succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("Open changed the file: %d bytes before, %d after", len(before), len(after))
			}
		})
	}
}

// truncatedJournal returns the meta pages of a journal, valid, without the
// pages they point to: bbolt reads its freelist past the end of the file,
// which faults (often; it depends on what lies beyond the mapping) unless
// the fault is turned into a panic.
func truncatedJournal(t *testing.T) []byte {
	path := tempPath(t)
	s := open(t, path)
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Go(func() { create(t, s, journaltest.Record(fmt.Sprint("s", i), time.Now())) })
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:2*os.Getpagesize()]
}

func TestUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Open of a directory = %v, want an error naming %s", err, path)
	}
}

func TestExpiredRecordsHiddenAndSwept(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	now := time.Now()
	gone := finish(t, s, createRec(t, s, "gone", now), now.Add(-time.Second))
	finish(t, s, createRec(t, s, "kept", now), now.Add(time.Hour))
	createRec(t, s, "running", now)

	if _, ok, err := s.Get(ctx, "gone"); ok || err != nil {
		t.Fatalf("Get of an expired record = ok %v, err %v; want none", ok, err)
	}
	stale := gone
	stale.Version++
	if err := s.Update(ctx, stale); !errors.Is(err, orderflow.ErrConflict) {
		t.Errorf("Update of an expired record = %v, want ErrConflict", err)
	}
	if n := stored(t, s); n != 3 {
		t.Fatalf("%d records stored before the sweep, want 3", n)
	}
	n, err := s.sweep(time.Now())
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	if n := stored(t, s); n != 2 {
		t.Errorf("%d records in the file after the sweep, want 2", n)
	}
	for id, want := range map[string]bool{"gone": false, "kept": true, "running": true} {
		if _, ok, _ := s.Get(ctx, id); ok != want {
			t.Errorf("Get %s after the sweep: ok %v, want %v", id, ok, want)
		}
	}
	if u, _ := unfinishedOf(s); u != 1 {
		t.Errorf("unfinished records = %d, want 1", u)
	}
}

func createRec(t *testing.T, s *Store, id string, now time.Time) orderflow.Record {
	t.Helper()
	rec := journaltest.Record(id, now.Add(time.Minute))
	create(t, s, rec)
	return rec
}

func TestCreateReplacesExpiredRecord(t *testing.T) {
	s := open(t, tempPath(t))
	now := time.Now()
	finish(t, s, createRec(t, s, "s1", now), now.Add(-time.Second))
	next := journaltest.Record("s1", now.Add(time.Minute))
	next.Fingerprint = "new"
	create(t, s, next)
	got, ok, err := s.Get(ctx, "s1")
	if err != nil || !ok || got.Fingerprint != "new" || got.State != orderflow.StateRunning {
		t.Errorf("Get = %+v, %v, %v; want the new record", got, ok, err)
	}
	if n := stored(t, s); n != 1 {
		t.Errorf("%d records stored, want 1", n)
	}
}

func TestSweeperRuns(t *testing.T) {
	s := open(t, tempPath(t), func(c *Config) { c.SweepInterval = 10 * time.Millisecond })
	now := time.Now()
	finish(t, s, createRec(t, s, "s1", now), now.Add(50*time.Millisecond))
	for deadline := time.Now().Add(5 * time.Second); stored(t, s) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete the expired record")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxRecords(t *testing.T) {
	path := tempPath(t)
	s := open(t, path, func(c *Config) { c.MaxRecords = 2 })
	now := time.Now()
	a := createRec(t, s, "a", now)
	createRec(t, s, "b", now)
	if _, _, err := s.Create(ctx, journaltest.Record("c", now)); !errors.Is(err, orderflow.ErrFull) {
		t.Fatalf("Create beyond the bound = %v, want ErrFull", err)
	}
	if _, created, err := s.Create(ctx, a); err != nil || created {
		t.Errorf("Create of a stored id when full = created %v, %v; want its record", created, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, func(c *Config) { c.MaxRecords = 2 })
	if _, _, err := s.Create(ctx, journaltest.Record("c", now)); !errors.Is(err, orderflow.ErrFull) {
		t.Fatalf("Create beyond the bound after a reopen = %v, want ErrFull", err)
	}
	// An expired record, not yet swept, makes room.
	finish(t, s, a, now.Add(-time.Second))
	c := createRec(t, s, "c", now)
	if n := stored(t, s); n != 2 {
		t.Errorf("%d records stored, want 2", n)
	}
	// Full of records yet to expire, the finished one closest to its
	// expiry makes room, rather than every checkout being refused until
	// one expires; an unfinished one never does.
	finish(t, s, c, now.Add(2*time.Hour))
	b, _, _ := s.Get(ctx, "b")
	finish(t, s, b, now.Add(time.Hour))
	createRec(t, s, "d", now)
	if _, ok, _ := s.Get(ctx, "b"); ok {
		t.Error("record b, the soonest to expire, is still stored after a Create at the bound")
	}
	for _, id := range []string{"c", "d"} {
		if _, ok, _ := s.Get(ctx, id); !ok {
			t.Errorf("record %s is gone, want it kept", id)
		}
	}
	if _, _, err := s.Create(ctx, journaltest.Record("e", now)); err != nil {
		t.Errorf("Create with a finished record stored: %v, want room made", err)
	}
	if _, _, err := s.Create(ctx, journaltest.Record("f", now)); !errors.Is(err, orderflow.ErrFull) {
		t.Errorf("Create with only unfinished records stored = %v, want ErrFull", err)
	}
}

func TestPersistence(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	now := time.Now().UTC().Truncate(time.Millisecond)
	rec := createRec(t, s, "s1", now)
	rec.Version, rec.Step, rec.ReservationID = 2, orderflow.StepReserved, "res_1"
	if err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	done := finish(t, s, createRec(t, s, "s2", now), now.Add(time.Hour))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got, ok, err := s.Get(ctx, "s1")
	if err != nil || !ok {
		t.Fatalf("Get after reopen = ok %v, err %v", ok, err)
	}
	if got.Version != 2 || got.ReservationID != "res_1" || got.Step != orderflow.StepReserved || got.Total != rec.Total {
		t.Errorf("Get after reopen = %+v, want %+v", got, rec)
	}
	if got, _, _ := s.Get(ctx, "s2"); got.State != orderflow.StateCompleted || !got.ExpiresAt.Equal(done.ExpiresAt) {
		t.Errorf("finished record after reopen = %+v", got)
	}
	if n, err := unfinishedOf(s); err != nil || n != 1 {
		t.Errorf("unfinished records after reopen = %d, %v; want 1", n, err)
	}
	next := got
	next.Version = 3
	if err := s.Update(ctx, next); err != nil {
		t.Errorf("Update after reopen: %v", err)
	}
}

// TestPageSizeOfNewFilesOnly: a file the store creates has pages of
// pageSize; one created with the operating system's page size, before,
// keeps it, and serves as before.
func TestPageSizeOfNewFilesOnly(t *testing.T) {
	pageOf := func(path string) int {
		t.Helper()
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Info().PageSize
	}
	fresh := tempPath(t)
	if err := open(t, fresh).Close(); err != nil {
		t.Fatal(err)
	}
	if got := pageOf(fresh); got != pageSize {
		t.Errorf("a new file's pages: %d bytes, want %d", got, pageSize)
	}

	older := tempPath(t)
	if err := os.MkdirAll(filepath.Dir(older), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(older, 0o600, &bolt.Options{PageSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, older)
	now := time.Now().UTC().Truncate(time.Millisecond)
	createRec(t, s, "s1", now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, older)
	if _, ok, err := s.Get(ctx, "s1"); err != nil || !ok {
		t.Errorf("a record of a file of 4 KiB pages, reopened: ok %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := pageOf(older); got != 4096 {
		t.Errorf("an older file's pages: %d bytes, want the 4096 it was made with", got)
	}
}

func TestFailedRecordRunsAgain(t *testing.T) {
	s := open(t, tempPath(t))
	now := time.Now()
	rec := createRec(t, s, "s1", now)
	rec.Version, rec.State, rec.ExpiresAt = 2, orderflow.StateFailed, now.Add(time.Hour)
	if err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if n, _ := unfinishedOf(s); n != 0 {
		t.Fatalf("unfinished records = %d, want 0", n)
	}
	// A retryable failure's retry starts the next attempt over the record.
	rec.Version, rec.Attempt, rec.State, rec.ExpiresAt = 3, 1, orderflow.StateRunning, time.Time{}
	rec.LeaseUntil = now.Add(-time.Second)
	if err := s.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if n, _ := unfinishedOf(s); n != 1 {
		t.Errorf("unfinished records = %d, want 1", n)
	}
	if exp, _ := s.Expired(ctx, now, 10); len(exp) != 1 || exp[0].Attempt != 1 {
		t.Errorf("Expired = %+v, want the new attempt", exp)
	}
	if _, err := s.sweep(now.Add(2 * time.Hour)); err != nil || stored(t, s) != 1 {
		t.Errorf("sweep deleted a record that no longer expires (%v)", err)
	}
}

func TestClosedAndCancelled(t *testing.T) {
	s := open(t, tempPath(t))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Get(cancelled, "s1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, _, err := s.Get(ctx, "s1"); err == nil {
		t.Error("Get on a closed store succeeded")
	}
	if _, _, err := s.Create(ctx, journaltest.Record("s1", time.Now())); err == nil {
		t.Error("Create on a closed store succeeded")
	}
}

// BenchmarkUpdateParallel is a checkout's journal traffic: each iteration
// creates a record and updates it seven times, from parallel goroutines
// that share transactions and fsyncs.
func BenchmarkUpdateParallel(b *testing.B) {
	s := open(b, tempPath(b))
	var ids atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := journaltest.Record(fmt.Sprint("s", ids.Add(1)), time.Now().Add(time.Minute))
			if _, _, err := s.Create(ctx, rec); err != nil {
				b.Error(err)
				return
			}
			for range 7 {
				rec.Version++
				rec.Step = min(rec.Step+1, orderflow.StepCommitted)
				if err := s.Update(ctx, rec); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
}

// unfinishedOf counts s's unfinished records: those whose lease has ended
// a thousand hours from now.
func unfinishedOf(s *Store) (int, error) {
	recs, err := s.Expired(ctx, time.Now().Add(1000*time.Hour), 1<<20)
	return len(recs), err
}

// TestDamagedRecordLeavesOthersRecoverable: a record whose JSON no longer
// decodes (a damaged page; bbolt has no checksums) is named apart by
// Expired, and the sound ones beside it are still returned for recovery.
func TestDamagedRecordLeavesOthersRecoverable(t *testing.T) {
	s := open(t, tempPath(t))
	past := time.Now().Add(-time.Minute)
	create(t, s, journaltest.Record("a-bad", past.Add(-time.Second)))
	create(t, s, journaltest.Record("b-good", past))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		v := bytes.Clone(b.Get([]byte("a-bad")))
		v[headerLen] = '#' // the JSON damaged, the header and index intact
		return b.Put([]byte("a-bad"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Expired(ctx, time.Now(), 256)
	var ue *orderflow.UnreadableError
	if !errors.As(err, &ue) || len(ue.IDs) != 1 || ue.IDs[0] != "a-bad" || len(recs) != 1 || recs[0].ID != "b-good" {
		t.Fatalf("Expired = %d records, %v; want b-good, and a-bad named unreadable", len(recs), err)
	}
}

// TestSessionSweep deletes the expired sessions, whatever their number
// against the sweep's chunk, and keeps the live ones.
func TestSessionSweep(t *testing.T) {
	s := open(t, tempPath(t))
	now := time.Now()
	for i := range sweepChunk + 10 {
		expires := now.Add(time.Hour)
		if i%2 == 0 {
			expires = now.Add(-time.Second)
		}
		if err := s.PutSession(ctx, fmt.Sprintf("s%05d", i), session.Session{UserID: "usr_ada"}, expires); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.sweepSessions(now)
	if want := (sweepChunk + 10 + 1) / 2; n != want || err != nil {
		t.Errorf("sweepSessions = %d, %v; want %d deleted", n, err, want)
	}
	var left int
	_ = s.db.View(func(tx *bolt.Tx) error {
		left = tx.Bucket(sessionsBucket).Stats().KeyN
		return nil
	})
	if left != (sweepChunk+10)/2 {
		t.Errorf("%d sessions left, want the %d live ones", left, (sweepChunk+10)/2)
	}
	if _, ok, err := s.GetSession(ctx, "s00001"); !ok || err != nil {
		t.Errorf("a live session after the sweep: ok %v, %v", ok, err)
	}
}

// TestFailedCommitStopsWrites: once a commit fails on the file itself
// (here the disk full: the file's descriptor is made /dev/full's), the
// store writes no more, journal and sessions alike, and says so through
// Failed, so that the process ends and a new one reopens the file.
func TestFailedCommitStopsWrites(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	now := time.Now()
	create(t, s, journaltest.Record("before", now.Add(time.Minute)))
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	fd := fileDescriptorOf(t, path)
	if err := syscall.Dup3(int(full.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, journaltest.Record("during", now.Add(time.Minute))); err == nil {
		t.Fatal("Create on a full disk succeeded")
	}
	select {
	case <-s.Failed():
	default:
		t.Fatal("Failed is not closed after a commit failed on the file")
	}
	if _, _, err := s.Create(ctx, journaltest.Record("after", now.Add(time.Minute))); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Create after the failure = %v, want the failure", err)
	}
	if err := s.PutSession(ctx, "k", session.Session{UserID: "usr_ada"}, now.Add(time.Hour)); err == nil {
		t.Error("PutSession after the failure succeeded")
	}
	if _, ok, err := s.Get(ctx, "before"); !ok || err != nil {
		t.Errorf("a record committed before the failure: ok %v, %v; want it read", ok, err)
	}
}

// fileDescriptorOf is this process's descriptor of the file at path.
func fileDescriptorOf(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			fd, _ := strconv.Atoi(e.Name())
			return fd
		}
	}
	t.Fatalf("no descriptor of %s", path)
	return -1
}

// TestNoCommitAfterAFailedOne: writes already queued for the committer
// when a commit fails the file are refused, not run in a transaction of
// their own on it.
func TestNoCommitAfterAFailedOne(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	fd := fileDescriptorOf(t, path)
	var afterFailure atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 64 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = s.commit(func(tx *bolt.Tx) error {
					if s.Failure() != nil {
						afterFailure.Add(1)
					}
					return tx.Bucket(metaBucket).Put([]byte("probe"), []byte("x"))
				})
			}
		})
	}
	if err := syscall.Dup3(int(full.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Failed():
	case <-time.After(30 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("no commit failed on a full disk")
	}
	// Let the writers queued meanwhile reach the committer.
	for range 200 {
		runtime.Gosched()
	}
	close(stop)
	wg.Wait()
	if n := afterFailure.Load(); n > 0 {
		t.Errorf("%d writes ran in a transaction of the file after its commit failed", n)
	}
}
