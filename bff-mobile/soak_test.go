package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

// TestSoak places a few hundred orders, eight at a time, with random lines,
// random payment tokens and random faults switched on and off at random
// steps, then checks every invariant and that exactly the 201 answers became
// confirmed orders. The seed fixes the orders and which faults are switched
// on; whether a rate-based fault fires still depends on the order in which
// the concurrent requests arrive.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak skipped in -short mode")
	}
	const (
		seed        = 20261127
		orders      = 200
		concurrency = 8
		batch       = 25 // orders between fault changes
	)
	rng := rand.New(rand.NewPCG(seed, seed))
	s, ada := startAsAda(t, "ORDER_TIMEOUT", "500ms", "ORDER_COMPENSATION_BUDGET", "2s", "UPSTREAM_BREAKER_OPEN_TIMEOUT", "500ms")
	grace := s.login(t, "grace@example.com", "battery-staple")
	ctx := context.Background()
	for id := int64(1); id <= 2; id++ {
		s.Stock(t, id, 3) // scarce products make out-of-stock answers
	}
	tokens := []string{"tok_visa", "tok_visa", "tok_visa", "tok_mastercard", "tok_declined", "tok_insufficient_funds"}
	kinds := []sandbox.Fault{
		{Status: 503, Rate: 0.4},
		{Status: 500, Rate: 0.3},
		{LatencyMS: 700, Rate: 0.6},
		{LatencyMS: 50, Rate: 0.5},
		{Drop: true, Rate: 0.3},
		{Drop: true, After: true, Rate: 0.4},
	}

	counts := map[int]int{}
	// retry is an order answered 503 or 504, to send again once settled.
	type retry struct {
		body      map[string]any
		user, key string
	}
	var unsettled []retry
	for start := 0; start < orders; start += batch {
		if err := s.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		// Every kind of fault comes round in turn, at a random step, with
		// sometimes a second random one beside it.
		for k := range 1 + rng.IntN(2) {
			step := scenario.Steps[rng.IntN(len(scenario.Steps))]
			f := kinds[(start/batch)%len(kinds)]
			if k > 0 {
				f = kinds[rng.IntN(len(kinds))]
			}
			f.Route = step.Route
			t.Logf("orders %d-%d: fault %+v", start, start+batch-1, f)
			s.Inject(t, step.Service, f)
		}
		bodies := make([]map[string]any, batch)
		users := make([]string, batch)
		for i := range bodies {
			var lines []map[string]any
			for range 1 + rng.IntN(2) {
				lines = append(lines, line(int64(1+rng.IntN(40)), 1+rng.IntN(3)))
			}
			bodies[i] = orderBody(tokens[rng.IntN(len(tokens))], lines...)
			users[i] = []string{ada, grace}[rng.IntN(2)]
		}
		statuses := make([]int, batch)
		keys := make([]string, batch)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		sem := make(chan struct{}, concurrency)
		for i := range bodies {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				keys[i] = servertest.NewKey()
				r, err := servertest.Send("POST", s.Base+"/v1/orders", bodies[i], "Authorization", users[i], "Idempotency-Key", keys[i])
				statuses[i], errs[i] = r.Status, err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			switch st := statuses[i]; st {
			case 503, 504:
				counts[st]++
				unsettled = append(unsettled, retry{bodies[i], users[i], keys[i]})
			case 201, 402, 409:
				counts[st]++
			default:
				t.Errorf("order %d: status %d, want one of 201, 402, 409, 503, 504", start+i, st)
			}
		}
	}
	t.Logf("soak statuses: %v", counts)
	s.Settle(t, servertest.ExpireHolds) // random latency faults leave late writes behind
	// A checkout that failed once its stock may have been sold was left to
	// recovery, which completes it now the faults are gone: the retry of its
	// key gets the order. The others were undone, and their retry places a
	// new one.
	placed := counts[201]
	for _, u := range unsettled {
		r := servertest.Do(t, "POST", s.Base+"/v1/orders", u.body, "Authorization", u.user, "Idempotency-Key", u.key)
		for range 50 { // a recovery pass may hold the key for a moment
			if r.Status != 409 || r.Problem(t)["code"] != "idempotency_key_in_use" {
				break
			}
			time.Sleep(100 * time.Millisecond)
			r = servertest.Do(t, "POST", s.Base+"/v1/orders", u.body, "Authorization", u.user, "Idempotency-Key", u.key)
		}
		if r.Status == 201 {
			placed++
		}
	}
	st := s.CheckInvariants(t)
	confirmed := 0
	for _, o := range st.Order.Orders {
		if o.Status == "confirmed" {
			confirmed++
		}
	}
	if confirmed != placed {
		t.Errorf("confirmed orders = %d, want one per 201 answer (%d)", confirmed, placed)
	}
	if counts[201] == 0 || counts[201] == orders {
		t.Errorf("statuses %v: want a mix of successes and failures", counts)
	}
}
