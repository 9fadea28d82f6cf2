package main

import (
	"testing"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/httpserver/servertest/scenario"
	"storefront.dev/shared/sandbox"
)

// TestTransientFaultIsRetried: one failure of a step (count 1) is absorbed
// by the saga's retry with the same reference, and the order goes through
// exactly once.
func TestTransientFaultIsRetried(t *testing.T) {
	for _, step := range scenario.Steps[:6] {
		t.Run(step.Name, func(t *testing.T) {
			t.Parallel()
			s, ada := startAsAda(t)
			s.Inject(t, step.Service, sandbox.Fault{Route: step.Route, Drop: true, After: true, Count: 1})
			r := s.order(t, ada, orderBody("tok_visa", line(6, 1)))
			if r.Status != 201 {
				t.Fatalf("status %d, want 201 after one retried failure; body %s", r.Status, r.Body)
			}
			s.Settle(t, servertest.KeepClock)
			st := s.CheckInvariants(t)
			if n := len(st.Order.Orders); n != 1 {
				t.Errorf("orders = %d, want 1", n)
			}
		})
	}
}
