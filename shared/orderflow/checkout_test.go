package orderflow

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/payment"
)

func TestKeyReusedWithAnotherBody(t *testing.T) {
	_, _, f := startFlow(t, nil)
	ctx := context.Background()
	if _, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1})}); err != nil {
		t.Fatal(err)
	}
	_, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 2})})
	if got := codeOf(t, err); got != problem.CodeIdempotencyReused {
		t.Errorf("same key, another body: got %q, want %q", got, problem.CodeIdempotencyReused)
	}
	// The key is the user's: another user's same key is another checkout.
	if _, err := f.Place(ctx, Request{UserID: "usr_grace", Key: "k", Input: visa(Item{ProductID: 2, Quantity: 2})}); err != nil {
		t.Errorf("another user's same key: %v, want an order", err)
	}
}

// TestKeyReusedWithABodyThatReadsAlike: a payment token may hold the
// characters that separate lines, so a body whose token reads as one more
// line is another body for its key, not the first one replayed.
func TestKeyReusedWithABodyThatReadsAlike(t *testing.T) {
	_, _, f := startFlow(t, nil)
	ctx := context.Background()
	_, _ = f.Place(ctx, Request{UserID: ada, Key: "k", Input: Input{Items: []Item{{ProductID: 2, Quantity: 1}}, PaymentToken: "3*1;tok_visa"}})
	_, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1}, Item{ProductID: 3, Quantity: 1})})
	if got := codeOf(t, err); got != problem.CodeIdempotencyReused {
		t.Errorf("same key, a body that read alike: got %q (%v), want %q", got, err, problem.CodeIdempotencyReused)
	}
}

// TestFingerprintOfTheEarlierVersion: a body whose token holds no ';'
// (every real one) is fingerprinted as the earlier version did, byte for
// byte, so that its records are replayed across an upgrade and replicas
// still on that version, during a rolling one, read the new records.
func TestFingerprintOfTheEarlierVersion(t *testing.T) {
	// sha256("2*1;3*4;tok_visa"), its first 16 bytes in hex.
	const earlier = "d2fb45ec716eb8f53a1e5efc0ce6c1c3"
	if got := fingerprint([]line{{ProductID: 2, Quantity: 1}, {ProductID: 3, Quantity: 4}}, "tok_visa"); got != earlier {
		t.Errorf("fingerprint = %s, want the earlier version's %s", got, earlier)
	}
}

func TestSameOrderInAnotherLayoutIsReplayed(t *testing.T) {
	rt, _, f := startFlow(t, nil)
	ctx := context.Background()
	first, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 3, Quantity: 2}, Item{ProductID: 2, Quantity: 1})})
	if err != nil {
		t.Fatal(err)
	}
	// The same order, its lines split and listed in another order.
	again, err := f.Place(ctx, Request{UserID: ada, Key: "k",
		Input: visa(Item{ProductID: 2, Quantity: 1}, Item{ProductID: 3, Quantity: 1}, Item{ProductID: 3, Quantity: 1})})
	if err != nil || again.Order.ID != first.Order.ID || !again.Replayed || first.Replayed {
		t.Errorf("replay: order %q replayed %v, err %v; want %q replayed (first replayed %v)",
			again.Order.ID, again.Replayed, err, first.Order.ID, first.Replayed)
	}
	if n := len(rt.Sandbox.State().Order.Orders); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

func TestRetryWhileRunningIsBusy(t *testing.T) {
	rt, _, f := startFlow(t, nil)
	ctx := context.Background()
	if err := rt.InjectFault(ctx, sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteAuthorize, LatencyMS: 300, Count: 1}); err != nil {
		t.Fatal(err)
	}
	req := Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 5, Quantity: 1})}
	type result struct {
		res Result
		err error
	}
	firstc := make(chan result, 1)
	go func() {
		res, err := f.Place(ctx, req)
		firstc <- result{res, err}
	}()
	// The second request arrives once the first has journaled its saga.
	id := f.sagaID(ada, "k")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, ok, _ := f.deps.Journal.Get(ctx, id); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first request never journaled its saga")
		}
		time.Sleep(time.Millisecond)
	}
	busy, err := f.Place(ctx, req)
	var pe *problem.Error
	if codeOf(t, err) != problem.CodeIdempotencyBusy || !asProblem(err, &pe) || pe.RetryAfter < time.Second || busy.Replayed {
		t.Fatalf("retry while running: %v (replayed %v), want %s with a Retry-After, not a replay",
			err, busy.Replayed, problem.CodeIdempotencyBusy)
	}
	first := <-firstc
	if first.err != nil {
		t.Fatalf("first request: %v", first.err)
	}
	again, err := f.Place(ctx, req)
	if err != nil || again.Order.ID != first.res.Order.ID {
		t.Errorf("retry after the first finished: order %q, err %v; want %q", again.Order.ID, err, first.res.Order.ID)
	}
}

func TestRetryAfterUnavailableRunsNewAttempt(t *testing.T) {
	rt, _, f := startFlow(t, nil, WithBackoff(time.Millisecond, 5*time.Millisecond))
	ctx := context.Background()
	if err := rt.InjectFault(ctx, sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Status: 503}); err != nil {
		t.Fatal(err)
	}
	req := Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 6, Quantity: 1})}
	if _, err := f.Place(ctx, req); codeOf(t, err) != problem.CodeUnavailable {
		t.Fatalf("with the order service down: %v, want %s", err, problem.CodeUnavailable)
	}
	if err := rt.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := f.Place(ctx, req)
	if err != nil || res.Replayed {
		t.Fatalf("retry once the service is back: replayed %v, %v; want a new order", res.Replayed, err)
	}
	f.completions.await(ctx, f.sagaID(ada, "k"))
	rec, _, _ := f.deps.Journal.Get(ctx, f.sagaID(ada, "k"))
	if rec.Attempt != 1 || rec.State != StateCompleted {
		t.Errorf("journal: attempt %d, state %s; want attempt 1 completed", rec.Attempt, rec.State)
	}
	st := rt.Sandbox.State()
	checkInvariants(t, st)
	if n := len(st.Payment.Payments); n != 2 {
		t.Errorf("%d payments, want 2: the voided first attempt's and the captured second's", n)
	}
}

func TestDeclinedIsReplayed(t *testing.T) {
	rt, _, f := startFlow(t, nil)
	ctx := context.Background()
	req := Request{UserID: ada, Key: "k", Input: Input{Items: []Item{{ProductID: 7, Quantity: 1}}, PaymentToken: payment.TokenDeclined}}
	for i, wantReplayed := range []bool{false, true} {
		res, err := f.Place(ctx, req)
		if codeOf(t, err) != problem.CodePaymentDeclined || res.Replayed != wantReplayed {
			t.Errorf("request %d: %v replayed %v; want %s replayed %v", i+1, err, res.Replayed, problem.CodePaymentDeclined, wantReplayed)
		}
	}
	if n := len(rt.Sandbox.State().Payment.Payments); n != 1 {
		t.Errorf("%d authorizations, want 1: the retry is answered from the journal", n)
	}
}

func asProblem(err error, pe **problem.Error) bool {
	p, ok := err.(*problem.Error)
	*pe = p
	return ok
}

// raceLost is a journal whose first Create loses to another request with
// the same key and body, whose attempt has just failed with a retryable
// error, as a concurrent request on another replica would leave it.
type raceLost struct {
	*memJournal
	raced atomic.Bool
}

func (r *raceLost) Create(ctx context.Context, rec Record) (Record, bool, error) {
	if r.raced.CompareAndSwap(false, true) {
		other := Record{ID: rec.ID, UserID: rec.UserID, Key: rec.Key, Fingerprint: rec.Fingerprint, Version: 1,
			State: StateFailed, Failure: &Failure{Code: problem.CodeUnavailable, Detail: "A service was down."}}
		if _, created, err := r.memJournal.Create(ctx, other); err != nil || !created {
			return Record{}, false, fmt.Errorf("the other request's record: created %v, %v", created, err)
		}
	}
	return r.memJournal.Create(ctx, rec)
}

// TestAttemptAfterALostRaceStartsAfresh: a request that priced its order
// and then lost the key to another runs the new attempt the key's failed
// record calls for, priced once: it pays what the order costs.
func TestAttemptAfterALostRaceStartsAfresh(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	deps.Journal = &raceLost{memJournal: newMemJournal()}
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	res, err := f.Place(context.Background(), Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 5, Quantity: 1})})
	price := money.New(priceOf(t, rt.Sandbox, 5), "EUR")
	if err != nil || res.Order.Total != price || res.Payment.Amount != price {
		t.Fatalf("Place: order total %v, payment %v, %v; want both %v", res.Order.Total, res.Payment.Amount, err, price)
	}
	for _, p := range rt.Sandbox.State().Payment.Payments {
		if p.Amount != price {
			t.Errorf("payment %s of %v, want %v", p.ID, p.Amount, price)
		}
	}
}

// TestCheckoutWithoutAKeyIsKeptBriefly: the record of a checkout sent
// without an Idempotency-Key, whose outcome no retry can ask for, is kept
// keylessRetention once finished, not Retention: it would otherwise hold
// a place in the journal's bound for a day. So is the record of an order
// refused as it was priced, for which nothing is kept.
func TestCheckoutWithoutAKeyIsKeptBriefly(t *testing.T) {
	_, _, f := startFlow(t, nil)
	ctx := context.Background()
	for _, key := range []string{"", "k"} {
		if _, err := f.Place(ctx, Request{UserID: ada, Key: key, Input: visa(Item{ProductID: 2, Quantity: 1})}); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
	}
	if _, err := f.Place(ctx, Request{UserID: ada, Key: "unknown", Input: visa(Item{ProductID: 9999, Quantity: 1})}); problem.From(err).Code != problem.CodeInvalid {
		t.Fatalf("an unknown product: %v, want %s", err, problem.CodeInvalid)
	}
	_ = f.Close(ctx) // the completion records are written
	j := f.deps.Journal.(timedJournal).Journal.(*memJournal)
	j.mu.Lock()
	defer j.mu.Unlock()
	kept := map[string]time.Duration{}
	for _, rec := range j.recs {
		kept[rec.Key] = rec.ExpiresAt.Sub(rec.UpdatedAt)
	}
	want := map[string]time.Duration{"": keylessRetention, "k": DefaultConfig().Retention, "unknown": keylessRetention}
	if !maps.Equal(kept, want) {
		t.Errorf("kept, by key: %v; want %v", kept, want)
	}
}
