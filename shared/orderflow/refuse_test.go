package orderflow

import (
	"context"
	"testing"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/product"
)

// refusedRecord returns the record of userID's key in f's journal, which
// must be refused.
func refusedRecord(t *testing.T, f *Flow, userID, key string) Record {
	t.Helper()
	rec, ok, err := f.deps.Journal.Get(context.Background(), f.sagaID(userID, key))
	if err != nil || !ok || rec.State != StateFailed || !rec.Refused {
		t.Fatalf("record of key %q: %+v, %v, %v; want it refused", key, rec, ok, err)
	}
	return rec
}

// TestARefusalIsJudgedAfresh: nothing is kept for an order refused as it
// was priced. Its retry, same body included, is judged again rather than
// replayed, under the same attempt, which sent nothing. Refused at a later
// attempt, after one whose references were sent, the record is kept as
// long as any, so that the key's next attempt does not send them again.
func TestARefusalIsJudgedAfresh(t *testing.T) {
	rt, _, f := startFlow(t, nil)
	ctx := context.Background()
	unknown := visa(Item{ProductID: 9999, Quantity: 1})
	for range 2 {
		res, err := f.Place(ctx, Request{UserID: ada, Key: "unknown", Input: unknown})
		if codeOf(t, err) != problem.CodeInvalid || res.Replayed {
			t.Fatalf("an unknown product: %v (replayed %v), want %s, not replayed", err, res.Replayed, problem.CodeInvalid)
		}
	}
	// The first attempt fails, undone; the second is refused.
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteAuthorize, Status: 503}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1})}); codeOf(t, err) != problem.CodeUnavailable {
		t.Fatalf("the payment service down: %v, want %s", err, problem.CodeUnavailable)
	}
	if err := rt.InjectFault(ctx, sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteProducts, Status: 500}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1})}); codeOf(t, err) != problem.CodeUnavailable {
		t.Fatalf("the catalog down: %v, want %s", err, problem.CodeUnavailable)
	}
	_ = f.Close(ctx) // the refusals are journaled
	first, later := refusedRecord(t, f, ada, "unknown"), refusedRecord(t, f, ada, "k")
	if kept := first.ExpiresAt.Sub(first.UpdatedAt); first.Attempt != 0 || kept != keylessRetention {
		t.Errorf("refused at attempt %d: kept %v, want attempt 0 kept %v", first.Attempt, kept, keylessRetention)
	}
	if kept := later.ExpiresAt.Sub(later.UpdatedAt); later.Attempt != 1 || kept != f.cfg.Retention {
		t.Errorf("refused at attempt %d: kept %v, want attempt 1 kept %v", later.Attempt, kept, f.cfg.Retention)
	}
}

// gatedPricing holds every pricing until open is closed, once entered has
// been closed by the first.
type gatedPricing struct {
	Catalog
	entered, open chan struct{}
}

func (g *gatedPricing) GetMany(ctx context.Context, ids []int64) (product.Batch, error) {
	select {
	case <-g.entered:
	default:
		close(g.entered)
	}
	<-g.open
	return g.Catalog.GetMany(ctx, ids)
}

// TestAnotherBodyWhileTheFirstIsPriced: a request with another body, while
// the key's first request is still being priced, is told to wait rather
// than refused as a reuse: the first may yet be refused, which keeps
// nothing for the key. Once it is, the other body places its order.
func TestAnotherBodyWhileTheFirstIsPriced(t *testing.T) {
	rt, _, _ := startFlow(t, nil)
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	gate := &gatedPricing{Catalog: deps.Catalog, entered: make(chan struct{}), open: make(chan struct{})}
	deps.Catalog = gate
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 9999, Quantity: 1})})
		first <- err
	}()
	<-gate.entered
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, ok, err := f.deps.Journal.Get(ctx, f.sagaID(ada, "k")); err != nil {
			t.Fatal(err)
		} else if ok {
			break
		}
		if time.Now().After(deadline) {
			close(gate.open)
			t.Fatal("the first request's record was not written within 5s of its pricing")
		}
	}
	fixed := Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1})}
	if _, err := f.Place(ctx, fixed); codeOf(t, err) != problem.CodeIdempotencyBusy {
		t.Errorf("another body while the first is priced: %v, want %s", err, problem.CodeIdempotencyBusy)
	}
	close(gate.open)
	if err := <-first; codeOf(t, err) != problem.CodeInvalid {
		t.Fatalf("the first request: %v, want %s", err, problem.CodeInvalid)
	}
	if res, err := f.Place(ctx, fixed); err != nil || res.Replayed {
		t.Errorf("another body once the first was refused: %v (replayed %v), want a new order", err, res.Replayed)
	}
}

// gatedRefusals holds the write of a refused record until open is closed.
type gatedRefusals struct {
	Journal
	open chan struct{}
}

func (g gatedRefusals) Update(ctx context.Context, rec Record) error {
	if rec.Refused {
		<-g.open
	}
	return g.Journal.Update(ctx, rec)
}

// TestARefusalIsAnsweredBeforeItIsJournaled: the answer to an order that
// cannot be priced does not wait for its record, written behind it.
func TestARefusalIsAnsweredBeforeItIsJournaled(t *testing.T) {
	rt, _, _ := startFlow(t, nil)
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	open := make(chan struct{})
	deps.Journal = gatedRefusals{Journal: deps.Journal, open: open}
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	answered := make(chan error, 1)
	go func() {
		_, err := f.Place(context.Background(), Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 9999, Quantity: 1})})
		answered <- err
	}()
	select {
	case err := <-answered:
		if codeOf(t, err) != problem.CodeInvalid {
			t.Errorf("an unknown product: %v, want %s", err, problem.CodeInvalid)
		}
	case <-time.After(10 * time.Second):
		t.Error("no answer while the refusal's record was held")
	}
	close(open)
}
