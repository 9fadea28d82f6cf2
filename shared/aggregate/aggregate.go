// Package aggregate assembles a screen from several upstream reads in the
// shape of lura's proxy merging: one fan-out bound by one deadline, one
// goroutine per part, results collected from a buffered channel, and the
// optional parts that failed named explicitly instead of failing the screen.
//
// A part is Required (its failure fails the screen) or Optional (the screen
// is served without it and says so in its "degraded" member). A part that
// needs another's result (the products of an order) is chained with Then:
// it starts as soon as that part succeeded, alongside every part that does
// not wait for it. The package is plain Go; parts store what they read in
// variables of the caller, which owns them again once Run returns.
package aggregate

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

// Counter counts the optional parts left out of an aggregate;
// *telemetry.Metrics implements it (bff_degraded_parts_total).
type Counter interface {
	Degraded(part string)
}

// Fanout runs the parts of screen aggregates under one deadline. It is safe
// for concurrent use.
type Fanout struct {
	timeout time.Duration
	counter Counter
}

// New returns a Fanout that gives every Run at most timeout, on top of its
// context's own deadline (zero or less leaves that deadline alone), and
// reports each optional part it leaves out to counter (nil reports none).
func New(timeout time.Duration, counter Counter) *Fanout {
	return &Fanout{timeout: timeout, counter: counter}
}

// withDeadline is ctx bounded by the Fanout's timeout.
func (f *Fanout) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, f.timeout)
}

// need says what a part's failure does to the aggregate.
type need int

const (
	required need = iota
	optional
)

// Part is one upstream read of an aggregate, made by Required or Optional.
type Part struct {
	name  string
	need  need
	fetch func(ctx context.Context) error
	next  []Part
}

// Required is a part whose failure fails the aggregate: Run cancels the
// other parts and returns fetch's error. fetch stores what it read in the
// caller's variables and must return once ctx ends.
func Required(name string, fetch func(ctx context.Context) error) Part {
	return Part{name: name, need: required, fetch: fetch}
}

// Optional is a part the aggregate can do without: when fetch fails, Run
// names the part among the degraded ones and the screen is served without
// it. fetch stores what it read in the caller's variables and must return
// once ctx ends.
func Optional(name string, fetch func(ctx context.Context) error) Part {
	return Part{name: name, need: optional, fetch: fetch}
}

// Then returns p followed by next: parts that need p's result start, each in
// its own goroutine, as soon as p succeeded. When p fails they are skipped
// and not reported: the part that failed already says what is missing.
func (p Part) Then(next ...Part) Part {
	p.next = append(p.next[:len(p.next):len(p.next)], next...)
	return p
}

// outcome is what one part's goroutine reports.
type outcome struct {
	index int
	err   error
	// skipped counts the parts chained after a failed one, which never run.
	skipped int
	// panicked is what a part panicked with, re-raised by Run in the
	// caller's goroutine, where the server's recovery sees it.
	panicked any
}

// node is a part with its place in the order the parts were given, parents
// before the parts chained after them.
type node struct {
	Part
	index int
	size  int // the node and every part chained after it
	next  []*node
}

// Run fetches every part at once, one goroutine each, chained parts as soon
// as the part they follow succeeded, all under one deadline: ctx's, and the
// Fanout's timeout. A required part that fails cancels the others and Run
// returns its error. Otherwise Run returns the names of the optional parts
// that failed, in the order the parts were given (nil when none did), and
// counts each. Run returns only once every part that started has returned,
// so the caller may read what the parts stored.
func (f *Fanout) Run(ctx context.Context, parts ...Part) (degraded []string, err error) {
	ctx, cancel := f.withDeadline(ctx)
	defer cancel()
	roots, nodes := plan(parts)
	results := make(chan outcome, len(nodes))
	for _, n := range roots {
		go n.run(ctx, results)
	}
	failed := make([]bool, len(nodes))
	var firstErr error
	var panicked any
	for pending := len(nodes); pending > 0; {
		o := <-results
		pending -= 1 + o.skipped
		if o.panicked != nil && panicked == nil {
			panicked = o.panicked
			cancel()
		}
		if o.err == nil {
			continue
		}
		failed[o.index] = true
		if nodes[o.index].need == required && firstErr == nil {
			firstErr = o.err
			cancel()
		}
	}
	if panicked != nil {
		panic(panicked)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for i, n := range nodes {
		if failed[i] && n.need == optional {
			degraded = append(degraded, n.name)
			if f.counter != nil {
				f.counter.Degraded(n.name)
			}
		}
	}
	return degraded, nil
}

// plan numbers the parts depth first, in the order given.
func plan(parts []Part) (roots, all []*node) {
	var add func(p Part) *node
	add = func(p Part) *node {
		n := &node{Part: p, index: len(all)}
		all = append(all, n)
		for _, c := range p.next {
			n.next = append(n.next, add(c))
		}
		n.size = len(all) - n.index
		return n
	}
	for _, p := range parts {
		roots = append(roots, add(p))
	}
	return roots, all
}

// run fetches n, starts the parts chained after it when it succeeded, and
// reports to results, which has room for every part's outcome.
func (n *node) run(ctx context.Context, results chan<- outcome) {
	o := outcome{index: n.index}
	defer func() {
		if v := recover(); v != nil {
			o.err = fmt.Errorf("aggregate: part %q panicked: %v", n.name, v)
			o.panicked = fmt.Sprintf("%v\n%s", o.err, debug.Stack())
		}
		if o.err != nil {
			o.skipped = n.size - 1
		}
		results <- o
	}()
	// A part that starts late still calls fetch: the client's own error for
	// a spent deadline (a timeout) is what the caller maps.
	if o.err = n.fetch(ctx); o.err != nil {
		return
	}
	for _, c := range n.next {
		go c.run(ctx, results)
	}
}
