package orderflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// running journals a running saga under f's lease and returns its record.
func running(t *testing.T, f *Flow) Record {
	t.Helper()
	rec := Record{ID: "saga-1", UserID: ada, Key: "k", Version: 1, State: StateRunning}
	f.stamp(&rec, f.cfg.LeaseTTL)
	if _, created, err := f.deps.Journal.Create(context.Background(), rec); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
	return rec
}

// TestLetGoIsFinal: once a runner has given its saga up to recovery, no
// write of its own (a lease renewal due just after) takes the lease back.
func TestLetGoIsFinal(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	f := New(depsFor(rt.Clients(t, serviceConfig(nil))), DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	rec := running(t, f)
	led := f.hold(rec)
	if err := led.letGo(ctx); err != nil {
		t.Fatalf("letGo: %v", err)
	}
	if err := led.save(ctx, func(*Record) {}); !errors.Is(err, errReleased) {
		t.Errorf("a renewal after letGo: %v, want %v", err, errReleased)
	}
	got, _, err := f.deps.Journal.Get(ctx, rec.ID)
	if err != nil || got.Version != 2 || got.LeaseUntil.After(time.Now()) {
		t.Errorf("record after letGo and a renewal: version %d, lease until %v, %v; want version 2, its lease ended",
			got.Version, got.LeaseUntil, err)
	}
}

// stalledJournal is a journal whose Update does not answer before its
// context ends, as a paused Redis does.
type stalledJournal struct{ Journal }

func (stalledJournal) Update(ctx context.Context, _ Record) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAJournalWriteEndsWithinTheLease: a journal write that does not
// answer gives the saga up within half the lease it would renew, rather
// than hold the runner (and its caller) for as long as the journal stalls.
func TestAJournalWriteEndsWithinTheLease(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	deps.Journal = stalledJournal{deps.Journal}
	cfg := DefaultConfig()
	cfg.LeaseTTL = 200 * time.Millisecond
	f := New(deps, cfg)
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	rec := running(t, f)
	done := make(chan error, 1)
	go func() { done <- f.hold(rec).save(ctx, func(*Record) {}) }()
	select {
	case err := <-done:
		if !errors.Is(err, errAbandoned) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("save on a stalled journal: %v, want the saga abandoned on the write's deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("save on a stalled journal still waiting after 10s")
	}
}

// unreadableJournal is a journal whose Expired also names a record it
// could not decode, as a store does for a damaged one.
type unreadableJournal struct{ Journal }

func (u unreadableJournal) Expired(ctx context.Context, now time.Time, limit int) ([]Record, error) {
	recs, err := u.Journal.Expired(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	var bad Unreadable
	bad.Add("chk_damaged", errors.New("decode record: invalid character"))
	return recs, bad.Err()
}

// TestRecoveryGoesOnPastAnUnreadableRecord: a record the journal cannot
// decode does not stop recovery; the sagas beside it are settled.
func TestRecoveryGoesOnPastAnUnreadableRecord(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	deps.Journal = unreadableJournal{deps.Journal}
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	// A checkout whose runner died before its first step.
	rec := Record{ID: "saga-1", UserID: ada, Key: "k", Version: 1, State: StateRunning}
	f.stamp(&rec, 0)
	// Long enough ago that nothing it sent can still land.
	rec.Started = rec.UpdatedAt.Add(-time.Hour)
	if _, created, err := f.deps.Journal.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
	if n, err := f.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v; want the sound saga settled and no error", n, err)
	}
	if got, _, _ := f.deps.Journal.Get(ctx, rec.ID); !got.State.Finished() {
		t.Errorf("the sound saga is %s after recovery, want it finished", got.State)
	}
}

// TestReadBackFallsBackOnTheJournal: a recovered order whose order and
// payment cannot be read back is answered with what the journal holds,
// confirmed and captured (every step is done when it is read back), not
// with an order of no status and no total.
func TestReadBackFallsBackOnTheJournal(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	f := New(depsFor(rt.Clients(t, serviceConfig(nil))), DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	total := money.New(1299, "EUR")
	s := &saga{f: f, ref: "chk_unknown", userID: ada, total: total,
		items: []order.Line{{ProductID: 2, Name: "Mug", Quantity: 1, UnitPrice: total}}}
	s.order.ID, s.payment.ID = "ord_x", "pay_x"
	written := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.led = f.hold(Record{ID: "chk_unknown", UserID: ada, Version: 3, UpdatedAt: written})
	s.readBack(context.Background()) // the sandbox knows neither reference
	if o := s.order; o.ID != "ord_x" || o.Status != order.StatusConfirmed || o.Total != total || len(o.Items) != 1 || o.UserID != ada ||
		!o.CreatedAt.Equal(written) {
		t.Errorf("order read back from the journal: %+v", o)
	}
	if p := s.payment; p.ID != "pay_x" || p.Status != payment.StatusCaptured || p.Amount != total {
		t.Errorf("payment read back from the journal: %+v", p)
	}
}
