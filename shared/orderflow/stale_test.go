package orderflow

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// gate holds each call that passes it until open is closed, after telling
// waiting (once) that one has arrived.
type gate struct {
	once    sync.Once
	waiting chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{waiting: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) pass() {
	g.once.Do(func() { close(g.waiting) })
	<-g.open
}

// gatedCapture holds each Capture at its gate: a capture slow to reach the
// payment service.
type gatedCapture struct {
	Payments
	*gate
}

func (g gatedCapture) Capture(ctx context.Context, id string) (payment.Payment, error) {
	g.pass()
	return g.Payments.Capture(ctx, id)
}

// gatedCancel holds each Cancel at its gate: an order service slow to
// answer the recovering runner.
type gatedCancel struct {
	Orders
	*gate
}

func (g gatedCancel) Cancel(ctx context.Context, id string) (order.Order, error) {
	g.pass()
	return g.Orders.Cancel(ctx, id)
}

// slowJournal delays Update once slow is set: a journal round trip (Redis
// with WAIT, a busy bolt group commit) slower than an upstream call.
type slowJournal struct {
	Journal
	slow atomic.Bool
}

func (s *slowJournal) Update(ctx context.Context, rec Record) error {
	if s.slow.Load() {
		time.Sleep(500 * time.Millisecond)
	}
	return s.Journal.Update(ctx, rec)
}

// TestAStaleRunnerNeverCommits: runner A's lease ends while it is alive
// (its capture slow to land, its deadline longer than its lease); runner B
// recovers the saga, reads the payment back as only authorized and goes
// backward. A's capture then lands beside its confirmation, but the
// commit, which no compensation undoes, is never sent: the journal read
// back shows B's claim, and A's fenced record tells it it lost the saga.
// B cancels the order, refunds and releases, and the retry of the key
// sells the stock once. A stalls past its lease on a clock both share, or
// B's clock runs ahead of A's, which a fence read by A's clock would miss.
func TestAStaleRunnerNeverCommits(t *testing.T) {
	for _, tt := range []struct {
		name string
		// stall moves the shared clock; skew sets B's ahead of it.
		stall, skew time.Duration
	}{
		{"A stalls", 11 * time.Second, 0},
		{"B's clock ahead", 0, 11 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) { staleRunner(t, tt.stall, tt.skew) })
	}
}

func staleRunner(t *testing.T, stall, skew time.Duration) {
	q := startQuietSandbox(t, sandbox.Config{})
	clock := clocktest.New(time.Now())
	shared := newMemJournal()
	// A deadline longer than the lease (10s), so that A outlives it.
	cfg := configWith(func(c *Config) { c.Timeout = 20 * time.Second })

	depsA := q.deps(t)
	capA := gatedCapture{Payments: depsA.Payments, gate: newGate()}
	depsA.Payments = capA
	jA := &slowJournal{Journal: shared}
	depsA.Journal = jA
	a := New(depsA, cfg, WithClock(clock.Now), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = a.Close(context.Background()) })

	depsB := q.deps(t)
	cancelB := gatedCancel{Orders: depsB.Orders, gate: newGate()}
	depsB.Orders = cancelB
	depsB.Journal = shared
	clockB := func() time.Time { return clock.Now().Add(skew) }
	b := New(depsB, cfg, WithClock(clockB), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	ctx := context.Background()
	req := Request{UserID: ada, Key: "stale", Input: visa(Item{ProductID: 7, Quantity: 2})}
	aDone := make(chan error, 1)
	go func() { _, err := a.Place(ctx, req); aDone <- err }()

	<-capA.waiting
	// The order is created before the capture: wait for it.
	for deadline := time.Now().Add(5 * time.Second); len(q.State().Order.Orders) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("order never created")
		}
	}
	// A's lease is over for B: B takes over.
	clock.Advance(stall)
	bDone := make(chan error, 1)
	go func() { _, err := b.Recover(ctx); bDone <- err }()
	<-cancelB.waiting // B decided backward and is cancelling the order

	jA.slow.Store(true)
	close(capA.open) // A's capture lands now
	if err := <-aDone; err == nil {
		t.Fatal("runner A placed the order it lost")
	}

	close(cancelB.open)
	if err := <-bDone; err != nil {
		t.Fatalf("Recover: %v", err)
	}
	q.quiesce()
	checkInvariants(t, q.State())
	if rec, _, _ := shared.Get(ctx, sagaOf(t, b, req).ID); rec.State != StateFailed {
		t.Errorf("the saga after recovery: %s, want it undone", rec.State)
	}
	// The client, told to retry with the same key, does.
	if _, err := b.Place(ctx, req); err != nil {
		t.Fatalf("the retry of the key: %v", err)
	}
	q.quiesce()
	checkInvariants(t, q.State())
	if lvl := stockOf(q.State(), 7); lvl.Sold != 2 {
		t.Errorf("product 7 sold %d units for one order of 2", lvl.Sold)
	}
}

// gatedAuthorize holds each Authorize at its gate: a hold slow to land.
type gatedAuthorize struct {
	Payments
	*gate
}

func (g gatedAuthorize) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Payment, error) {
	g.pass()
	return g.Payments.Authorize(ctx, r)
}

// TestAStaleRunnerNeverCaptures: runner B, whose clock runs ahead of A's by
// more than a checkout's whole window for late writes, takes the saga over
// while A's hold is on its way, finds no hold, takes it as never made and
// undoes the rest. A's hold then lands, and A's first phase succeeds; but A
// reads the journal back before its capture, finds B's claim, and stops:
// no money is taken for the order B cancelled. (The hold is left to expire:
// a window for late writes judged by B's clock cannot see it coming.)
func TestAStaleRunnerNeverCaptures(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	clock := clocktest.New(time.Now())
	shared := newMemJournal()
	cfg := DefaultConfig()

	depsA := q.deps(t)
	authA := gatedAuthorize{Payments: depsA.Payments, gate: newGate()}
	depsA.Payments, depsA.Journal = authA, shared
	a := New(depsA, cfg, WithClock(clock.Now), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = a.Close(context.Background()) })

	depsB := q.deps(t)
	depsB.Journal = shared
	skew := cfg.Timeout + cfg.LateWrites + cfg.LeaseTTL
	b := New(depsB, cfg, WithClock(func() time.Time { return clock.Now().Add(skew) }), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = b.Close(context.Background()) })

	ctx := context.Background()
	req := Request{UserID: ada, Key: "stale capture", Input: visa(Item{ProductID: 7, Quantity: 2})}
	aDone := make(chan error, 1)
	go func() { _, err := a.Place(ctx, req); aDone <- err }()
	<-authA.waiting
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// Priced, so that B goes backward from the first phase, and
		// reserved: the reservation, sent beside the hold, must have
		// landed for B to find and release it (one B looked for too soon
		// it would take as never made, by its clock, and leave to expire,
		// as it leaves the hold).
		rec, _, _ := shared.Get(ctx, sagaOf(t, a, req).ID)
		if len(rec.Items) > 0 && stockOf(q.State(), 7).Reserved == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prices were never journaled, or the stock never reserved")
		}
	}
	if n, err := b.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover: %d sagas, %v; want B to take this one over", n, err)
	}
	close(authA.open) // A's hold lands now
	if err := <-aDone; err == nil {
		t.Fatal("runner A placed the order B undid")
	}
	q.quiesce()
	st := q.State()
	for _, p := range st.Payment.Payments {
		if p.Status == payment.StatusCaptured || p.Status == payment.StatusRefunded {
			t.Errorf("payment %s %s: money taken by a runner that lost the saga", p.ID, p.Status)
		}
	}
	for _, o := range st.Order.Orders {
		if o.Status != order.StatusCancelled {
			t.Errorf("order %s %s, want it cancelled", o.ID, o.Status)
		}
	}
	if lvl := stockOf(st, 7); lvl.Sold != 0 || lvl.Reserved != 0 {
		t.Errorf("product 7: %d sold, %d reserved, want none", lvl.Sold, lvl.Reserved)
	}
}
