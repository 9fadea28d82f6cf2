package workers

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestWorkersRunAtOnceAndAreKept: Go never waits for a busy worker (n
// functions that wait for each other all run), a worker done with one
// function takes the next rather than a new one starting, and an idle
// worker ends.
func TestWorkersRunAtOnceAndAreKept(t *testing.T) {
	w := newPool(50 * time.Millisecond)
	const n = 8
	var all, done sync.WaitGroup
	all.Add(n)
	done.Add(n)
	for range n {
		w.Go(func() {
			all.Done()
			all.Wait() // every one of them runs at once, or none ends
			done.Done()
		})
	}
	done.Wait()
	if got := w.started.Load(); got != n {
		t.Fatalf("%d workers started for %d functions at once, want %d", got, n, n)
	}
	time.Sleep(10 * time.Millisecond) // the workers are back waiting
	for range 100 {
		ran := make(chan struct{})
		w.Go(func() { close(ran) })
		<-ran
	}
	// A worker just done may not be waiting yet when the next function
	// comes, and another is started then: a few, not a hundred.
	kept := w.started.Load()
	if kept > n+5 {
		t.Errorf("%d workers started after 100 functions ran one at a time, want the %d idle ones kept", kept, n)
	}
	time.Sleep(200 * time.Millisecond) // every worker is idle past its time
	ran := make(chan struct{})
	w.Go(func() { close(ran) })
	<-ran
	if got := w.started.Load(); got != kept+1 {
		t.Errorf("%d workers started once the idle ones ended, want %d", got, kept+1)
	}
}

// TestCloseEndsTheWorkers: Close ends the idle workers at once, though
// their idle time is an hour, and a busy one when its function returns;
// Go still runs a function after Close, and leaves no worker behind.
func TestCloseEndsTheWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newPool(time.Hour)
	const n = 4
	var ran sync.WaitGroup
	ran.Add(n)
	release := make(chan struct{})
	for range n - 1 {
		w.Go(ran.Done)
	}
	w.Go(func() { ran.Done(); <-release }) // busy when the pool is closed
	ran.Wait()
	w.Close()
	close(release)
	after := make(chan struct{})
	w.Go(func() { close(after) })
	<-after
	w.Close() // a second Close does nothing
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", got, before, buf[:runtime.Stack(buf, true)])
	}
}
