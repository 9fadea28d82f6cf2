package orderflow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
)

// TestPlaceSoak places a few hundred random orders, eight at a time, while
// every service misbehaves at random, and then checks that the system as a
// whole is consistent: the invariants hold, and exactly the orders Place
// reported as placed are confirmed and sold.
func TestPlaceSoak(t *testing.T) {
	const (
		seed    = 20240611
		orders  = 300
		workers = 8
		scarce  = 5 // products 1..scarce have little stock, so some orders run out
	)
	if testing.Short() {
		t.Skip("soak test")
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	q := startQuietSandbox(t, sandbox.Config{Seed: seed})
	for id := int64(1); id <= 40; id++ {
		stock := 100
		if id <= scarce {
			stock = 15
		}
		if err := q.SetStock(id, stock); err != nil {
			t.Fatal(err)
		}
	}
	faults := []struct {
		service string
		fault   sandbox.Fault
	}{
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteProducts, Status: 503, Rate: 0.03}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReserve, Status: 503, Rate: 0.03}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReserve, Drop: true, After: true, Rate: 0.03}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteReserve, LatencyMS: 250, Rate: 0.02}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteCommit, Status: 503, Rate: 0.03}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteCommit, Drop: true, After: true, Rate: 0.03}},
		{sandbox.ServiceProduct, sandbox.Fault{Route: sandbox.RouteRelease, Status: 503, Rate: 0.1}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteAuthorize, Drop: true, Rate: 0.02}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteAuthorize, Drop: true, After: true, Rate: 0.02}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, Status: 503, Rate: 0.03}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, Drop: true, After: true, Rate: 0.03}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteCapture, LatencyMS: 250, Rate: 0.02}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteVoid, Status: 503, Rate: 0.1}},
		{sandbox.ServicePayment, sandbox.Fault{Route: sandbox.RouteRefund, Drop: true, After: true, Rate: 0.05}},
		{sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Status: 503, Rate: 0.02}},
		{sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCreateOrder, Drop: true, After: true, Rate: 0.03}},
		{sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteConfirm, Status: 503, Rate: 0.03}},
		{sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteConfirm, Drop: true, Rate: 0.02}},
		{sandbox.ServiceOrder, sandbox.Fault{Route: sandbox.RouteCancel, Status: 503, Rate: 0.1}},
		{sandbox.ServiceUser, sandbox.Fault{Route: sandbox.RouteUser, Status: 503, Rate: 0.03}},
		{sandbox.ServiceNotification, sandbox.Fault{Route: sandbox.RouteNotify, Status: 503, Rate: 0.2}},
		{sandbox.ServiceNotification, sandbox.Fault{Route: sandbox.RouteNotify, Drop: true, After: true, Rate: 0.05}},
	}
	for _, f := range faults {
		q.fault(t, f.service, f.fault)
	}
	// Bursts of a few faults in a row on one route, injected as orders are
	// handed out, outlast the retries of whichever flows meet them, so that
	// flows fail at every step and compensate.
	burstRoutes := []struct{ service, route string }{
		{sandbox.ServiceProduct, sandbox.RouteReserve}, {sandbox.ServicePayment, sandbox.RouteAuthorize},
		{sandbox.ServiceOrder, sandbox.RouteCreateOrder}, {sandbox.ServicePayment, sandbox.RouteCapture},
		{sandbox.ServiceOrder, sandbox.RouteConfirm}, {sandbox.ServiceProduct, sandbox.RouteCommit},
		{sandbox.ServicePayment, sandbox.RouteVoid}, {sandbox.ServicePayment, sandbox.RouteRefund},
		{sandbox.ServiceProduct, sandbox.RouteRelease}, {sandbox.ServiceOrder, sandbox.RouteCancel},
	}
	burstKinds := []sandbox.Fault{{Status: 503}, {Status: 500}, {Drop: true}, {Drop: true, After: true},
		{Status: 503, After: true}, {LatencyMS: 500}}
	obs := newOutcomes()
	f := New(q.deps(t), configWith(func(c *Config) {
		c.Timeout, c.CompensationBudget, c.NotifyTimeout = 2*time.Second, 5*time.Second, 300*time.Millisecond
	}), WithBackoff(2*time.Millisecond, 50*time.Millisecond), WithObserver(obs))

	// Inputs are drawn up front so that they do not depend on scheduling.
	tokens := []string{payment.TokenVisa, payment.TokenVisa, payment.TokenVisa, payment.TokenVisa, payment.TokenMastercard,
		payment.TokenMastercard, payment.TokenDeclined, payment.TokenInsufficientFunds}
	inputs := make([]Input, orders)
	for i := range inputs {
		items := make([]Item, 1+rng.IntN(3))
		for j := range items {
			id := 1 + rng.Int64N(40)
			if rng.IntN(12) == 0 {
				id = 1 + rng.Int64N(scarce)
			}
			items[j] = Item{ProductID: id, Quantity: 1 + rng.IntN(3)}
		}
		inputs[i] = Input{Items: items, PaymentToken: tokens[rng.IntN(len(tokens))]}
	}

	before := q.State()
	results := make([]Result, orders)
	errs := make([]error, orders)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i], errs[i] = f.Place(context.Background(), Request{UserID: ada, Key: fmt.Sprintf("soak-%d", i), Input: inputs[i]})
			}
		})
	}
	for i := range orders {
		if rng.IntN(8) == 0 {
			r := burstRoutes[rng.IntN(len(burstRoutes))]
			fault := burstKinds[rng.IntN(len(burstKinds))]
			fault.Route, fault.Count = r.route, 2+rng.IntN(5)
			q.fault(t, r.service, fault)
		}
		next <- i
	}
	close(next)
	wg.Wait()
	// A checkout that failed once its stock may have been sold was left to
	// recovery; with the faults gone it completes, and its key's record
	// holds the order.
	q.quiesce()
	q.clearFaults(t)
	if _, err := f.Recover(context.Background()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	recovered := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		// A checkout that failed before its record was written (its reads)
		// has none.
		rec, ok, jerr := f.deps.Journal.Get(context.Background(), f.sagaID(ada, fmt.Sprintf("soak-%d", i)))
		if jerr != nil {
			t.Fatalf("journal record of order %d: %v", i, jerr)
		}
		if ok && rec.State == StateCompleted {
			results[i], errs[i] = *rec.Result, nil
			recovered++
		}
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	q.quiesce()
	// Creating requests that were still in flight when their flow gave up
	// (the injected latencies) can only expire.
	q.clock.Advance(pastTTLs)
	st := q.State()
	checkInvariants(t, st)

	allowed := map[problem.Code]bool{"": true, problem.CodeOutOfStock: true, problem.CodePaymentDeclined: true,
		problem.CodeUnavailable: true, problem.CodeTimeout: true}
	codes := map[problem.Code]int{}
	placed := map[string]bool{}
	wantSold := map[int64]int{}
	for i, err := range errs {
		c := codeOf(t, err)
		codes[c]++
		if !allowed[c] {
			t.Errorf("order %d: got %v, want one of %v", i, err, allowed)
		}
		if err == nil {
			placed[results[i].Order.ID] = true
			for _, l := range results[i].Order.Items {
				wantSold[l.ProductID] += l.Quantity
			}
		}
	}
	confirmed := map[string]bool{}
	for _, o := range st.Order.Orders {
		if o.Status == order.StatusConfirmed {
			confirmed[o.ID] = true
		}
	}
	if len(confirmed) != len(placed) {
		t.Errorf("confirmed orders: got %d, want the %d Place reported", len(confirmed), len(placed))
	}
	for id := range placed {
		if !confirmed[id] {
			t.Errorf("order %s: Place reported it placed, but it is not confirmed", id)
		}
	}
	for _, p := range st.Product.Products {
		if sold := p.Sold - stockOf(before, p.ID).Sold; sold != wantSold[p.ID] {
			t.Errorf("product %d: got %d sold, want %d from the placed orders", p.ID, sold, wantSold[p.ID])
		}
	}
	t.Logf("outcomes: %v (%d completed by recovery); notifications: sent %d, failed %d, dropped %d", codes, recovered,
		obs.notified(NotificationSent), obs.notified(NotificationFailed), obs.notified(NotificationDropped))
}
