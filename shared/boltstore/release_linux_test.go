package boltstore

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/orderflow/journaltest"
)

// mappedRSS is how much of the file at path is in this process's
// resident memory, from /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	inFile := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 6 && strings.Contains(fields[0], "-"):
			// A mapping's header: address range, perms, offset, dev, inode, path.
			inFile = fields[len(fields)-1] == path
		case inFile && fields[0] == "Rss:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		case len(fields) == 5 && strings.Contains(fields[0], "-"):
			inFile = false // an anonymous mapping
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

func TestReleaseDropsTheFilesPagesFromMemory(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	const n = 3000
	pad := strings.Repeat("x", 3000)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				rec := journaltest.Record(fmt.Sprint("r", i), time.Now().Add(time.Hour))
				rec.Fingerprint = pad + strconv.Itoa(i)
				if _, created, err := s.Create(ctx, rec); err != nil || !created {
					errs <- fmt.Errorf("create %d: created %v, %v", i, created, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		for i := range n {
			rec, ok, err := s.Get(ctx, fmt.Sprint("r", i))
			if err != nil || !ok || rec.Fingerprint != pad+strconv.Itoa(i) {
				t.Fatalf("record %d after release: found %v, %v, fingerprint of %d bytes", i, ok, err, len(rec.Fingerprint))
			}
		}
	}
	readAll()
	before := mappedRSS(t, path)
	if before < 4<<20 {
		t.Fatalf("only %d KiB of the file mapped after reading %d records: the test reads nothing", before>>10, n)
	}
	if err := s.release(); err != nil {
		t.Fatal(err)
	}
	after := mappedRSS(t, path)
	if after > before/4 {
		t.Errorf("%d KiB of the file still mapped after release, from %d KiB", after>>10, before>>10)
	}
	// Nothing was lost: the pages come back from the page cache.
	readAll()
	if again := mappedRSS(t, path); again < before/2 {
		t.Errorf("%d KiB mapped after reading every record again, from %d KiB: did the reads find the file?", again>>10, before>>10)
	}
}
