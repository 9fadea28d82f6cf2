// Package aggregate assembles a screen from several upstream reads in the
// shape of lura's proxy merging: one fan-out bound by one deadline (the
// request's, which httpserver.ReadDeadline sets for every read), the
// parts run concurrently (one goroutine per part, but the caller's own
// goroutine runs one of them), and the optional parts that failed named
// explicitly instead of failing the screen.
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
	"sync"
)

// Counter counts the optional parts left out of an aggregate;
// *telemetry.Metrics implements it (bff_degraded_parts_total).
type Counter interface {
	Degraded(part string)
}

// Fanout runs the parts of screen aggregates. It is safe for concurrent
// use.
type Fanout struct {
	counter Counter
}

// New returns a Fanout that reports each optional part it leaves out to
// counter (nil reports none).
func New(counter Counter) *Fanout {
	return &Fanout{counter: counter}
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
// other parts and returns fetch's error once they returned. fetch stores
// what it read in the caller's variables and must return once ctx ends
// or, cancelled, as soon as it can: an upstream read already sent runs
// to its answer or deadline (upstream.Service), the others stop.
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

// Then returns p followed by next: parts that need p's result start,
// concurrently, as soon as p succeeded. When p fails they are skipped
// and not reported: the part that failed already says what is missing.
func (p Part) Then(next ...Part) Part {
	p.next = append(p.next[:len(p.next):len(p.next)], next...)
	return p
}

// node is a part with its place in the order the parts were given, depth
// first: the parts chained after the node at index i are at i+1 onwards,
// each followed by its own chained parts, size in all.
type node struct {
	Part
	size int // the node and every part chained after it
	// err is what the part returned, set by the goroutine that ran it
	// before it is done.
	err error
}

// fanout is one Run in flight.
type fanout struct {
	nodes  []node
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// firstErr is the first required part's failure; panicked what the
	// first part to panic panicked with, re-raised by Run in the caller's
	// goroutine, where the server's recovery sees it.
	firstErr error
	panicked any
}

// Run fetches every part at once, chained parts as soon as the part they
// follow succeeded, all under ctx's deadline. Each part runs on a goroutine of its own but one: the last part
// given runs on the caller's goroutine, and the last part chained after
// another on that part's goroutine, so that a screen of one required read
// and its dependent parts starts one goroutine less per level (a new
// goroutine costs its start and the growth of its small stack to what an
// upstream call needs). A required part that fails cancels the others and
// Run returns its error. Otherwise Run returns the names of the optional
// parts that failed, in the order the parts were given (nil when none
// did), and counts each. Run returns only once every part that started has
// returned, so the caller may read what the parts stored.
func (f *Fanout) Run(ctx context.Context, parts ...Part) (degraded []string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &fanout{cancel: cancel, nodes: plan(parts)}
	r.start(ctx, rootsOf(r.nodes))
	r.wg.Wait()
	if r.panicked != nil {
		panic(r.panicked)
	}
	if r.firstErr != nil {
		return nil, r.firstErr
	}
	for i := range r.nodes {
		if n := &r.nodes[i]; n.err != nil && n.need == optional {
			degraded = append(degraded, n.name)
			if f.counter != nil {
				f.counter.Degraded(n.name)
			}
		}
	}
	return degraded, nil
}

// plan numbers the parts depth first, in the order given.
func plan(parts []Part) []node {
	count := 0
	var size func(p Part) int
	size = func(p Part) int {
		n := 1
		for _, c := range p.next {
			n += size(c)
		}
		return n
	}
	for _, p := range parts {
		count += size(p)
	}
	nodes := make([]node, 0, count)
	var add func(p Part)
	add = func(p Part) {
		i := len(nodes)
		nodes = append(nodes, node{Part: p})
		for _, c := range p.next {
			add(c)
		}
		nodes[i].size = len(nodes) - i
	}
	for _, p := range parts {
		add(p)
	}
	return nodes
}

// siblings are the indexes of a run of sibling nodes: first, and every
// node after the one before it and its chained parts, up to end.
type siblings struct{ first, end int }

// rootsOf are the nodes of the parts given to Run.
func rootsOf(nodes []node) siblings { return siblings{0, len(nodes)} }

// chainedAfter are the nodes chained after the node at i.
func (r *fanout) chainedAfter(i int) siblings { return siblings{i + 1, i + r.nodes[i].size} }

// start runs the nodes of s: each on a goroutine of its own but the last,
// on the calling one, once the others have started.
func (r *fanout) start(ctx context.Context, s siblings) {
	last := -1
	for i := s.first; i < s.end; i += r.nodes[i].size {
		if last >= 0 {
			r.wg.Add(1)
			go func(i int) {
				defer r.wg.Done()
				r.exec(ctx, i)
			}(last)
		}
		last = i
	}
	if last >= 0 {
		r.exec(ctx, last)
	}
}

// exec fetches the node at i and, when it succeeded, the parts chained
// after it. A required part's failure cancels the others at once, from
// the goroutine it ran on, so that a part running on the caller's
// goroutine sees it too.
func (r *fanout) exec(ctx context.Context, i int) {
	n := &r.nodes[i]
	// A part that starts late still calls fetch: the client's own error for
	// a spent deadline (a timeout) is what the caller maps.
	if !r.try(ctx, n) {
		return
	}
	r.start(ctx, r.chainedAfter(i))
}

// try runs n's fetch and records its outcome; it reports whether n
// succeeded.
func (r *fanout) try(ctx context.Context, n *node) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			n.err = fmt.Errorf("aggregate: part %q panicked: %v", n.name, v)
			r.fail(n, fmt.Sprintf("%v\n%s", n.err, debug.Stack()))
			ok = false
		}
	}()
	if n.err = n.fetch(ctx); n.err != nil {
		r.fail(n, nil)
		return false
	}
	return true
}

// fail records n's failure, or its panic when panicked is not nil, and
// cancels the other parts when the aggregate cannot be served.
func (r *fanout) fail(n *node, panicked any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if panicked != nil && r.panicked == nil {
		r.panicked = panicked
		r.cancel()
	}
	if n.need == required && r.firstErr == nil {
		r.firstErr = n.err
		r.cancel()
	}
}
