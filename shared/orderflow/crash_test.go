package orderflow_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/redisstore"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// errCrashed is what a crashed journal answers: the process that wrote to
// it is gone.
var errCrashed = errors.New("process killed")

// crashJournal dies at one write of a saga, as a process killed there
// would: the write lands in the store or not (landed), and nothing written
// after it ever does. The flow stops at its first failed journal write
// without another upstream call, so what the upstreams hold is what a
// SIGKILL at that instant would leave.
type crashJournal struct {
	orderflow.Journal
	at     func(orderflow.Record) bool
	landed bool
	dead   atomic.Bool
}

func (c *crashJournal) write(rec orderflow.Record, do func() error) error {
	if c.dead.Load() {
		return errCrashed
	}
	if !c.at(rec) {
		return do()
	}
	c.dead.Store(true)
	if c.landed {
		if err := do(); err != nil {
			return err
		}
	}
	return errCrashed
}

func (c *crashJournal) Create(ctx context.Context, rec orderflow.Record) (orderflow.Record, bool, error) {
	var existing orderflow.Record
	created := false
	err := c.write(rec, func() (err error) {
		existing, created, err = c.Journal.Create(ctx, rec)
		return err
	})
	return existing, created, err
}

func (c *crashJournal) Update(ctx context.Context, rec orderflow.Record) error {
	return c.write(rec, func() error { return c.Journal.Update(ctx, rec) })
}

// crashPoint is a moment of a checkout at which its BFF dies.
type crashPoint struct {
	name string
	at   func(orderflow.Record) bool
	// fault, when set, fails one step (its service answers 500), so the
	// crash happens once its siblings in the phase are done: while the
	// saga is undone, or as it is left to recovery.
	fault *stepFault
	// completes: recovery drives it forward and the retry gets the order;
	// otherwise it is undone and the retry places the order afresh.
	completes bool
	// completesUnwritten is completes when the crash comes before the
	// record is written.
	completesUnwritten bool
	// answered: the crash comes after the checkout answered with its
	// order, as its completion is journaled behind the answer.
	answered bool
	// call, when set, is the step whose call the process dies sending,
	// in place of a journal write: the call is not sent, and the steps
	// beside it in its phase land.
	call string
}

// stepFault is a step's write failing: the route of its service, and the
// status it answers.
type stepFault struct {
	service, route string
	status         int
}

var (
	failPricing       = &stepFault{sandbox.ServiceProduct, sandbox.RouteProducts, 500}
	failReserve       = &stepFault{sandbox.ServiceProduct, sandbox.RouteReserve, 500}
	failAuthorize     = &stepFault{sandbox.ServicePayment, sandbox.RouteAuthorize, 500}
	failCreate        = &stepFault{sandbox.ServiceOrder, sandbox.RouteCreateOrder, 500}
	failCapture       = &stepFault{sandbox.ServicePayment, sandbox.RouteCapture, 500}
	failConfirm       = &stepFault{sandbox.ServiceOrder, sandbox.RouteConfirm, 500}
	refuseConfirm     = &stepFault{sandbox.ServiceOrder, sandbox.RouteConfirm, 409}
	failCommit        = &stepFault{sandbox.ServiceProduct, sandbox.RouteCommit, 500}
	failCommitRefused = &stepFault{sandbox.ServiceProduct, sandbox.RouteCommit, 404}
)

// atLetGo is the write that ends a saga's lease for recovery to take it
// over at once.
func atLetGo(r orderflow.Record) bool {
	return r.State == orderflow.StateRunning && !r.LeaseUntil.After(time.Now())
}

// atPriced is the write of the prices, beside the first phase.
func atPriced(r orderflow.Record) bool {
	return r.State == orderflow.StateRunning && r.Step == orderflow.StepStarted && len(r.Items) > 0
}

func atStep(st orderflow.Step) func(orderflow.Record) bool {
	return func(r orderflow.Record) bool { return r.State == orderflow.StateRunning && r.Step == st }
}

func atState(s orderflow.State) func(orderflow.Record) bool {
	return func(r orderflow.Record) bool { return r.State == s }
}

func atUndone(u orderflow.Undo) func(orderflow.Record) bool {
	return func(r orderflow.Record) bool { return len(r.Undone) > 0 && r.Undone[len(r.Undone)-1] == u }
}

// crashPoints are the phase boundaries of the saga, and each of its steps
// failing while its siblings succeed. A crash as a phase's record is
// written (landed false) comes after the phase's upstream writes: they
// happened and the journal does not know it.
var crashPoints = []crashPoint{
	// The first record is written while the order is priced.
	{name: "started", at: atStep(orderflow.StepStarted)},
	// The prices are journaled beside the first phase, whose writes may
	// have landed: recovery, the capture not yet sent, undoes them.
	{name: "priced", at: atPriced},
	// Pricing failed (the catalog down): nothing was sent, and the retry,
	// the catalog back, places the order.
	{name: "pricing fails", at: atState(orderflow.StateFailed), fault: failPricing},
	{name: "captured and confirmed", at: atStep(orderflow.StepConfirmed), completes: true},
	// The completion is journaled just after the answer.
	{name: "committed", at: atState(orderflow.StateCompleted), completes: true, answered: true},
	{name: "reserve fails", at: atState(orderflow.StateCompensating), fault: failReserve},
	{name: "authorize fails", at: atState(orderflow.StateCompensating), fault: failAuthorize},
	// The order fails beside the reservation and the hold: nothing was
	// captured, and every step is undone.
	{name: "create fails", at: atState(orderflow.StateCompensating), fault: failCreate},
	// The capture fails while the order is confirmed: every step is
	// undone, the confirmed order cancelled.
	{name: "capture fails", at: atState(orderflow.StateCompensating), fault: failCapture},
	{name: "undone order", at: atUndone(orderflow.UndoOrder), fault: failCapture},
	{name: "undone payment", at: atUndone(orderflow.UndoPayment), fault: failCapture},
	{name: "undone reservation", at: atUndone(orderflow.UndoReservation), fault: failCapture},
	{name: "failed", at: atState(orderflow.StateFailed), fault: failCapture},
	// The confirmation failed or was refused (an order cancelled
	// meanwhile) while the money was taken: nothing is sold yet, and the
	// order is undone, refund included. Before the decision to undo is
	// journaled, the journal says priced, the capture read back sends
	// recovery forward, and the order goes through.
	{name: "confirm fails", at: atState(orderflow.StateCompensating), fault: failConfirm, completesUnwritten: true},
	{name: "confirm refused", at: atState(orderflow.StateCompensating), fault: refuseConfirm, completesUnwritten: true},
	// The commit may have sold the stock of the confirmed order: the saga
	// can only go forward, and recovery completes it.
	{name: "commit fails", at: atLetGo, fault: failCommit, completes: true},
	// The commit refused outright: nothing was sold, and the confirmed
	// order is undone. Before the decision to undo is journaled, the
	// journal says confirmed: recovery goes forward, and the order goes
	// through.
	{name: "commit refused", at: atState(orderflow.StateCompensating), fault: failCommitRefused, completesUnwritten: true},
	// The refund of a payment taken beside a confirmation that failed.
	{name: "refunded payment", at: atUndone(orderflow.UndoPayment), fault: failConfirm},
	{name: "released after a refund", at: atUndone(orderflow.UndoReservation), fault: failConfirm},
	// Dying as a step is sent, its siblings in the phase landing: the
	// money taken or not decides the way.
	{name: "sending the reservation", call: "reserve"},
	{name: "sending the authorization", call: "authorize"},
	{name: "sending the order", call: "create"},
	{name: "sending the capture", call: "capture"},
	{name: "sending the confirmation", call: "confirm", completes: true},
	{name: "sending the commit", call: "commit", completes: true},
}

// dyingAt is deps whose call of step kills the process: j dies, and the
// call is not sent.
func dyingAt(deps orderflow.Deps, step string, j *crashJournal) orderflow.Deps {
	die := func(s string) bool {
		if s != step {
			return false
		}
		j.dead.Store(true)
		return true
	}
	deps.Catalog = dyingCatalog{deps.Catalog, die}
	deps.Payments = dyingPayments{deps.Payments, die}
	deps.Orders = dyingOrders{deps.Orders, die}
	return deps
}

// dying makes call, the call of step, unless the process dies sending it.
func dying[T any](die func(string) bool, step string, call func() (T, error)) (T, error) {
	if die(step) {
		var zero T
		return zero, errCrashed
	}
	return call()
}

type dyingCatalog struct {
	orderflow.Catalog
	die func(string) bool
}

func (d dyingCatalog) Reserve(ctx context.Context, r product.ReserveRequest) (product.Reservation, error) {
	return dying(d.die, "reserve", func() (product.Reservation, error) { return d.Catalog.Reserve(ctx, r) })
}

func (d dyingCatalog) CommitReservation(ctx context.Context, id string) (product.Reservation, error) {
	return dying(d.die, "commit", func() (product.Reservation, error) { return d.Catalog.CommitReservation(ctx, id) })
}

type dyingPayments struct {
	orderflow.Payments
	die func(string) bool
}

func (d dyingPayments) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Payment, error) {
	return dying(d.die, "authorize", func() (payment.Payment, error) { return d.Payments.Authorize(ctx, r) })
}

func (d dyingPayments) Capture(ctx context.Context, id string) (payment.Payment, error) {
	return dying(d.die, "capture", func() (payment.Payment, error) { return d.Payments.Capture(ctx, id) })
}

type dyingOrders struct {
	orderflow.Orders
	die func(string) bool
}

func (d dyingOrders) Create(ctx context.Context, r order.CreateRequest) (order.Order, error) {
	return dying(d.die, "create", func() (order.Order, error) { return d.Orders.Create(ctx, r) })
}

func (d dyingOrders) Confirm(ctx context.Context, id string, r order.ConfirmRequest) (order.Order, error) {
	return dying(d.die, "confirm", func() (order.Order, error) { return d.Orders.Confirm(ctx, id, r) })
}

// store is one of the journal's stores. setup readies it for the tests of
// group and returns open, which makes a test's store and its two journals:
// the first for the process that dies, the second for the one that
// recovers.
type store struct {
	name  string
	setup func(group *testing.T) (open func(t *testing.T) (first, second func() orderflow.Journal))
}

type opener = func(t *testing.T) (first, second func() orderflow.Journal)

// stores are the journal's two stores: a state file, and one Redis server
// shared by a group's tests, each under a prefix of its own.
var stores = []store{
	{name: "bolt", setup: func(*testing.T) opener {
		return func(t *testing.T) (func() orderflow.Journal, func() orderflow.Journal) {
			path := filepath.Join(t.TempDir(), "bff.db")
			var st *boltstore.Store
			open := func() orderflow.Journal {
				if st != nil {
					// The dying process's file lock is released when it dies.
					_ = st.Close()
				}
				s, err := boltstore.Open(path, boltstore.DefaultConfig())
				if err != nil {
					t.Fatalf("open %s: %v", path, err)
				}
				st = s
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			return open, open
		}
	}},
	{name: "redis", setup: func(group *testing.T) opener {
		c := redistest.Client(group)
		return func(t *testing.T) (func() orderflow.Journal, func() orderflow.Journal) {
			prefix := redistest.Prefix(t)
			open := func() orderflow.Journal { return redisstore.NewJournal(c, prefix) }
			return open, open
		}
	}},
}

// TestCrashAtEveryStep kills a checkout at each step boundary, forward and
// while compensating, with the step's record written or not, in both
// stores; a fresh instance on the same store recovers it, and the retry of
// the key gets its outcome. The sandbox's invariants hold after each.
func TestCrashAtEveryStep(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			open := st.setup(t)
			for _, cp := range crashPoints {
				if cp.call != "" {
					t.Run(cp.name, func(t *testing.T) { crashAndRecover(t, open, cp, false) })
					continue
				}
				for _, landed := range []bool{true, false} {
					name := cp.name + "/unwritten"
					if landed {
						name = cp.name + "/written"
					}
					t.Run(name, func(t *testing.T) { crashAndRecover(t, open, cp, landed) })
				}
			}
		})
	}
}

func crashAndRecover(t *testing.T, open opener, cp crashPoint, landed bool) {
	ctx := context.Background()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now})
	first, second := open(t)
	if cp.fault != nil {
		if err := rt.InjectFault(ctx, cp.fault.service, sandbox.Fault{Route: cp.fault.route, Status: cp.fault.status}); err != nil {
			t.Fatal(err)
		}
	}
	req := orderflow.Request{UserID: "usr_ada", Key: "crash-key",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}

	if !landed && cp.completesUnwritten {
		cp.completes = true
	}
	dying := &crashJournal{Journal: first(), at: cp.at, landed: landed}
	deps := flowDeps(t, rt, dying)
	if cp.call != "" {
		dying.at = func(orderflow.Record) bool { return false }
		deps = dyingAt(deps, cp.call, dying)
	}
	a := flowOver(t, deps, time.Now, testFlowConfig())
	// A crash behind the answer comes after the order was answered, as
	// the process would have; one before it, never.
	_, err := a.Place(ctx, req)
	switch {
	case err == nil && !cp.answered:
		t.Fatalf("the checkout crashed at %s and still returned an order", cp.name)
	case err != nil && cp.answered:
		t.Fatalf("the checkout crashed at %s, behind its answer, and answered %v", cp.name, err)
	}
	// Close waits for a completion record still being written.
	_ = a.Close(ctx)
	if !dying.dead.Load() {
		t.Fatalf("the checkout never reached the crash point %s", cp.name)
	}
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	// The survivor's clock is past the dead runner's lease.
	b := newFlow(t, rt, second(), func() time.Time { return time.Now().Add(2 * time.Minute) })
	if _, err := b.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	recovered := quietState(t, rt)
	checkQuiet(t, recovered)
	// The retry gets the order recovery completed, or, the checkout undone
	// with nothing held, places it afresh.
	res, err := b.Place(ctx, req)
	if err != nil {
		t.Fatalf("retry after recovery: %v, want an order", err)
	}
	confirmed := confirmedOrders(recovered)
	if cp.completes && (len(confirmed) != 1 || confirmed[0] != res.Order.ID || !res.Replayed) {
		t.Errorf("retry got order %q (replayed %v), confirmed before it %v: want the recovered order, replayed",
			res.Order.ID, res.Replayed, confirmed)
	}
	if !cp.completes && (len(confirmed) != 0 || res.Replayed) {
		t.Errorf("confirmed orders %v after undoing the checkout, retry replayed %v: want none, and a new order", confirmed, res.Replayed)
	}
	final := quietState(t, rt)
	checkQuiet(t, final)
	if confirmed := confirmedOrders(final); len(confirmed) != 1 || confirmed[0] != res.Order.ID {
		t.Errorf("confirmed orders %v, want exactly the retry's %q", confirmed, res.Order.ID)
	}
	if n, err := b.Recover(ctx); err != nil || n != 0 {
		t.Errorf("a second recovery pass took %d sagas (%v), want none", n, err)
	}
}

// quietState is rt's state once the system is quiet: every invariant holds
// and no order is pending, or five seconds have passed. A checkout commits
// its stock and journals its completion just after its answer.
func quietState(t *testing.T, rt *sandboxtest.Running) sandbox.State {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := rt.State(t)
		if quiet(st) || time.Now().After(deadline) {
			return st
		}
	}
}

func quiet(st sandbox.State) bool {
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusPending {
			return false
		}
	}
	return len(st.Invariants()) == 0
}

// checkQuiet fails t with every invariant st breaks, and for any order left
// pending.
func checkQuiet(t *testing.T, st sandbox.State) {
	t.Helper()
	for _, err := range st.Invariants() {
		t.Errorf("invariant: %v", err)
	}
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusPending {
			t.Errorf("order %s (%s) is left pending", o.ID, o.Reference)
		}
	}
}

func confirmedOrders(st sandbox.State) []string {
	return withStatus(st.Order.Orders, order.StatusConfirmed, func(o order.Order) (string, string) { return o.ID, o.Status })
}

// withStatus returns the ids of the records among items whose status is
// status, of reads each one's id and status.
func withStatus[T any](items []T, status string, of func(T) (id, status string)) []string {
	var ids []string
	for _, it := range items {
		if id, st := of(it); st == status {
			ids = append(ids, id)
		}
	}
	return ids
}

// newFlow is a Flow over rt's services and j, with a fast breaker and
// backoff so that an injected fault ends a checkout in milliseconds.
func newFlow(t testing.TB, rt *sandboxtest.Running, j orderflow.Journal, now func() time.Time, opts ...orderflow.Option) *orderflow.Flow {
	t.Helper()
	return newFlowWith(t, rt, j, now, testFlowConfig(), opts...)
}

// testFlowConfig is the settings of newFlow's flows.
func testFlowConfig() orderflow.Config {
	cfg := orderflow.DefaultConfig()
	cfg.Name, cfg.CompensationBudget = "bff-test", 2*time.Second
	return cfg
}

// newFlowWith is newFlow with the settings cfg.
func newFlowWith(t testing.TB, rt *sandboxtest.Running, j orderflow.Journal, now func() time.Time, cfg orderflow.Config, opts ...orderflow.Option) *orderflow.Flow {
	t.Helper()
	return flowOver(t, flowDeps(t, rt, j), now, cfg, opts...)
}

// flowDeps are the services of rt, through clients with a fast breaker,
// and the journal j.
func flowDeps(t testing.TB, rt *sandboxtest.Running, j orderflow.Journal) orderflow.Deps {
	t.Helper()
	settings := upstream.DefaultConfig()
	settings.Breaker.OpenTimeout = 50 * time.Millisecond
	c := rt.Clients(t, settings)
	return orderflow.Deps{Catalog: c.Product, Orders: c.Order, Payments: c.Payment, Profiles: c.User, Notifier: c.Notification, Journal: j}
}

// flowOver is a Flow over deps with the settings cfg and a fast backoff,
// closed at the end of the test.
func flowOver(t testing.TB, deps orderflow.Deps, now func() time.Time, cfg orderflow.Config, opts ...orderflow.Option) *orderflow.Flow {
	t.Helper()
	f := orderflow.New(deps, cfg,
		append([]orderflow.Option{orderflow.WithClock(now), orderflow.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	return f
}

// TestRecoveryWaitsForThePaymentService crashes a checkout as its capture
// is journaled, after every step happened, and recovers it while the
// payment service cannot say whether the money was taken: recovery leaves
// the saga as it is, undoing nothing, and the next pass, the service back,
// completes it.
func TestRecoveryWaitsForThePaymentService(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { recoverWithoutThePaymentService(t, st) })
	}
}

func recoverWithoutThePaymentService(t *testing.T, st store) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
	open, _ := st.setup(t)(t)
	req := orderflow.Request{UserID: "usr_ada", Key: "unsure",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	dying := &crashJournal{Journal: open(), at: atStep(orderflow.StepConfirmed)}
	a := newFlow(t, rt, dying, time.Now)
	if _, err := a.Place(ctx, req); err == nil || !dying.dead.Load() {
		t.Fatalf("Place = %v, want the crash as the capture is journaled", err)
	}
	_ = a.Close(ctx)
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RoutePaymentByReference, Status: 503}); err != nil {
		t.Fatal(err)
	}
	// A short deadline: the read-back gives up within it.
	cfg := testFlowConfig()
	cfg.Timeout = 300 * time.Millisecond
	b := newFlowWith(t, rt, open(), func() time.Time { return time.Now().Add(2 * time.Minute) }, cfg)
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 saga, left for the next pass", n, err)
	}
	undecided := rt.State(t)
	for _, o := range undecided.Order.Orders {
		if o.Status != order.StatusConfirmed {
			t.Errorf("order %s is %s while the payment could not be read back, want it left confirmed", o.ID, o.Status)
		}
	}
	for _, p := range undecided.Payment.Payments {
		if p.Status != payment.StatusCaptured {
			t.Errorf("payment %s is %s while it could not be read back, want it left captured", p.ID, p.Status)
		}
	}
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	c := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(4 * time.Minute) })
	if n, err := c.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("second Recover = %d, %v; want 1 saga", n, err)
	}
	final := quietState(t, rt)
	checkQuiet(t, final)
	res, err := c.Place(ctx, req)
	if confirmed := confirmedOrders(final); err != nil || len(confirmed) != 1 || confirmed[0] != res.Order.ID || !res.Replayed {
		t.Errorf("retry: order %q (replayed %v), %v; confirmed %v: want the recovered order, replayed", res.Order.ID, res.Replayed, err, confirmed)
	}
}

// TestRecoveryAfterTheReservationExpired crashes a checkout right after its
// capture and recovers it once the reservation has expired: recovery
// reserves the stock again, moves the order onto the new reservation and
// commits it; or, when the stock is gone by then, refunds and cancels, and
// the retry is told the items are out of stock. A first recovery pass cut
// short while it moves the order (a crash as the new reservation's id is
// journaled, or the order service down) leaves the next pass to commit the
// new reservation only once the order is on it.
func TestRecoveryAfterTheReservationExpired(t *testing.T) {
	tests := []struct {
		name      string
		stockGone bool
		interrupt string
		// lost loses the record: "after" once the checkout is recovered,
		// its order on the second reservation; "before" recovery runs,
		// its reservation expired; "mid-move" after a recovery pass cut
		// short (interrupt), the second reservation made but the order
		// not yet on it. The key's retry then runs the checkout again,
		// with stock units on hand (none: the last units were its own).
		lost  string
		stock int
		// onHand is product 9's stock from the start (0: the sandbox's).
		onHand int
	}{
		{name: "stock left"},
		{name: "record lost after", lost: "after"},
		{name: "record lost after, stock left", lost: "after", stock: 10},
		{name: "record lost before", stockGone: true, lost: "before"},
		// The last units, held by the second reservation (the sandbox
		// sets no stock while units are held: -1 leaves it).
		{name: "record lost mid-move", interrupt: crashWritten, lost: "mid-move", stock: -1, onHand: 3},
		{name: "stock gone", stockGone: true},
		{name: crashWritten, interrupt: crashWritten},
		{name: crashUnwritten, interrupt: crashUnwritten},
		{name: orderDown, interrupt: orderDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := clocktest.New(time.Now())
			rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, ReservationTTL: time.Minute})
			if tt.onHand > 0 {
				if err := rt.SetStock(ctx, 9, tt.onHand); err != nil {
					t.Fatal(err)
				}
			}
			open, _ := stores[0].setup(t)(t)
			req := orderflow.Request{UserID: "usr_ada", Key: "late",
				Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 3}}, PaymentToken: payment.TokenVisa}}
			crashAfterTheCapture(t, rt, open, req)
			clock.Advance(2 * time.Minute)
			if tt.stockGone {
				if err := rt.SetStock(ctx, 9, 0); err != nil {
					t.Fatal(err)
				}
			}
			if tt.lost == "before" {
				retryAfterTheRecordIsLost(t, rt, stores[0].setup(t), req, "", tt.stock)
				return
			}
			recoverAt := 2 * time.Minute
			if tt.interrupt != "" {
				interruptedRecovery(t, rt, open, tt.interrupt)
				recoverAt = 4 * time.Minute // past the first pass's lease
			}
			if tt.lost == "mid-move" {
				// The order was confirmed before the crash; only its
				// reservation was left to settle.
				confirmed := confirmedOrders(rt.State(t))
				if len(confirmed) != 1 {
					t.Fatalf("confirmed %v before the retry, want the order", confirmed)
				}
				retryAfterTheRecordIsLost(t, rt, stores[0].setup(t), req, confirmed[0], tt.stock)
				return
			}
			b := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(recoverAt) })
			if n, err := b.Recover(ctx); err != nil || n != 1 {
				t.Fatalf("Recover = %d, %v; want 1 saga", n, err)
			}
			st := rt.State(t)
			checkQuiet(t, st)
			res, err := b.Place(ctx, req)
			if tt.stockGone {
				if code := problemCode(err); code != problem.CodeOutOfStock || len(confirmedOrders(st)) != 0 {
					t.Errorf("retry: %v, confirmed %v; want %s and no order", err, confirmedOrders(st), problem.CodeOutOfStock)
				}
				return
			}
			if err != nil {
				t.Fatalf("retry: %v, want the recovered order", err)
			}
			if confirmed := confirmedOrders(st); len(confirmed) != 1 || confirmed[0] != res.Order.ID || !res.Replayed {
				t.Errorf("retry got order %q (replayed %v), confirmed %v: want the recovered one, replayed", res.Order.ID, res.Replayed, confirmed)
			}
			committed := 0
			for _, r := range st.Product.Reservations {
				if r.Status == product.ReservationCommitted {
					committed++
				}
				if r.ID == res.Order.ReservationID && (!strings.HasSuffix(r.Reference, "-res1") || r.Status != product.ReservationCommitted) {
					t.Errorf("the order's reservation is %q (%s), want the second one, committed", r.Reference, r.Status)
				}
			}
			if committed != 1 {
				t.Errorf("%d reservations committed, want the order's alone", committed)
			}
			if tt.lost == "after" {
				retryAfterTheRecordIsLost(t, rt, stores[0].setup(t), req, res.Order.ID, tt.stock)
			}
		})
	}
}

// TestALateMoveCannotTakeTheOrderBack: a move of the order onto a
// reservation made again, sent by a runner that then stalled past its lease
// and landing after recovery moved the order on and committed, is refused
// (409 reservation_superseded), and the order stays on the reservation
// committed. Recovery here moves the order twice (see expiredTwice); move
// 1 is then sent again, as the stalled runner's would land.
func TestALateMoveCannotTakeTheOrderBack(t *testing.T) {
	ctx := context.Background()
	rt, open, req := expiredTwice(t)
	b := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(4 * time.Minute) })
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 saga", n, err)
	}
	st := rt.State(t)
	checkQuiet(t, st)
	id, first, second := movedTwice(t, st)

	orders := rt.Clients(t, upstream.DefaultConfig()).Order
	_, err := orders.Reassign(ctx, id, order.ReassignRequest{ReservationID: first.ID, Sequence: 1})
	if ue, ok := upstream.As(err); !ok || ue.Status != http.StatusConflict || ue.Code != "reservation_superseded" {
		t.Errorf("the late move: %v, want 409 reservation_superseded", err)
	}
	st = rt.State(t)
	checkQuiet(t, st)
	if o := orderOf(st, id); o.ReservationID != second.ID {
		t.Errorf("the order is on reservation %s after the late move, want %s", o.ReservationID, second.ID)
	}
	// The move the order is on, sent again, changes nothing.
	if o, err := orders.Reassign(ctx, id, order.ReassignRequest{ReservationID: second.ID, Sequence: 2}); err != nil || o.ReservationID != second.ID {
		t.Errorf("move 2 sent again: reservation %q, %v; want %s", o.ReservationID, err, second.ID)
	}
	if res, err := b.Place(ctx, req); err != nil || res.Order.ID != id {
		t.Errorf("retry: order %q, %v; want %s", res.Order.ID, err, id)
	}
}

// TestRecoveryBehindItsOwnMoveGoesOn: a recovery pass whose journal lost
// its last writes (a Redis failing over to a replica behind it) finds the
// order moved on by its own earlier run, its move refused as superseded;
// it goes on under the last reservation made, and the order is completed
// on it. The pass that moved the order twice (see expiredTwice) had every
// write from its second reservation's number on acknowledged and lost. A
// pass that cannot look the later reservation up (the product service
// down) leaves the checkout to the next one, its money and order kept.
func TestRecoveryBehindItsOwnMoveGoesOn(t *testing.T) {
	ctx := context.Background()
	rt, open, req := expiredTwice(t)
	losing := &forgetfulJournal{Journal: open(), forget: func(r orderflow.Record) bool { return r.Reserves == 2 }}
	b := newFlow(t, rt, losing, func() time.Time { return time.Now().Add(4 * time.Minute) })
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 saga", n, err)
	}
	_ = b.Close(ctx)
	if !losing.forgetting.Load() {
		t.Fatal("the pass never journaled a second reservation")
	}
	id, _, second := movedTwice(t, rt.State(t))
	later := func() time.Time { return time.Now().Add(6 * time.Minute) }
	if recs, err := open().Expired(ctx, later(), 10); err != nil || len(recs) != 1 || recs[0].Reserves != 1 {
		t.Fatalf("the journal after the loss: %+v, %v; want the record at the first reservation made again", recs, err)
	}
	if err := rt.InjectFault(ctx, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReservationByReference, Status: 503}); err != nil {
		t.Fatal(err)
	}
	down := newFlow(t, rt, open(), later)
	if n, err := down.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover with the lookup down = %d, %v; want 1 saga, left for the next pass", n, err)
	}
	_ = down.Close(ctx)
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	st := rt.State(t)
	if o := orderOf(st, id); o.Status != order.StatusConfirmed || o.ReservationID != second.ID || len(refunded(st)) > 0 {
		t.Fatalf("with the lookup down, the order is %s on %s, refunded %v; want it confirmed on %s, nothing refunded",
			o.Status, o.ReservationID, refunded(st), second.ID)
	}
	c := newFlow(t, rt, open(), func() time.Time { return later().Add(2 * time.Minute) })
	if n, err := c.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover behind the move = %d, %v; want 1 saga, completed", n, err)
	}
	st = quietState(t, rt)
	checkQuiet(t, st)
	if o := orderOf(st, id); o.ReservationID != second.ID || o.Status != order.StatusConfirmed {
		t.Errorf("the order is %s on reservation %s, want confirmed on %s", o.Status, o.ReservationID, second.ID)
	}
	if res, err := c.Place(ctx, req); err != nil || res.Order.ID != id || !res.Replayed {
		t.Errorf("retry: order %q (replayed %v), %v; want %s, replayed", res.Order.ID, res.Replayed, err, id)
	}
}

// expiredTwice starts a sandbox whose reservations last a minute and
// places a checkout that crashes after its capture, its commit refused;
// then a first recovery pass, 2 minutes on, crashes as it journals the
// reservation made again, which expires in turn. The next pass moves the
// order onto that reservation (move 1), finds it expired, reserves a third
// time and moves the order there (move 2). It returns the sandbox, the
// journal's opener and the checkout's request.
func expiredTwice(t *testing.T) (*sandboxtest.Running, func() orderflow.Journal, orderflow.Request) {
	t.Helper()
	clock := clocktest.New(time.Now())
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, ReservationTTL: time.Minute})
	open, _ := stores[0].setup(t)(t)
	req := orderflow.Request{UserID: "usr_ada", Key: "late-move",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 3}}, PaymentToken: payment.TokenVisa}}
	crashAfterTheCapture(t, rt, open, req)
	clock.Advance(2 * time.Minute)
	interruptedRecovery(t, rt, open, crashWritten)
	clock.Advance(2 * time.Minute) // the first new reservation expires too
	return rt, open, req
}

// crashAfterTheCapture places req and crashes as its capture is
// journaled, the commit failing meanwhile: the reservation is left to
// expire.
func crashAfterTheCapture(t *testing.T, rt *sandboxtest.Running, open func() orderflow.Journal, req orderflow.Request) {
	t.Helper()
	ctx := context.Background()
	if err := rt.InjectFault(ctx, failCommit.service, sandbox.Fault{Route: failCommit.route, Status: 503}); err != nil {
		t.Fatal(err)
	}
	dying := &crashJournal{Journal: open(), at: atStep(orderflow.StepConfirmed), landed: true}
	a := newFlow(t, rt, dying, time.Now)
	if _, err := a.Place(ctx, req); err == nil || !dying.dead.Load() {
		t.Fatalf("Place = %v, want the crash after the capture", err)
	}
	_ = a.Close(ctx)
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
}

// movedTwice returns the one confirmed order of st and the reservations
// made again for it, the first expired and the second committed.
func movedTwice(t *testing.T, st sandbox.State) (id string, first, second product.Reservation) {
	t.Helper()
	confirmed := confirmedOrders(st)
	if len(confirmed) != 1 {
		t.Fatalf("confirmed %v, want the order", confirmed)
	}
	for _, r := range st.Product.Reservations {
		switch {
		case strings.HasSuffix(r.Reference, "-res1"):
			first = r
		case strings.HasSuffix(r.Reference, "-res2"):
			second = r
		}
	}
	if first.Status != product.ReservationExpired || second.Status != product.ReservationCommitted {
		t.Fatalf("reservations made again: %+v, %+v; want the first expired, the second committed", first, second)
	}
	return confirmed[0], first, second
}

// refunded lists the payments of st refunded.
func refunded(st sandbox.State) []string {
	return withStatus(st.Payment.Payments, payment.StatusRefunded, func(p payment.Payment) (string, string) { return p.ID, p.Status })
}

// orderOf returns the order id of st.
func orderOf(st sandbox.State, id string) order.Order {
	for _, o := range st.Order.Orders {
		if o.ID == id {
			return o
		}
	}
	return order.Order{}
}

// forgetfulJournal acknowledges every write from the first that forget
// matches on without keeping it, as a journal that loses its last writes
// does (a Redis failing over to a replica behind it).
type forgetfulJournal struct {
	orderflow.Journal
	forget     func(orderflow.Record) bool
	forgetting atomic.Bool
}

func (f *forgetfulJournal) Update(ctx context.Context, rec orderflow.Record) error {
	if f.forgetting.Load() || f.forget(rec) {
		f.forgetting.Store(true)
		return nil
	}
	return f.Journal.Update(ctx, rec)
}

// TestALostRecordsRerunKeepsTheOrderItFinds: a checkout completed, its
// record lost (a Redis restarted without its append-only file), is run
// again by its key's retry under the same references, and that run's
// capture fails for a while (the payment service down). The run finds the
// stock sold by the first: it answers 503 and leaves the checkout to be
// finished, going forward, by the key's next retry; nothing is refunded or
// cancelled, and the key keeps its one order. The first checkout sold its
// stock under its first reservation, or under one made again after the
// first expired (recovered after a crash).
func TestALostRecordsRerunKeepsTheOrderItFinds(t *testing.T) {
	for _, remade := range []bool{false, true} {
		t.Run(map[bool]string{false: "first reservation", true: "reservation made again"}[remade], func(t *testing.T) {
			ctx := context.Background()
			clock := clocktest.New(time.Now())
			rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, ReservationTTL: time.Minute})
			open, _ := stores[0].setup(t)(t)
			req := orderflow.Request{UserID: "usr_ada", Key: "lost-then-down",
				Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
			var id string
			if remade {
				crashAfterTheCapture(t, rt, open, req)
				clock.Advance(2 * time.Minute)
				r := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(2 * time.Minute) })
				if n, err := r.Recover(ctx); err != nil || n != 1 {
					t.Fatalf("Recover = %d, %v; want 1 saga", n, err)
				}
				confirmed := confirmedOrders(rt.State(t))
				if len(confirmed) != 1 {
					t.Fatalf("confirmed %v after the recovery, want the order", confirmed)
				}
				id = confirmed[0]
			} else {
				first, err := newFlow(t, rt, open(), time.Now).Place(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				id = first.Order.ID
			}

			lost, _ := stores[0].setup(t)(t)
			if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, Status: 503}); err != nil {
				t.Fatal(err)
			}
			// The replicas' clock is the services' (the first reservation
			// expired by both).
			b := newFlow(t, rt, lost(), clock.Now)
			if _, err := b.Place(ctx, req); problemCode(err) != problem.CodeUnavailable {
				t.Errorf("the rerun with the capture failing: %v, want %s", err, problem.CodeUnavailable)
			}
			st := rt.State(t)
			if o := orderOf(st, id); o.Status != order.StatusConfirmed || len(refunded(st)) > 0 {
				t.Fatalf("after the rerun the order is %s, refunded %v; want it confirmed, nothing refunded", o.Status, refunded(st))
			}
			_ = b.Close(ctx)
			if err := rt.ClearFaults(ctx); err != nil {
				t.Fatal(err)
			}
			c := newFlow(t, rt, lost(), clock.Now)
			if res, err := c.Place(ctx, req); err != nil || res.Order.ID != id {
				t.Errorf("the retry: order %q, %v; want %s", res.Order.ID, err, id)
			}
			st = quietState(t, rt)
			checkQuiet(t, st)
			if confirmed := confirmedOrders(st); len(confirmed) != 1 || len(refunded(st)) > 0 {
				t.Errorf("confirmed %v, refunded %v; want the first order alone, nothing refunded", confirmed, refunded(st))
			}
		})
	}
}

// TestALostRecordsRerunSettlesWhatWasUndone: a checkout undone after its
// capture (the capture applied but its answer lost, then refunded), its
// record lost, is run again by its key's retry under the same references.
// The rerun's capture is refused (the payment refunded), and its undo finds
// the hold it was answered as authorized refunded already: nothing is held,
// and the rerun ends failed rather than left unsettled, so that the key's
// next retry places the order.
func TestALostRecordsRerunSettlesWhatWasUndone(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{})
	open, _ := stores[0].setup(t)(t)
	req := orderflow.Request{UserID: "usr_ada", Key: "undone-then-lost",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, Status: 503, After: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := newFlow(t, rt, open(), time.Now).Place(ctx, req); err == nil {
		t.Fatal("Place succeeded with every capture's answer lost")
	}
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if r := refunded(rt.State(t)); len(r) != 1 {
		t.Fatalf("refunded %v after the first attempt, want its payment", r)
	}

	lost, _ := stores[0].setup(t)(t)
	j := lost()
	b := newFlow(t, rt, j, time.Now)
	if _, err := b.Place(ctx, req); err == nil {
		t.Fatal("the rerun of an undone attempt succeeded")
	}
	if recs, err := j.Expired(ctx, time.Now().Add(time.Hour), 10); err != nil || len(recs) != 0 {
		t.Errorf("unfinished records after the rerun: %+v, %v; want none, its undo settled", recs, err)
	}
	res, err := b.Place(ctx, req)
	if err != nil {
		t.Fatalf("the next retry: %v, want the order", err)
	}
	st := quietState(t, rt)
	checkQuiet(t, st)
	if confirmed := confirmedOrders(st); len(confirmed) != 1 || confirmed[0] != res.Order.ID {
		t.Errorf("confirmed %v, want %s alone", confirmed, res.Order.ID)
	}
}

// TestACheckoutIsNotUndoneBeforeItsStockIsKnown: a checkout whose capture
// fails in doubt, while the product service cannot say whether its stock
// was sold (see soldBefore), answers 503 and is left as it is, its hold and
// order kept; recovery undoes it once the service answers.
func TestACheckoutIsNotUndoneBeforeItsStockIsKnown(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{})
	open, _ := stores[0].setup(t)(t)
	req := orderflow.Request{UserID: "usr_ada", Key: "stock-unknown",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
	for _, f := range []struct {
		service string
		route   string
	}{{sandbox.ServicePayment, sandbox.RouteCapture}, {sandbox.ServiceProduct, sandbox.RouteReservationByReference}} {
		if err := rt.InjectFault(ctx, f.service, sandbox.Fault{Route: f.route, Status: 503}); err != nil {
			t.Fatal(err)
		}
	}
	a := newFlow(t, rt, open(), time.Now)
	if _, err := a.Place(ctx, req); problemCode(err) != problem.CodeUnavailable {
		t.Errorf("Place = %v, want %s", err, problem.CodeUnavailable)
	}
	_ = a.Close(ctx)
	st := rt.State(t)
	// The order was confirmed beside the capture.
	if len(st.Order.Orders) != 1 || st.Order.Orders[0].Status == order.StatusCancelled ||
		len(st.Payment.Payments) != 1 || st.Payment.Payments[0].Status != payment.StatusAuthorized {
		t.Errorf("orders %+v, payments %+v: want the order and its hold kept, nothing undone yet", st.Order.Orders, st.Payment.Payments)
	}
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	b := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(time.Minute) })
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 saga", n, err)
	}
	st = quietState(t, rt)
	checkQuiet(t, st)
	if confirmed := confirmedOrders(st); len(confirmed) != 0 {
		t.Errorf("confirmed %v, want the checkout undone", confirmed)
	}
}

// retryAfterTheRecordIsLost retries req on a journal that has no record of
// it, with stock units of product 9 on hand (-1: as they are): the checkout is run again and
// finds its own reservation. With id, the order placed, the retry answers
// that order, neither out of stock nor undone; with none (its reservation
// expired, none made after it, no stock left), the retry is undone, money
// included, and told it is out of stock.
func retryAfterTheRecordIsLost(t *testing.T, rt *sandboxtest.Running, fresh opener, req orderflow.Request, id string, stock int) {
	t.Helper()
	ctx := context.Background()
	if stock >= 0 {
		if err := rt.SetStock(ctx, 9, stock); err != nil {
			t.Fatal(err)
		}
	}
	open, _ := fresh(t)
	c := newFlow(t, rt, open(), func() time.Time { return time.Now().Add(4 * time.Minute) })
	res, err := c.Place(ctx, req)
	st := rt.State(t)
	checkQuiet(t, st)
	confirmed := confirmedOrders(st)
	if id == "" {
		if code := problemCode(err); code != problem.CodeOutOfStock || len(confirmed) != 0 {
			t.Errorf("the retry once the record is lost: %v, confirmed %v; want %s and no order", err, confirmed, problem.CodeOutOfStock)
		}
		return
	}
	if err != nil || res.Order.ID != id {
		t.Errorf("the retry once the record is lost: order %q, %v; want %s", res.Order.ID, err, id)
	}
	if len(confirmed) != 1 || confirmed[0] != id {
		t.Errorf("confirmed %v, want %s alone", confirmed, id)
	}
}

// The ways interruptedRecovery cuts a recovery pass short.
const (
	crashWritten   = "crash as the new reservation is journaled"
	crashUnwritten = "crash before the new reservation is journaled"
	orderDown      = "order service down as the order is moved"
)

// interruptedRecovery runs a recovery pass, 2 minutes after the crash, that
// is cut short as it moves the order onto a new reservation, in the way
// interrupt names.
func interruptedRecovery(t *testing.T, rt *sandboxtest.Running, open func() orderflow.Journal, interrupt string) {
	t.Helper()
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	if interrupt == orderDown {
		if err := rt.InjectFault(ctx, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteReassign, Status: 503}); err != nil {
			t.Fatal(err)
		}
		first := newFlow(t, rt, open(), later)
		if n, err := first.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("first Recover = %d, %v; want 1 saga, left for the next pass", n, err)
		}
		if err := rt.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
	dying := &crashJournal{Journal: open(), landed: interrupt == crashWritten,
		at: func(r orderflow.Record) bool { return r.Reserves == 1 && r.ReservationID != "" }}
	first := newFlow(t, rt, dying, later)
	_, _ = first.Recover(ctx)
	_ = first.Close(ctx)
	if !dying.dead.Load() {
		t.Fatal("the first recovery pass never journaled a new reservation")
	}
}

func problemCode(err error) problem.Code {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// buggy starts a sandbox of its own and returns it, its clients, and the
// collaborators of a flow over it (with a journal in memory) as edit
// leaves them: edit puts in the one with a bug.
func buggy(t *testing.T, edit func(*orderflow.Deps)) (*sandboxtest.Running, sandboxtest.Clients, orderflow.Deps) {
	t.Helper()
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
	c := rt.Clients(t, upstream.DefaultConfig())
	deps := orderflow.Deps{Catalog: c.Product, Orders: c.Order, Payments: c.Payment, Profiles: c.User,
		Notifier: c.Notification, Journal: orderflow.NewMemJournalForTest()}
	edit(&deps)
	return rt, c, deps
}

// panickyCatalog panics once a reservation it made has been answered, as
// a bug in the step's own code would.
type panickyCatalog struct{ orderflow.Catalog }

func (p panickyCatalog) Reserve(ctx context.Context, r product.ReserveRequest) (product.Reservation, error) {
	if _, err := p.Catalog.Reserve(ctx, r); err != nil {
		return product.Reservation{}, err
	}
	panic("a bug after the reservation")
}

// TestAStepThatPanicsIsSettledByRecovery: a step that panics on a
// goroutine of its own does not take the process down: the panic reaches
// the caller of Place (the server's recovery), the saga is handed to
// recovery, which settles it with every invariant holding, and a retry of
// the key gets an order.
func TestAStepThatPanicsIsSettledByRecovery(t *testing.T) {
	ctx := context.Background()
	rt, _, deps := buggy(t, func(d *orderflow.Deps) { d.Catalog = panickyCatalog{d.Catalog} })
	j := deps.Journal
	a := flowOver(t, deps, time.Now, testFlowConfig())
	req := orderflow.Request{UserID: "usr_ada", Key: "panic-key",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	func() {
		defer func() {
			v := recover()
			if msg, _ := v.(string); !strings.Contains(msg, "a bug after the reservation") {
				t.Fatalf("Place recovered %v, want the step's panic", v)
			}
		}()
		_, err := a.Place(ctx, req)
		t.Fatalf("Place returned %v, want the step's panic", err)
	}()

	b := newFlow(t, rt, j, time.Now)
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover took %d sagas (%v), want the one that panicked, at once", n, err)
	}
	checkQuiet(t, rt.State(t))
	res, err := b.Place(ctx, req)
	if err != nil {
		t.Fatalf("retry after recovery: %v, want an order", err)
	}
	final := quietState(t, rt)
	checkQuiet(t, final)
	if confirmed := confirmedOrders(final); len(confirmed) != 1 || confirmed[0] != res.Order.ID {
		t.Errorf("confirmed orders %v, want exactly the retry's %q", confirmed, res.Order.ID)
	}
}

// heldCatalog holds each Reserve until release is closed, and closes done
// once the reservation is made.
type heldCatalog struct {
	orderflow.Catalog
	started, release, done chan struct{}
}

func (h heldCatalog) Reserve(ctx context.Context, r product.ReserveRequest) (product.Reservation, error) {
	close(h.started)
	<-h.release
	defer close(h.done)
	return h.Catalog.Reserve(ctx, r)
}

// panickyPayments panics in Authorize, the last step of the first phase,
// the one run on the request's goroutine.
type panickyPayments struct{ orderflow.Payments }

func (panickyPayments) Authorize(context.Context, payment.AuthorizeRequest) (payment.Payment, error) {
	panic("a bug in authorize")
}

// TestAStepThatPanicsWaitsForItsSiblings: the last step of a phase panics
// while its sibling (the reservation) is still on its way: the panic
// reaches the caller only once the sibling is done, so that recovery,
// handed the saga then, sees everything the checkout did.
func TestAStepThatPanicsWaitsForItsSiblings(t *testing.T) {
	ctx := context.Background()
	var held heldCatalog
	rt, _, deps := buggy(t, func(d *orderflow.Deps) {
		held = heldCatalog{Catalog: d.Catalog, started: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
		d.Catalog, d.Payments = held, panickyPayments{d.Payments}
	})
	j := deps.Journal
	a := flowOver(t, deps, time.Now, testFlowConfig())
	req := orderflow.Request{UserID: "usr_ada", Key: "panic-sibling",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_, _ = a.Place(ctx, req)
	}()
	<-held.started
	close(held.release)
	if msg, _ := (<-panicked).(string); !strings.Contains(msg, "a bug in authorize") {
		t.Fatalf("Place recovered %q, want the step's panic", msg)
	}
	select {
	case <-held.done:
	default:
		t.Error("the panic reached the caller while the reservation was still on its way")
	}
	b := newFlow(t, rt, j, time.Now)
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the saga, at once", n, err)
	}
	checkQuiet(t, rt.State(t))
}

// panickyPricing panics in GetMany, the pricing of a checkout, which runs
// on a goroutine of its own beside the profile read.
type panickyPricing struct{ orderflow.Catalog }

func (panickyPricing) GetMany(context.Context, []int64) (product.Batch, error) {
	panic("a bug in pricing")
}

// TestAPricingPanicReachesTheCaller: a panic while pricing, on a goroutine
// of its own, is raised again on the caller's goroutine (where the server
// answers it) rather than ending the process, and nothing was done: a
// retry of the key, the bug gone, places the order at once.
func TestAPricingPanicReachesTheCaller(t *testing.T) {
	ctx := context.Background()
	rt, c, deps := buggy(t, func(d *orderflow.Deps) { d.Catalog = panickyPricing{d.Catalog} })
	a := flowOver(t, deps, time.Now, testFlowConfig())
	req := orderflow.Request{UserID: "usr_ada", Key: "panic-pricing",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	func() {
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, "a bug in pricing") {
				t.Fatalf("Place raised %q, want the pricing's panic", msg)
			}
		}()
		_, err := a.Place(ctx, req)
		t.Fatalf("Place returned %v, want the pricing's panic", err)
	}()
	st := rt.State(t)
	checkQuiet(t, st)
	if len(st.Order.Orders) != 0 {
		t.Errorf("orders %v after a checkout that panicked while pricing, want none", st.Order.Orders)
	}
	deps.Catalog = c.Product
	fixed := flowOver(t, deps, time.Now, testFlowConfig())
	if res, err := fixed.Place(ctx, req); err != nil || res.Replayed {
		t.Errorf("retry after the panic: %v (replayed %v), want a new order", err, res.Replayed)
	}
}

// panickyRelease panics when it is asked to release a reservation.
type panickyRelease struct{ orderflow.Catalog }

func (panickyRelease) ReleaseReservation(context.Context, string) (product.Reservation, error) {
	panic("a bug in release")
}

// TestARecoveryThatPanicsLeavesTheSagaToTheNextPass: a panic while a saga
// is recovered does not end the process (which would meet the saga again
// on every start): the pass goes on, and the saga is settled by a later
// pass once the bug is gone.
func TestARecoveryThatPanicsLeavesTheSagaToTheNextPass(t *testing.T) {
	ctx := context.Background()
	rt, c, deps := buggy(t, func(d *orderflow.Deps) { d.Catalog = panickyCatalog{d.Catalog} })
	j := deps.Journal
	a := flowOver(t, deps, time.Now, testFlowConfig())
	req := orderflow.Request{UserID: "usr_ada", Key: "panic-recovery",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	func() {
		defer func() { _ = recover() }()
		_, _ = a.Place(ctx, req)
	}()

	deps.Catalog = panickyRelease{c.Product}
	b := flowOver(t, deps, time.Now, testFlowConfig())
	if n, err := b.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v; want the saga taken, its panic kept to itself", n, err)
	}
	if st := rt.State(t); len(st.Product.Reservations) != 1 || st.Product.Reservations[0].Status != "active" {
		t.Fatalf("after the pass that panicked: reservations %v; want the reservation still held", st.Product.Reservations)
	}

	later := newFlow(t, rt, j, func() time.Time { return time.Now().Add(time.Hour) })
	if n, err := later.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover after the lease = %d, %v; want the saga settled", n, err)
	}
	checkQuiet(t, rt.State(t))
}

// breakingJournal stops writing for good once it has written a record at
// matches: a journal gone from then on (a Redis that stopped answering).
type breakingJournal struct {
	orderflow.Journal
	at     func(orderflow.Record) bool
	broken atomic.Bool
}

var errJournalGone = errors.New("journal gone")

func (b *breakingJournal) Update(ctx context.Context, rec orderflow.Record) error {
	if b.broken.Load() {
		return errJournalGone
	}
	if err := b.Journal.Update(ctx, rec); err != nil {
		return err
	}
	if b.at(rec) {
		b.broken.Store(true)
	}
	return nil
}

// TestJournalLostMidPhaseSendsNothingMore: a lease renewal that fails while
// a phase runs stops the saga before its next phase is sent; recovery,
// the journal back, completes the order.
func TestJournalLostMidPhaseSendsNothingMore(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{})
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "journal.db"), boltstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The capture takes long enough for the lease to be renewed (every
	// third of 150 ms) once the journal is gone.
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, LatencyMS: 300}); err != nil {
		t.Fatal(err)
	}
	cfg := testFlowConfig()
	cfg.LeaseTTL = 150 * time.Millisecond
	a := newFlowWith(t, rt, &breakingJournal{Journal: st, at: atPriced}, time.Now, cfg)
	req := orderflow.Request{UserID: "usr_ada", Key: "journal-lost",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
	if _, err := a.Place(ctx, req); err == nil {
		t.Fatal("Place with its journal gone: an order, want an error")
	}
	_ = a.Close(ctx)
	if !rt.Sandbox.WaitIdle() {
		t.Fatal("the sandbox still had requests in flight after 10s")
	}
	if n := rt.State(t).Product.Requests[sandbox.RouteCommit]; n != 0 {
		t.Errorf("the stock was sent %d commits after the journal was gone, want none", n)
	}

	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	b := newFlow(t, rt, st, func() time.Time { return time.Now().Add(2 * time.Minute) })
	if n, err := b.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover took %d sagas (%v), want 1", n, err)
	}
	checkQuiet(t, quietState(t, rt))
	if res, err := b.Place(ctx, req); err != nil || !res.Replayed {
		t.Errorf("retry after recovery: replayed %v, %v; want the recovered order", res.Replayed, err)
	}
}

// TestARefusalWhileTheJournalIsDown: an order that cannot be priced is
// refused as such while the journal cannot be written, as it would be
// were the journal up: nothing would be kept for it.
func TestARefusalWhileTheJournalIsDown(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	a := newFlow(t, rt, &crashJournal{Journal: orderflow.NewMemJournalForTest(), at: atStep(orderflow.StepStarted)}, time.Now)
	_, err := a.Place(context.Background(), orderflow.Request{UserID: "usr_ada", Key: "journal-down",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9999, Quantity: 1}}, PaymentToken: payment.TokenVisa}})
	if pe := problem.From(err); pe.Code != problem.CodeInvalid {
		t.Errorf("an unknown product with the journal down: %v, want %s", err, problem.CodeInvalid)
	}
}

// TestRecoveryOfAnUnpricedRecord: the process dies as the prices are
// journaled, the first phase sent. Recovery, which finds no prices in the
// record, cannot send the order again: it cancels the one found under its
// reference, or, none found, leaves the saga unfinished until the creation
// can no longer land, and then lets it fail. Nothing is left held.
func TestRecoveryOfAnUnpricedRecord(t *testing.T) {
	for _, tt := range []struct {
		name   string
		create *sandbox.Fault
	}{
		{"order landed", nil},
		{"order never lands", &sandbox.Fault{Route: sandbox.RouteCreateOrder, Drop: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			rt := sandboxtest.Start(t, sandbox.Config{})
			if tt.create != nil {
				if err := rt.InjectFault(ctx, sandbox.ServiceOrder, *tt.create); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testFlowConfig()
			cfg.Timeout = 300 * time.Millisecond
			j := orderflow.NewMemJournalForTest()
			a := newFlowWith(t, rt, &crashJournal{Journal: j, at: atPriced}, time.Now, cfg)
			req := orderflow.Request{UserID: "usr_ada", Key: "unpriced",
				Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
			if _, err := a.Place(ctx, req); err == nil {
				t.Fatal("Place with its process killed as the prices are journaled: an order, want an error")
			}
			// Past the lease, within the window of late writes.
			var skew atomic.Int64
			skew.Store(int64(20 * time.Second))
			b := newFlowWith(t, rt, j, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }, cfg)
			if n, err := b.Recover(ctx); err != nil || n != 1 {
				t.Fatalf("Recover took %d sagas (%v), want 1", n, err)
			}
			if tt.create != nil {
				if n, err := b.Recover(ctx); err != nil || n != 0 {
					t.Fatalf("Recover within the window took %d sagas (%v), want it left until the order can no longer land", n, err)
				}
				if _, err := b.Place(ctx, req); problem.From(err).Code != problem.CodeIdempotencyBusy {
					t.Fatalf("retry within the window: %v, want %s", err, problem.CodeIdempotencyBusy)
				}
				skew.Store(int64(2 * time.Minute))
				if n, err := b.Recover(ctx); err != nil || n != 1 {
					t.Fatalf("Recover once the window passed took %d sagas (%v), want 1", n, err)
				}
			}
			st := quietState(t, rt)
			checkQuiet(t, st)
			if n := st.Product.Requests[sandbox.RouteRelease]; n != 1 {
				t.Errorf("the reservation got %d releases, want 1", n)
			}
			want := map[string]int{order.StatusCancelled: 1}
			if tt.create != nil {
				want = map[string]int{}
			}
			statuses := map[string]int{}
			for _, o := range st.Order.Orders {
				statuses[o.Status]++
			}
			if !maps.Equal(statuses, want) {
				t.Errorf("orders by status: got %v, want %v", statuses, want)
			}
		})
	}
}

// TestCrashDuringRecovery: the replica recovering a saga dies too, at one
// of its own journal writes; a third one finishes what it left, going
// the same way.
func TestCrashDuringRecovery(t *testing.T) {
	cases := []struct {
		name        string
		first, then crashPoint
	}{
		// Forward: the money was taken.
		{"completing", crashPoint{name: "created and captured", at: atStep(orderflow.StepConfirmed)},
			crashPoint{name: "completed", at: atState(orderflow.StateCompleted), completes: true}},
		// Backward: the capture failed, and recovery undoes the rest.
		{"undoing", crashPoint{name: "capture fails", at: atState(orderflow.StateCompensating), fault: failCapture},
			crashPoint{name: "voided", at: atUndone(orderflow.UndoPayment)}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			open := st.setup(t)
			for _, tc := range cases {
				for _, landed := range []bool{true, false} {
					t.Run(fmt.Sprintf("%s/landed=%v", tc.name, landed), func(t *testing.T) {
						crashTwiceAndRecover(t, open, tc.first, tc.then, landed)
					})
				}
			}
		})
	}
}

func crashTwiceAndRecover(t *testing.T, open opener, first, then crashPoint, landed bool) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
	journal, again := open(t)
	if first.fault != nil {
		if err := rt.InjectFault(ctx, first.fault.service, sandbox.Fault{Route: first.fault.route, Status: first.fault.status}); err != nil {
			t.Fatal(err)
		}
	}
	req := orderflow.Request{UserID: "usr_ada", Key: "crash-twice",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}}
	a := newFlow(t, rt, &crashJournal{Journal: journal(), at: first.at, landed: true}, time.Now)
	_, _ = a.Place(ctx, req)
	_ = a.Close(ctx)
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	dying := &crashJournal{Journal: again(), at: then.at, landed: landed}
	b := newFlow(t, rt, dying, func() time.Time { return time.Now().Add(2 * time.Minute) })
	_, _ = b.Recover(ctx)
	_ = b.Close(ctx)
	if !dying.dead.Load() {
		t.Fatalf("recovery never reached %s", then.name)
	}

	c := newFlow(t, rt, again(), func() time.Time { return time.Now().Add(4 * time.Minute) })
	if _, err := c.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	final := quietState(t, rt)
	checkQuiet(t, final)
	if got, want := len(confirmedOrders(final)), map[bool]int{true: 1, false: 0}[then.completes]; got != want {
		t.Errorf("confirmed orders %v, want %d", confirmedOrders(final), want)
	}
	res, err := c.Place(ctx, req)
	if err != nil || res.Replayed != then.completes {
		t.Errorf("retry after recovery: replayed %v, %v; want an order, replayed %v", res.Replayed, err, then.completes)
	}
	checkQuiet(t, quietState(t, rt))
}

// unusableCatalog answers every batch read with a product the BFF cannot
// sell, as the product client does for one priced in no currency it knows,
// and counts the reads.
type unusableCatalog struct {
	orderflow.Catalog
	reads *atomic.Int32
}

func (u unusableCatalog) GetMany(context.Context, []int64) (product.Batch, error) {
	u.reads.Add(1)
	return product.Batch{}, upstream.Unusable("product", "get_many", errors.New("product 4 is priced in \"eur\""))
}

// TestAnUnusableAnswerIsNotAskedAgain: the pricing of an order whose
// products the service answers in a form the BFF cannot use is asked
// once: the answer would be the same, and a read changes nothing. The
// order is refused 503, and nothing is reserved.
func TestAnUnusableAnswerIsNotAskedAgain(t *testing.T) {
	var reads atomic.Int32
	rt, _, deps := buggy(t, func(d *orderflow.Deps) { d.Catalog = unusableCatalog{d.Catalog, &reads} })
	a := flowOver(t, deps, time.Now, testFlowConfig())
	_, err := a.Place(context.Background(), orderflow.Request{UserID: "usr_ada", Key: "unusable-key",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 2}}, PaymentToken: payment.TokenVisa}})
	if code := problemCode(err); code != problem.CodeUnavailable || reads.Load() != 1 {
		t.Errorf("got %v (code %q) after %d reads, want upstream_unavailable after one", err, code, reads.Load())
	}
	if n := rt.State(t).Product.Requests["POST /reservations"]; n != 0 {
		t.Errorf("%d reservations asked for, want none", n)
	}
}

// TestALostRecordOfTheKeysSecondAttempt: a key whose first attempt failed
// and was undone, and whose retry placed the order, loses its record; its
// next retry is numbered afresh, as the first attempt. With the last units
// sold to the key, its stock read falls short: it finds the first
// attempt's reservation released and the second's, goes on under the
// second attempt's references and answers the order placed, not out of
// stock. With stock left nothing tells it apart from a new checkout
// without a read more a checkout: it runs under the first attempt's
// references, whose order was cancelled, undoes its own authorization and
// answers 503, and the retry after, the next attempt, answers the order.
// Either way the key has one order and no money is taken twice.
//
// "released late": the first attempt's reservation expired before its undo
// could release it (the release refused meanwhile), which tells no less.
func TestALostRecordOfTheKeysSecondAttempt(t *testing.T) {
	for _, tt := range []struct {
		name         string
		stock        int
		releasedLate bool
		tries        int // the retries until the order is answered
	}{{"last units", 3, false, 1}, {"last units, released late", 3, true, 1}, {"stock left", 10, false, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := clocktest.New(time.Now())
			rt := sandboxtest.Start(t, sandbox.Config{Clock: clock.Now, ReservationTTL: time.Minute})
			if err := rt.SetStock(ctx, 9, tt.stock); err != nil {
				t.Fatal(err)
			}
			open, _ := stores[0].setup(t)(t)
			req := orderflow.Request{UserID: "usr_ada", Key: "second attempt",
				Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 9, Quantity: 3}}, PaymentToken: payment.TokenVisa}}
			if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteAuthorize, Status: 503}); err != nil {
				t.Fatal(err)
			}
			if tt.releasedLate {
				if err := rt.InjectFault(ctx, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteRelease, Status: 503}); err != nil {
					t.Fatal(err)
				}
			}
			a := newFlow(t, rt, open(), time.Now)
			if _, err := a.Place(ctx, req); problemCode(err) != problem.CodeUnavailable {
				t.Fatalf("first attempt: %v, want %s", err, problem.CodeUnavailable)
			}
			if tt.releasedLate {
				clock.Advance(2 * time.Minute)
			}
			if err := rt.ClearFaults(ctx); err != nil {
				t.Fatal(err)
			}
			placed, err := a.Place(ctx, req)
			if err != nil {
				t.Fatalf("the retry: %v", err)
			}
			checkQuiet(t, quietState(t, rt))
			fresh, _ := stores[0].setup(t)(t)
			c := newFlow(t, rt, fresh(), time.Now)
			for try := 1; try <= tt.tries+1; try++ {
				res, err := c.Place(ctx, req)
				switch {
				case try < tt.tries && problemCode(err) == problem.CodeUnavailable:
				case try >= tt.tries && err == nil && res.Order.ID == placed.Order.ID:
				default:
					t.Errorf("retry %d once the record is lost: order %q, %v; want %s from retry %d on", try, res.Order.ID, err, placed.Order.ID, tt.tries)
				}
			}
			final := quietState(t, rt)
			checkQuiet(t, final)
			if confirmed := confirmedOrders(final); len(confirmed) != 1 {
				t.Errorf("confirmed %v, want the key's one order", confirmed)
			}
			for _, p := range final.Payment.Payments {
				if p.ID != placed.Order.PaymentID && p.Status != payment.StatusRefunded && p.Status != payment.StatusVoided {
					t.Errorf("payment %s is %s, want the order's alone holding money", p.ID, p.Status)
				}
			}
		})
	}
}
