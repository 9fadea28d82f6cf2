package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"storefront.dev/shared/orderflow"
)

// The file holds five buckets. records is the journal; the next three exist
// so that no operation has to scan it; sessions holds web sessions.
var (
	// metaBucket holds formatKey, generationKey and countKey.
	metaBucket = []byte("meta")
	// recordsBucket maps a saga id to its envelope.
	recordsBucket = []byte("records")
	// unfinishedBucket has a key generation|lease|id, each number 8 bytes
	// big-endian, for every unfinished record, in the order Expired wants
	// them; the values are empty.
	unfinishedBucket = []byte("unfinished")
	// expiryBucket has a key expiry|id for every record whose ExpiresAt is
	// set, so that sweeping is a range scan from the start; values are
	// empty.
	expiryBucket = []byte("expiry")
	// sessionsBucket maps a session key to its expiry (8 bytes, Unix
	// nanoseconds, big-endian) and its JSON.
	sessionsBucket = []byte("sessions")
)

var (
	formatKey     = []byte("format")
	generationKey = []byte("generation")
	// countKey is the number of records, kept in the file so that every
	// transaction, batched ones included, sees the count its neighbours
	// left; Open recounts it.
	countKey = []byte("count")
	// formatName marks a file of this layout. Open refuses any other
	// bbolt file rather than add buckets to it.
	formatName = []byte("storefront.dev/orderflow-journal/1")
)

const (
	// envelopeFormat is the first byte of every envelope, so that a later
	// layout can tell old records from its own.
	envelopeFormat = 1
	// headerLen is the length of an envelope's header: format, flags,
	// generation, version, lease, expiry. The JSON record follows.
	headerLen = 2 + 4*8
	// flagUnfinished marks a record listed in the unfinished index.
	flagUnfinished = 1
	// sweepChunk bounds the records one sweep transaction deletes.
	sweepChunk = 1000
	// evictOnFull bounds the expired records a full Create deletes to make
	// room, so that one checkout does not pay for a whole late sweep.
	evictOnFull = 64
)

// header is what the store needs of a record without decoding its JSON:
// whom to fence (version), which index entries to move (lease, expiry,
// unfinished) and whether its lease counts (gen).
type header struct {
	gen        uint64
	version    int64
	lease      uint64 // LeaseUntil, from nanos
	expires    uint64 // ExpiresAt, from nanos; 0 when unset
	unfinished bool
}

// headerOf is the header of rec written by generation gen.
func headerOf(gen uint64, rec orderflow.Record) header {
	h := header{gen: gen, version: rec.Version, lease: nanos(rec.LeaseUntil),
		unfinished: !rec.State.Finished()}
	if !rec.ExpiresAt.IsZero() {
		h.expires = max(1, nanos(rec.ExpiresAt))
	}
	return h
}

func (h header) appendTo(b []byte) []byte {
	var flags byte
	if h.unfinished {
		flags |= flagUnfinished
	}
	b = append(b, envelopeFormat, flags)
	b = binary.BigEndian.AppendUint64(b, h.gen)
	b = binary.BigEndian.AppendUint64(b, uint64(h.version))
	b = binary.BigEndian.AppendUint64(b, h.lease)
	return binary.BigEndian.AppendUint64(b, h.expires)
}

// errBadEnvelope is a record this layout did not write.
var errBadEnvelope = errors.New("unreadable record envelope")

// parseHeader reads the header of envelope v, which must be whole: a
// shorter value was not written by this layout.
func parseHeader(v []byte) (header, error) {
	if len(v) < headerLen || v[0] != envelopeFormat {
		return header{}, errBadEnvelope
	}
	return header{
		unfinished: v[1]&flagUnfinished != 0,
		gen:        binary.BigEndian.Uint64(v[2:]),
		version:    int64(binary.BigEndian.Uint64(v[10:])),
		lease:      binary.BigEndian.Uint64(v[18:]),
		expires:    binary.BigEndian.Uint64(v[26:]),
	}, nil
}

// expired reports whether the record is gone for readers at now, swept or
// not: the contract keeps it until ExpiresAt "and no longer".
func (h header) expired(now uint64) bool { return h.expires != 0 && h.expires <= now }

// unfinishedKey is the record's key in the unfinished index: orphans of
// earlier generations sort first, then the leases that ended first.
func (h header) unfinishedKey(id []byte) []byte {
	k := make([]byte, 0, 16+len(id))
	k = binary.BigEndian.AppendUint64(k, h.gen)
	k = binary.BigEndian.AppendUint64(k, h.lease)
	return append(k, id...)
}

func splitUnfinishedKey(k []byte) (gen, lease uint64, id []byte, err error) {
	if len(k) <= 16 {
		return 0, 0, nil, fmt.Errorf("unfinished index key %x: too short", k)
	}
	return binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:]), k[16:], nil
}

// expiryKey is the record's key in the expiry index.
func (h header) expiryKey(id []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), h.expires), id...)
}

// The range of times nanos keeps apart; outside it, all times are the
// same to a lease or an expiry.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t in Unix nanoseconds, clamped so that it sorts as a big-endian
// key: times before 1970 (the zero time among them) are 0, and those past
// 2262, which UnixNano cannot represent, the largest int64.
func nanos(t time.Time) uint64 {
	switch {
	case t.Before(minTime):
		return 0
	case t.After(maxTime):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// file is the journal's buckets in one transaction. Open creates them, so
// they exist in every transaction after it.
type file struct {
	meta, records, unfinished, expiry *bolt.Bucket
}

func fileOf(tx *bolt.Tx) file {
	return file{meta: tx.Bucket(metaBucket), records: tx.Bucket(recordsBucket),
		unfinished: tx.Bucket(unfinishedBucket), expiry: tx.Bucket(expiryBucket)}
}

// put stores envelope env under id and indexes it as h says. The record's
// previous index entries must have been removed by unindex.
func (f file) put(id []byte, h header, env []byte) error {
	if err := f.records.Put(id, env); err != nil {
		return err
	}
	if h.unfinished {
		if err := f.unfinished.Put(h.unfinishedKey(id), nil); err != nil {
			return err
		}
	}
	if h.expires != 0 {
		return f.expiry.Put(h.expiryKey(id), nil)
	}
	return nil
}

// unindex removes the index entries of the record under id, whose header
// is h.
func (f file) unindex(id []byte, h header) error {
	if h.unfinished {
		if err := f.unfinished.Delete(h.unfinishedKey(id)); err != nil {
			return err
		}
	}
	if h.expires != 0 {
		return f.expiry.Delete(h.expiryKey(id))
	}
	return nil
}

// evict deletes up to limit records whose expiry is at or before now,
// earliest first. It returns how many expiry entries it consumed and how
// many records it deleted; an entry can be stale only if the file was
// written by a faulty build, and is dropped.
func (f file) evict(now uint64, limit int) (seen, deleted int, err error) {
	var keys [][]byte
	c := f.expiry.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
		if len(k) > 8 && binary.BigEndian.Uint64(k) > now {
			break
		}
		// Keys point into pages that the deletes below rewrite.
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := f.expiry.Delete(k); err != nil {
			return 0, 0, err
		}
		if len(k) <= 8 {
			continue
		}
		id := k[8:]
		h, err := parseHeader(f.records.Get(id))
		if err != nil || h.expires != binary.BigEndian.Uint64(k) {
			continue // missing, or indexed under another expiry
		}
		if err := f.remove(id, h); err != nil {
			return 0, 0, err
		}
		deleted++
	}
	return len(keys), deleted, nil
}

// remove deletes the record under id, whose header is h, and its entry in
// the unfinished index; the caller has removed its expiry entry.
func (f file) remove(id []byte, h header) error {
	if h.unfinished {
		if err := f.unfinished.Delete(h.unfinishedKey(id)); err != nil {
			return err
		}
	}
	if err := f.records.Delete(id); err != nil {
		return err
	}
	return f.addCount(-1)
}

// count is the number of records stored, as countKey keeps it.
func (f file) count() int64 { return int64(getUint(f.meta.Get(countKey))) }

func (f file) addCount(delta int64) error {
	return f.meta.Put(countKey, putUint(uint64(max(0, f.count()+delta))))
}

func getUint(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// begin makes db this Open's: in one transaction, so that a crash leaves
// either the old file or the new generation, it checks that the file is a
// journal (or empty), creates the buckets, increments the generation and
// recounts the records, so that the count MaxRecords relies on cannot
// drift across restarts.
func begin(db *bolt.DB) (gen uint64, err error) {
	if err := checkSize(db); err != nil {
		return 0, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := checkFormat(tx); err != nil {
			return err
		}
		for _, name := range [][]byte{metaBucket, recordsBucket, unfinishedBucket, expiryBucket, sessionsBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		f := fileOf(tx)
		gen = getUint(f.meta.Get(generationKey)) + 1
		if err := f.meta.Put(formatKey, formatName); err != nil {
			return err
		}
		if err := f.meta.Put(generationKey, putUint(gen)); err != nil {
			return err
		}
		return f.meta.Put(countKey, putUint(uint64(f.records.Stats().KeyN)))
	})
	return gen, err
}

// checkSize refuses a file shorter than its pages: truncated by a copy or
// a full disk, not by a crash, since bbolt grows the file before it writes
// a page. Reading the missing pages would fault.
func checkSize(db *bolt.DB) error {
	info, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > info.Size() {
			return fmt.Errorf("%w: %d bytes, %d expected", errCorrupt, info.Size(), tx.Size())
		}
		return nil
	})
}

// checkFormat accepts an empty file or one of this layout.
func checkFormat(tx *bolt.Tx) error {
	if meta := tx.Bucket(metaBucket); meta != nil {
		if got := meta.Get(formatKey); !bytes.Equal(got, formatName) {
			return fmt.Errorf("%w: format %q", errForeign, got)
		}
		return nil
	}
	return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		return fmt.Errorf("%w: it has a bucket %q", errForeign, name)
	})
}
