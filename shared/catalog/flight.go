package catalog

import (
	"fmt"
	"sync"
)

// flights coalesces concurrent fetches of the same key, as singleflight
// does, with one difference: the reader that starts a fetch may run it on
// its own goroutine instead of a new one (see Cache.flight). It is safe for
// concurrent use; the zero value is ready.
type flights struct {
	mu sync.Mutex
	m  map[string]*call // guarded by mu
}

// call is one fetch in flight; val and err are set before done is closed.
type call struct {
	done chan struct{}
	val  any
	err  error
}

// join returns the fetch of key in flight, or a new one which the caller,
// its leader, must run.
func (f *flights) join(key string) (c *call, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.m[key]; ok {
		return c, false
	}
	if f.m == nil {
		f.m = map[string]*call{}
	}
	c = &call{done: make(chan struct{})}
	f.m[key] = c
	return c, true
}

// run runs fn as the fetch c of key and hands its outcome to every reader
// waiting for it. A panic of fn is their error, and is returned for the
// caller to raise again where a recovery will see it (the reader's
// goroutine) or to drop (a goroutine of the fetch's own, where it would
// end the process).
func (f *flights) run(key string, c *call, fn func() (any, error)) (panicked any) {
	defer func() {
		if panicked = recover(); panicked != nil {
			c.val, c.err = nil, fmt.Errorf("catalog: fetch of %s panicked: %v", key, panicked)
		}
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return nil
}
