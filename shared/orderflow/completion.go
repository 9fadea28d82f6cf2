package orderflow

import (
	"context"
	"sync"
	"sync/atomic"
)

// completions tracks the completion records this process is writing
// behind the answers they complete. The record is not needed to keep the
// order: the journal already says the money was taken, and recovery, going
// forward by the steps' references, would complete it again. So the client
// does not wait for that write; a request with the same key waits for it
// here instead of finding the saga still running.
type completions struct {
	mu      sync.Mutex
	writing map[string]chan struct{} // by saga id; closed once written
	wg      sync.WaitGroup
	// pending counts the writes under way, for a drain that finds none.
	pending atomic.Int64
}

// begin registers the write of the completion record of saga id; the
// returned func ends it.
func (c *completions) begin(id string) (end func()) {
	done := make(chan struct{})
	c.mu.Lock()
	if c.writing == nil {
		c.writing = map[string]chan struct{}{}
	}
	c.writing[id] = done
	c.mu.Unlock()
	c.wg.Add(1)
	c.pending.Add(1)
	return func() {
		c.mu.Lock()
		if c.writing[id] == done {
			delete(c.writing, id)
		}
		c.mu.Unlock()
		close(done)
		c.pending.Add(-1)
		c.wg.Done()
	}
}

// await returns once saga id has no completion record being written by
// this process, or ctx ends.
func (c *completions) await(ctx context.Context, id string) {
	c.mu.Lock()
	done := c.writing[id]
	c.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// drain waits for every completion record being written, or for ctx;
// with none being written it returns nil at once, whatever ctx says.
func (c *completions) drain(ctx context.Context) error {
	if c.pending.Load() == 0 {
		return nil
	}
	all := make(chan struct{})
	go func() { c.wg.Wait(); close(all) }()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
