package gateway

import (
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/boltstore"
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
