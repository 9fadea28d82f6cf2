package httpserver

import (
	"context"
	"time"
)

// After a spike of connections, the runtime keeps what it took (the
// connections' goroutine stacks and buffers, freed but not returned) until
// allocation brings on the next collection, which an idle replica may not
// reach for minutes. These bound how long the memory stays.
const (
	// idleWorker is how long a connection's goroutine, its connection
	// closed, waits for another before it exits (fasthttp's
	// MaxIdleWorkerDuration, 10s by default): its stack is freed only then.
	idleWorker = 2 * time.Second
	// memoryCheck is how often the server looks whether a spike has passed.
	memoryCheck = 5 * time.Second
	// spikeGoroutines is how many goroutines must have gone since the peak,
	// and at least half of them, for the memory to be worth returning at
	// once: a collection and a scavenge of the whole heap.
	spikeGoroutines = 256
)

// spikeWatch tells when a spike of goroutines has passed.
type spikeWatch struct{ peak int }

// passed takes the goroutines now and reports whether a spike has passed
// since the last time it did: spikeGoroutines or more have gone since the
// peak, and at least half of the peak.
func (w *spikeWatch) passed(n int) bool {
	w.peak = max(w.peak, n)
	if w.peak-n < spikeGoroutines || n > w.peak/2 {
		return false
	}
	w.peak = n
	return true
}

// returnMemory calls release each time, looking every period, the
// goroutines counted by goroutines show that a spike has passed, until ctx
// ends.
func returnMemory(ctx context.Context, period time.Duration, goroutines func() int, release func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	var w spikeWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.passed(goroutines()) {
				release()
			}
		}
	}
}
