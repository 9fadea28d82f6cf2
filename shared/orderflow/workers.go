package orderflow

import (
	"sync/atomic"
	"time"
)

// workerIdle is how long a worker waits for more work before it ends.
const workerIdle = 10 * time.Second

// workers runs functions on goroutines kept between calls. A checkout
// starts about eight goroutines of its own (the concurrent steps of a
// phase, its journal writes behind them, its pricing, its completion), and
// each grew its stack through the same deep calls (the HTTP client, JSON
// encoding, the state file), copying it at every doubling: 8% of a
// checkout's CPU, profiled under load. A worker keeps the stack it grew
// for the next function (the garbage collector halves an idle one at
// most once a cycle).
type workers struct {
	idle    time.Duration
	work    chan func()
	started atomic.Int64 // the workers started, for tests
}

func newWorkers(idle time.Duration) *workers {
	return &workers{idle: idle, work: make(chan func())}
}

// run runs fn on an idle worker, or on a new one when none is idle: it
// never waits. As with a go statement, a panic in fn ends the process;
// the flow's callers catch what they must (see caught).
func (w *workers) run(fn func()) {
	select {
	case w.work <- fn:
	default:
		w.started.Add(1)
		go w.loop(fn)
	}
}

// loop runs fn, then whatever it is handed, until it has waited idle for
// more.
func (w *workers) loop(fn func()) {
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(w.idle)
		select {
		case fn = <-w.work:
		case <-t.C:
			return
		}
	}
}
