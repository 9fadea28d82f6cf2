package gateway

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/session"
)

// TestNewReleasesWhatItOpenedWhenItFails: a state file another process
// holds fails New after the trace exporter and the upstream clients were
// started; New stops what it started (the exporter's batch processor runs a
// goroutine) and starts nothing after, rather than leave goroutines behind.
func TestNewReleasesWhatItOpenedWhenItFails(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.Tracing.Endpoint = "http://127.0.0.1:1" // exporting: a batch processor runs
	held, err := boltstore.Open(filepath.Join(cfg.StateDir, "bff-test.db"), cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	before := runtime.NumGoroutine()
	g, err := New("bff-test", cfg, io.Discard)
	if err == nil {
		g.Close()
		t.Fatal("New succeeded on a state file another store holds")
	}
	if !strings.Contains(err.Error(), "bff-test.db") {
		t.Errorf("New: %v, want the state file named", err)
	}
	// Goroutines that were stopped may take a moment to return.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after a failed New, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// TestServeEndsWhenTheStateFileFails: once a commit fails on the state
// file (the disk full), Serve drains and returns the failure, so that the
// process exits and a new one reopens the file.
func TestServeEndsWhenTheStateFileFails(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StateDir, cfg.AdminAddr = t.TempDir(), "127.0.0.1:0"
	cfg.HTTP.ShutdownDelay = 0
	g, err := New("bff-test", cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ls, err := Listen("127.0.0.1:0", cfg.AdminAddr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.ServeListeners(context.Background(), ls) }()

	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	path := filepath.Join(cfg.StateDir, "bff-test.db")
	fd := -1
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); target == path {
			fd, _ = strconv.Atoi(e.Name())
		}
	}
	if fd < 0 {
		t.Skipf("no descriptor of %s in /proc/self/fd", path)
	}
	if err := syscall.Dup3(int(full.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Sessions.PutSession(context.Background(), "k", session.Session{UserID: "usr_ada"}, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("a write on a full disk succeeded")
	}
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "restart") {
			t.Errorf("Serve returned %v, want the state file's failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still serving after the state file failed")
	}
}

// TestCloseStopsWhatNewStarted: Close stops every goroutine New started,
// the DNS refresh of upstreams named by host, the trace exporter's and the
// catalog's fetch worker, idle after a read, included. (The caches'
// janitors stop once their caches are collected, and fasthttp's cleaners
// on their own a while after the last dial: see fasthttpCleaners.)
func TestCloseStopsWhatNewStarted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.Upstreams.Product = []string{"http://localhost:8001"}
	cfg.Tracing.Endpoint = "http://127.0.0.1:1" // exporting: a batch processor runs
	before := goroutinesBut(fasthttpCleaners...)
	g, err := New("bff-test", cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Answered or not, the read's fetch ran on a worker, which waits for
	// the next one workers.DefaultIdle, longer than this test waits below.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	g.Catalog.Product(ctx, 1) //nolint:errcheck
	cancel()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = nil // for its caches to be collected
	deadline := time.Now().Add(5 * time.Second)
	for goroutinesBut(fasthttpCleaners...) > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := goroutinesBut(fasthttpCleaners...); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// fasthttpCleaners are the functions of the goroutines fasthttp starts on
// a client's first dial and ends on their own: a dialer's, which drops the
// addresses it cached until the last expires (TCPDialer.DNSCacheDuration, a
// minute, after the last dial), and a host client's, which closes idle
// connections until none is left (its period, seconds, after the last).
var fasthttpCleaners = []string{"fasthttp.(*TCPDialer).tcpAddrsClean", "fasthttp.(*HostClient).connsCleaner"}

// goroutinesBut counts the goroutines, but those running one of the
// functions named.
func goroutinesBut(functions ...string) int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, s := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !slices.ContainsFunc(functions, func(f string) bool { return strings.Contains(s, f+"(") }) {
			n++
		}
	}
	return n
}
