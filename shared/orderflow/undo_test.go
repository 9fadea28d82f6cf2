package orderflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// The undo of an order whose creation is in doubt, when the order service
// does not know of it yet: the creation is sent again, and whatever the
// service answers, no order is left pending once recovery has run.

// checkNothingPending runs recovery once the faults are cleared, then
// checks the invariants and that no order is left pending.
func checkNothingPending(t *testing.T, q *quietSandbox, f *Flow) {
	t.Helper()
	q.quiesce()
	q.clearFaults(t)
	if _, err := f.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	q.quiesce()
	st := q.State()
	checkInvariants(t, st)
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusPending {
			t.Errorf("order %s (reference %s) is left pending", o.ID, o.Reference)
		}
	}
}

// undoConfig is a flow's settings for these tests: room for the faults'
// retries, and undos that give up within seconds.
func undoConfig(timeout time.Duration) Config {
	return configWith(func(c *Config) { c.Timeout, c.CompensationBudget = timeout, 3*time.Second })
}

// TestUndoWhenTheCreationSentAgainFails: the order service makes the order
// sent again, then answers 500; the read-back finds it, and it is
// cancelled.
func TestUndoWhenTheCreationSentAgainFails(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	// The forward attempts are refused before the handler runs; the
	// creation sent again is made, then answered 500.
	q.fault(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Status: 503, Count: 4})
	q.fault(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Status: 500, After: true})
	f := New(q.deps(t), undoConfig(10*time.Second), WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	_, err := f.Place(context.Background(), Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 12, Quantity: 2})})
	if got := codeOf(t, err); got != problem.CodeUnavailable {
		t.Fatalf("Place: %v, want %s", err, problem.CodeUnavailable)
	}
	checkNothingPending(t, q, f)
}

// TestUndoWhileTheFirstCreationIsOnItsWay: the first creation is slow and
// lands after the flow gave up; meanwhile the order service sheds load
// with 503. The undo is left to recovery, which cancels the order once the
// slow creation has landed.
func TestUndoWhileTheFirstCreationIsOnItsWay(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	q.fault(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, LatencyMS: 2000, Count: 1})
	f := New(q.deps(t), undoConfig(1200*time.Millisecond), WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	shedding := make(chan struct{})
	go func() {
		defer close(shedding)
		// A bound on the test, not a timing assertion.
		for deadline := time.Now().Add(5 * time.Second); q.State().Order.Requests[sandbox.RouteCreateOrder] == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				return
			}
		}
		q.fault(t, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Status: 503})
	}()
	if _, err := f.Place(context.Background(), Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 12, Quantity: 2})}); err == nil {
		t.Fatal("Place succeeded, want the slow creation to fail it")
	}
	<-shedding
	checkNothingPending(t, q, f)
}

// lateOrders holds back the forward creation (its answer lost, the request
// still on its way) and lets it land just after the undo's first
// read-back: the interleaving the creation sent again is for.
type lateOrders struct {
	Orders
	mu      chan struct{}
	stashed *order.CreateRequest
	landed  bool
}

func (l *lateOrders) Create(ctx context.Context, r order.CreateRequest) (order.Order, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	if !l.landed {
		if l.stashed == nil {
			l.stashed = &r
		}
		return order.Order{}, &upstream.Error{Service: "order", Op: "create", Kind: upstream.KindTimeout, Err: context.DeadlineExceeded}
	}
	return l.Orders.Create(ctx, r)
}

func (l *lateOrders) ByReference(ctx context.Context, ref string) (order.Order, error) {
	o, err := l.Orders.ByReference(ctx, ref)
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	if !l.landed && l.stashed != nil {
		l.landed = true
		if _, cerr := l.Orders.Create(ctx, *l.stashed); cerr != nil {
			return order.Order{}, cerr
		}
	}
	return o, err
}

// diesAt fails the journal write at (and every write after it), as a
// process killed there would.
type diesAt struct {
	Journal
	at   func(Record) bool
	mu   chan struct{}
	dead bool
}

func (d *diesAt) Update(ctx context.Context, rec Record) error {
	d.mu <- struct{}{}
	defer func() { <-d.mu }()
	if d.dead || d.at(rec) {
		d.dead = true
		return errors.New("process killed")
	}
	return d.Journal.Update(ctx, rec)
}

// TestUndoOfACreationTheJournalLostTrackOf: the process dies as the
// decision to undo is journaled, so the record has neither the payment's
// nor the reservation's id (no phase before the capture's journals its
// outcome), and the creation, sent with them, lands just after recovery's
// read-back. Recovery reads those ids back, sends the creation
// again as it was first sent, finds the order, and cancels it.
func TestUndoOfACreationTheJournalLostTrackOf(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	// The capture fails: the saga goes backward.
	q.fault(t, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, Status: 503})
	d := q.deps(t)
	journal := d.Journal
	d.Orders = &lateOrders{Orders: d.Orders, mu: make(chan struct{}, 1)}
	d.Journal = &diesAt{Journal: journal, mu: make(chan struct{}, 1), at: func(r Record) bool { return r.State == StateCompensating }}
	a := New(d, undoConfig(10*time.Second), WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	if _, err := a.Place(context.Background(), Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 12, Quantity: 2})}); err == nil {
		t.Fatal("Place succeeded, want the crash as the undo is journaled")
	}
	d.Journal = journal
	b := New(d, undoConfig(10*time.Second), WithBackoff(5*time.Millisecond, 50*time.Millisecond),
		WithClock(func() time.Time { return time.Now().Add(time.Minute) }))
	if n, err := b.Recover(context.Background()); n != 1 || err != nil {
		t.Fatalf("Recover: %d sagas, %v; want 1", n, err)
	}
	checkNothingPending(t, q, b)
}

// commitInDoubt places req with f, then journals its completed saga back
// as being undone from a commit in doubt, its lease gone, with undone the
// undos already journaled: what a runner that stopped there leaves.
func commitInDoubt(t *testing.T, f *Flow, req Request, undone ...Undo) Record {
	t.Helper()
	ctx := context.Background()
	if _, err := f.Place(ctx, req); err != nil {
		t.Fatal(err)
	}
	rec := sagaOf(t, f, req)
	for deadline := time.Now().Add(5 * time.Second); rec.State != StateCompleted; rec = sagaOf(t, f, req) {
		if time.Now().After(deadline) {
			t.Fatalf("the checkout's record is %s, want it completed", rec.State)
		}
		time.Sleep(5 * time.Millisecond) // the completion is journaled just after the answer
	}
	rec.State, rec.Step, rec.Undone, rec.Result = StateCompensating, StepConfirmed, undone, nil
	rec.Failure = &Failure{Code: problem.CodeUnavailable, Detail: "The product service is unavailable."}
	rec.Owner, rec.LeaseUntil = "", f.cfg.now().Add(-time.Second)
	rec.Version++
	if err := f.deps.Journal.Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestACommitFoundAfterTheUndoIsNoCompletion: a saga whose commit was in
// doubt, and whose order and payment an earlier pass of its undo already
// cancelled and refunded (a pass of an earlier version, which went on
// when it could not release the stock), is not taken for completed when
// the next pass finds the reservation committed after all: its order is
// cancelled and its money given back, so the saga ends failed, and the
// stock sold for it is reported, rather than a 201 for an order that does
// not stand.
func TestACommitFoundAfterTheUndoIsNoCompletion(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	clock := clocktest.New(time.Now())
	deps := q.deps(t)
	deps.Journal = newMemJournal()
	f := New(deps, DefaultConfig(), WithClock(clock.Now), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	req := Request{UserID: ada, Key: "undone, then found committed", Input: visa(Item{ProductID: 7, Quantity: 1})}
	rec := commitInDoubt(t, f, req, UndoOrder, UndoPayment)
	if _, err := deps.Orders.Cancel(ctx, rec.OrderID); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Payments.Refund(ctx, rec.PaymentID); err != nil {
		t.Fatal(err)
	}

	if n, err := f.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v; want the saga taken over", n, err)
	}
	if got := sagaOf(t, f, req); got.State != StateFailed {
		t.Errorf("the saga ended %s, want %s: its order is cancelled and its payment refunded", got.State, StateFailed)
	}
	// A 503 runs again on retry, with references of its own: a new order
	// is fine, the undone one is not.
	if res, err := f.Place(ctx, req); err == nil && res.Order.ID == rec.OrderID {
		t.Errorf("the key's retry got the cancelled order %s back", res.Order.ID)
	}
}

// TestAnUndoWaitsForACommitInDoubt: while the release that settles a
// commit in doubt cannot be made (the product service down), the undo
// leaves the confirmed order and the captured payment as they are, since
// the checkout may have completed; once the service answers and the
// reservation is found committed, the checkout completes.
func TestAnUndoWaitsForACommitInDoubt(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	clock := clocktest.New(time.Now())
	deps := q.deps(t)
	deps.Journal = newMemJournal()
	cfg := configWith(func(c *Config) { c.CompensationBudget = 100 * time.Millisecond })
	f := New(deps, cfg, WithClock(clock.Now), WithBackoff(time.Millisecond, 5*time.Millisecond))
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	req := Request{UserID: ada, Key: "commit in doubt, product service down", Input: visa(Item{ProductID: 7, Quantity: 1})}
	rec := commitInDoubt(t, f, req)

	q.fault(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteRelease, Status: 503})
	if n, err := f.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v; want the saga taken over", n, err)
	}
	q.quiesce()
	st := q.State()
	for _, o := range st.Order.Orders {
		if o.ID == rec.OrderID && o.Status != order.StatusConfirmed {
			t.Errorf("order %s %s while its commit was in doubt, want it left confirmed", o.ID, o.Status)
		}
	}
	for _, p := range st.Payment.Payments {
		if p.ID == rec.PaymentID && p.Status != payment.StatusCaptured {
			t.Errorf("payment %s %s while its commit was in doubt, want it left captured", p.ID, p.Status)
		}
	}
	if got := sagaOf(t, f, req); got.State.Finished() {
		t.Fatalf("the saga ended %s with its release unmade, want it left to recovery", got.State)
	}

	q.clearFaults(t)
	clock.Advance(DefaultConfig().LeaseTTL + time.Second)
	if n, err := f.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover once the service is back = %d, %v; want the saga taken over", n, err)
	}
	if got := sagaOf(t, f, req); got.State != StateCompleted {
		t.Errorf("the saga ended %s, want %s: its reservation was committed", got.State, StateCompleted)
	}
	q.quiesce()
	checkInvariants(t, q.State())
}

// TestALostRecordIsRunAgainPastTheStockRead: a checkout whose record was
// lost (a Redis restarted without its append-only file) is run again when
// its key is retried, under the same references, even though the stock
// read now shows its product sold out: the units are its own. The retry
// gets the order placed the first time, not a 409 out of stock.
func TestALostRecordIsRunAgainPastTheStockRead(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	if err := q.SetStock(7, 2); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := Request{UserID: ada, Key: "lost record, last units", Input: visa(Item{ProductID: 7, Quantity: 2})}
	first := New(withJournal(q.deps(t), newMemJournal()), DefaultConfig())
	t.Cleanup(func() { _ = first.Close(ctx) })
	placed, err := first.Place(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	q.quiesce()

	again := New(withJournal(q.deps(t), newMemJournal()), DefaultConfig())
	t.Cleanup(func() { _ = again.Close(ctx) })
	res, err := again.Place(ctx, req)
	if err != nil {
		t.Fatalf("the retry after the record was lost: %v, want order %s", err, placed.Order.ID)
	}
	if res.Order.ID != placed.Order.ID {
		t.Errorf("the retry got order %s, want %s, placed the first time", res.Order.ID, placed.Order.ID)
	}
	q.quiesce()
	checkInvariants(t, q.State())
	if lvl := stockOf(q.State(), 7); lvl.Sold != 2 {
		t.Errorf("product 7 sold %d units, want 2: one order of 2", lvl.Sold)
	}
}

// withJournal returns d with j as its journal.
func withJournal(d Deps, j Journal) Deps {
	d.Journal = j
	return d
}

// undocumentedPayment reads every payment back with a status the payment
// service never documented.
type undocumentedPayment struct{ Payments }

func (u undocumentedPayment) ByReference(ctx context.Context, ref string) (payment.Payment, error) {
	p, err := u.Payments.ByReference(ctx, ref)
	p.Status = "under_review"
	return p, err
}

// TestAnUnknownPaymentStatusIsNotSettled: an undo that reads the payment
// back and finds a status the service never documented does not take it
// for one that holds no money: the undo is unsettled, for recovery to
// look again, rather than the checkout ended with money perhaps held.
func TestAnUnknownPaymentStatusIsNotSettled(t *testing.T) {
	q := startQuietSandbox(t, sandbox.Config{})
	deps := q.deps(t)
	deps.Journal = newMemJournal()
	ctx := context.Background()
	req := Request{UserID: ada, Key: "payment of an unknown status", Input: visa(Item{ProductID: 7, Quantity: 1})}
	placed := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = placed.Close(ctx) })
	if _, err := placed.Place(ctx, req); err != nil {
		t.Fatal(err)
	}
	deps.Payments = undocumentedPayment{deps.Payments}
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(ctx) })
	// Its authorization in doubt, so that the undo reads the payment back.
	s := f.sagaFrom(f.hold(Record{ID: sagaOf(t, placed, req).ID, UserID: ada, State: StateCompensating, Step: StepStarted}))
	if s.authorized != unknown {
		t.Fatalf("authorization %v at the first step, want it in doubt", s.authorized)
	}
	if s.settlePayment(ctx) {
		t.Error("a payment of an undocumented status was taken as holding no money")
	}
}
