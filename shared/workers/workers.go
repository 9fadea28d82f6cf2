// Package workers runs functions on goroutines kept between calls.
//
// A goroutine starts with a small stack, and one that makes an upstream
// call grows it through the same deep calls (the HTTP client, JSON
// encoding and decoding, a store's client), copying it at every doubling.
// A checkout starts about eight goroutines of its own and a catalog miss
// one, and on a fresh goroutine each that growth was 8% of a checkout's
// CPU and 5% of a product page's with the cache off, profiled under load.
// A worker keeps the stack it grew for the next function (the
// garbage collector halves an idle one at most once a cycle), and ends
// once it has waited idle for a while.
package workers

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdle is how long a worker of New's pools waits for more work
// before it ends: long enough to serve a steady load's next functions,
// short enough that a spike's workers and their stacks go away soon after.
const DefaultIdle = 10 * time.Second

// Pool runs functions on its idle workers, or on new ones; it is safe for
// concurrent use, and its zero value is not: use New.
type Pool struct {
	idle time.Duration
	work chan func()
	// closed is closed by Close: idle workers end at once, and busy ones
	// once their function returns and no other is waiting for them.
	closed    chan struct{}
	closeOnce sync.Once
	started   atomic.Int64 // the workers started, for tests
}

// New returns a pool whose workers end after DefaultIdle without work.
func New() *Pool { return newPool(DefaultIdle) }

func newPool(idle time.Duration) *Pool {
	return &Pool{idle: idle, work: make(chan func()), closed: make(chan struct{})}
}

// Close ends the idle workers now, rather than after their idle time, and
// each busy one once its function returns and no other is waiting for it. Go still runs functions after
// Close, each on a goroutine that ends with it.
func (p *Pool) Close() { p.closeOnce.Do(func() { close(p.closed) }) }

// Go runs fn on an idle worker, or on a new one when none is idle: it
// never waits. As with a go statement, a panic in fn ends the process;
// callers recover what they must.
func (p *Pool) Go(fn func()) {
	select {
	case p.work <- fn:
	default:
		p.started.Add(1)
		go p.loop(fn)
	}
}

// loop runs fn, then whatever it is handed, until it has waited idle for
// more or the pool is closed.
func (p *Pool) loop(fn func()) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(p.idle)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.closed:
			return
		}
	}
}
