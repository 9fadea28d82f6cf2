package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/redistest"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream/order"
)

// TestSentinelFailover runs two replicas on a Sentinel-managed Redis and
// kills its master during a stream of orders, each key retried until it
// has a final answer: orders succeed again within 15 s of the kill, and
// once the system is quiet every key has one order at most and every
// capture its one confirmed order (the sandbox's invariants), a write lost
// with the old master notwithstanding.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	rs := redistest.StartSentinel(t, "")
	shared := []string{"REDIS_ADDRS", rs.Addrs[0] + "," + rs.Addrs[1] + "," + rs.Addrs[2],
		"REDIS_MASTER_NAME", rs.MasterName, "REDIS_KEY_PREFIX", redistest.Prefix(t), "ORDER_LEASE_TTL", "2s",
		"ORDER_RECOVERY_INTERVAL", "200ms"}
	s := startStack(t, shared...)
	replicas := []string{s.Base, servertest.Start(t, run, stackEnv(s.Running, shared...))}
	s.Stock(t, 2, 1000)
	ada := s.login(t, sandbox.Ada.Email, sandbox.Ada.Password)

	const before, after = 10, 10
	var placed []string // order ids, one per key
	var killed time.Time
	var outage time.Duration
	for i := 0; len(placed) < before+after; i++ {
		if len(placed) == before && killed.IsZero() {
			rs.KillMaster()
			killed = time.Now()
		}
		id, err := placeUntilFinal(replicas[i%2], ada, servertest.NewKey(), 20*time.Second)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		placed = append(placed, id)
		if !killed.IsZero() && outage == 0 {
			outage = time.Since(killed)
		}
	}
	t.Logf("orders succeeded again %v after the master was killed", outage.Round(time.Millisecond))
	if outage > 15*time.Second {
		t.Errorf("orders succeeded again %v after the kill, want within 15s", outage)
	}
	seen := map[string]bool{}
	for _, id := range placed {
		if seen[id] {
			t.Errorf("order %s answered to two keys", id)
		}
		seen[id] = true
	}
	confirmed := 0
	for _, o := range s.CheckInvariants(t).Order.Orders {
		if o.Status == order.StatusConfirmed {
			confirmed++
		}
	}
	if confirmed != before+after {
		t.Errorf("%d confirmed orders, want %d, one per key", confirmed, before+after)
	}
}

// placeUntilFinal posts one order under key to base until it is placed
// (its id) or refused for good (an error), retrying a 5xx or no answer, as
// a client keeping its Idempotency-Key does.
func placeUntilFinal(base, auth, key string, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for {
		r, err := servertest.Send("POST", base+"/v1/orders", orderBody("tok_visa", line(2, 1)),
			"Authorization", auth, "Idempotency-Key", key)
		switch {
		case err == nil && r.Status == 201:
			var o struct {
				ID string `json:"id"`
			}
			if jerr := json.Unmarshal(r.Body, &o); jerr != nil {
				return "", jerr
			}
			return o.ID, nil
		case err == nil && r.Status < 500 && r.Status != 409:
			return "", fmt.Errorf("refused: %d %s", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no final answer within %v: last %d %v", within, r.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
