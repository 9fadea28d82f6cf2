package orderflow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/payment"
)

// TestRecoveryStopsItsUndoWhenCancelled: a recovery pass undoing a saga
// cut before its capture, while every void and release is refused,
// stops when its context ends (the BFF shutting down) rather than retry
// for the compensation budget; the saga stays compensating in the journal,
// and a later pass, the service back, finishes the undo.
func TestRecoveryStopsItsUndoWhenCancelled(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
	j := orderflow.NewMemJournalForTest()
	req := orderflow.Request{UserID: "usr_ada", Key: "cut-before-capture",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
	dying := &crashJournal{Journal: j, landed: true, at: func(r orderflow.Record) bool { return r.State == orderflow.StateRunning && len(r.Items) > 0 }}
	a := newFlow(t, rt, dying, time.Now)
	if _, err := a.Place(ctx, req); err == nil || !dying.dead.Load() {
		t.Fatalf("Place = %v, want the crash", err)
	}
	rt.Inject(t, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteVoid, Status: 503})
	rt.Inject(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteRelease, Status: 503})
	cfg := testFlowConfig()
	cfg.CompensationBudget = 10 * time.Second
	// B's clock runs a lease ahead, then two: A's lease has ended, then
	// the one B held when it stopped.
	var ahead atomic.Int64
	ahead.Store(int64(cfg.LeaseTTL + time.Second))
	b := newFlowWith(t, rt, j, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }, cfg)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.RunRecovery(rctx) }()
	undoing := func() bool {
		st := rt.State(t)
		return st.Payment.Requests[sandbox.RouteVoid]+st.Product.Requests[sandbox.RouteRelease] > 0
	}
	for deadline := time.Now().Add(10 * time.Second); !undoing(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("recovery never tried to undo the saga")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("recovery went on undoing after its context was cancelled")
	}
	unfinished, err := j.Expired(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(unfinished) != 1 || unfinished[0].State != orderflow.StateCompensating {
		t.Fatalf("the sagas unfinished after the stop: %+v (%v), want one compensating", unfinished, err)
	}
	ahead.Add(int64(cfg.LeaseTTL + time.Second))
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := b.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		if rec, _, _ := j.Get(ctx, unfinished[0].ID); rec.State == orderflow.StateFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a later pass never finished the undo")
		}
	}
	rt.CheckInvariants(t)
}

// failingClaims is a journal whose every write of the saga of key fails,
// as a store refusing one record would.
type failingClaims struct {
	orderflow.Journal
	key string
}

func (f failingClaims) Update(ctx context.Context, rec orderflow.Record) error {
	if rec.Key == f.key {
		return errors.New("the store refused the write")
	}
	return f.Journal.Update(ctx, rec)
}

// TestOneFailedClaimCutsNoOtherUndo: in one recovery pass, the claim of
// one saga fails while another saga is being undone, slowly; the other's
// undo goes on to its end rather than stop with the failed claim.
func TestOneFailedClaimCutsNoOtherUndo(t *testing.T) {
	ctx := context.Background()
	rt := sandboxtest.Start(t, sandbox.Config{Clock: clocktest.New(time.Now()).Now})
	j := orderflow.NewMemJournalForTest()
	for _, key := range []string{"refused", "slow"} {
		req := orderflow.Request{UserID: "usr_ada", Key: key,
			Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
		dying := &crashJournal{Journal: j, landed: true, at: func(r orderflow.Record) bool { return r.State == orderflow.StateRunning && len(r.Items) > 0 }}
		if _, err := newFlow(t, rt, dying, time.Now).Place(ctx, req); err == nil || !dying.dead.Load() {
			t.Fatalf("Place %s = %v, want the crash", key, err)
		}
	}
	rt.Inject(t, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteVoid, LatencyMS: 300})
	rt.Inject(t, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteRelease, LatencyMS: 300})
	cfg := testFlowConfig()
	ahead := func() time.Time { return time.Now().Add(cfg.LeaseTTL + time.Second) }
	b := newFlowWith(t, rt, failingClaims{Journal: j, key: "refused"}, ahead, cfg)
	if _, err := b.Recover(ctx); err == nil {
		t.Fatal("Recover = nil, want the refused claim's error")
	}
	unfinished, err := j.Expired(ctx, time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range unfinished {
		if rec.Key != "refused" {
			t.Errorf("saga %q left %s by the pass, want it undone", rec.Key, rec.State)
		}
	}
}
