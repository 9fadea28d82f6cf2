// Package journaltest checks that an orderflow.Journal keeps the contract
// the order flow relies on. Each store's tests call Run with a function that
// opens an empty journal.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/money"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/upstream/order"
)

// Run runs the contract's tests against journals made by open, one per test.
func Run(t *testing.T, open func(t *testing.T) orderflow.Journal) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, open(t)) })
	t.Run("UpdateFenced", func(t *testing.T) { testUpdateFenced(t, open(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, open(t)) })
	t.Run("ConcurrentUpdate", func(t *testing.T) { testConcurrentUpdate(t, open(t)) })
	t.Run("Expired", func(t *testing.T) { testExpired(t, open(t)) })
}

// Record returns a running saga record under id, leased until lease.
func Record(id string, lease time.Time) orderflow.Record {
	now := lease.Add(-10 * time.Second)
	return orderflow.Record{
		ID: id, UserID: "1", Key: "k-" + id, Fingerprint: "fp", Version: 1,
		State: orderflow.StateRunning, Step: orderflow.StepStarted,
		Items: []order.Line{{ProductID: 3, Name: "Mug", Quantity: 2, UnitPrice: money.New(1250, "EUR")}},
		Total: money.New(2500, "EUR"),
		Owner: "a", LeaseUntil: lease, UpdatedAt: now,
	}
}

func testCreateGet(t *testing.T, j orderflow.Journal) {
	ctx := context.Background()
	if _, ok, err := j.Get(ctx, "s1"); err != nil || ok {
		t.Fatalf("Get of a missing id = ok %v, err %v; want false, nil", ok, err)
	}
	rec := Record("s1", time.Now().Add(time.Minute).UTC().Truncate(time.Millisecond))
	if _, created, err := j.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create = created %v, err %v; want true, nil", created, err)
	}
	other := rec
	other.Fingerprint = "another"
	existing, created, err := j.Create(ctx, other)
	if err != nil || created {
		t.Fatalf("second Create = created %v, err %v; want false, nil", created, err)
	}
	if existing.Fingerprint != "fp" || existing.Version != 1 {
		t.Errorf("second Create returned %+v, want the first record", existing)
	}
	got, ok, err := j.Get(ctx, "s1")
	if err != nil || !ok {
		t.Fatalf("Get = ok %v, err %v", ok, err)
	}
	if got.Key != rec.Key || got.State != rec.State || len(got.Items) != 1 || got.Items[0] != rec.Items[0] ||
		got.Total != rec.Total || got.Version != 1 {
		t.Errorf("Get = %+v, want %+v", got, rec)
	}
}

func testUpdateFenced(t *testing.T, j orderflow.Journal) {
	ctx := context.Background()
	rec := Record("s1", time.Now().Add(time.Minute))
	if _, _, err := j.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	next := rec
	next.Version, next.Step, next.ReservationID = 2, orderflow.StepReserved, "res_1"
	if err := j.Update(ctx, next); err != nil {
		t.Fatalf("Update at version 2: %v", err)
	}
	stale := rec
	stale.Version, stale.Owner = 2, "b"
	if err := j.Update(ctx, stale); !errors.Is(err, orderflow.ErrConflict) {
		t.Fatalf("Update by a runner that read version 1 again = %v, want ErrConflict", err)
	}
	missing := Record("nobody", time.Now())
	missing.Version = 2
	if err := j.Update(ctx, missing); !errors.Is(err, orderflow.ErrConflict) {
		t.Fatalf("Update of a missing record = %v, want ErrConflict", err)
	}
	got, _, _ := j.Get(ctx, "s1")
	if got.Version != 2 || got.ReservationID != "res_1" || got.Owner != "a" {
		t.Errorf("after a refused update: %+v, want version 2 with res_1 by a", got)
	}
}

func testConcurrentCreate(t *testing.T, j orderflow.Journal) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Go(func() {
			rec := Record("s1", time.Now().Add(time.Minute))
			rec.Owner = fmt.Sprint(i)
			_, created, err := j.Create(context.Background(), rec)
			if err != nil {
				t.Errorf("Create: %v", err)
			}
			if created {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 20 concurrent creates won, want 1", wins)
	}
}

func testConcurrentUpdate(t *testing.T, j orderflow.Journal) {
	rec := Record("s1", time.Now().Add(time.Minute))
	if _, _, err := j.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Go(func() {
			next := rec
			next.Version, next.Owner = 2, fmt.Sprint(i)
			err := j.Update(context.Background(), next)
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, orderflow.ErrConflict):
				t.Errorf("Update: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 20 concurrent claims of one version won, want 1", wins)
	}
}

func testExpired(t *testing.T, j orderflow.Journal) {
	ctx := context.Background()
	now := time.Now()
	live := Record("live", now.Add(time.Minute))
	dead := Record("dead", now.Add(-time.Second))
	done := Record("done", now.Add(-time.Second))
	for _, r := range []orderflow.Record{live, dead, done} {
		if _, _, err := j.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	done.Version, done.State, done.ExpiresAt = 2, orderflow.StateCompleted, now.Add(time.Hour)
	if err := j.Update(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err := j.Expired(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "dead" {
		t.Errorf("Expired = %v, want only the unfinished record whose lease ended", ids(got))
	}
	if all, err := j.Expired(ctx, now.Add(24*time.Hour), 10); err != nil || len(all) != 2 {
		t.Errorf("Expired a day later = %v, %v; want both unfinished records (live and dead)", ids(all), err)
	}
	if later, _ := j.Expired(ctx, now.Add(2*time.Minute), 1); len(later) != 1 {
		t.Errorf("Expired with limit 1 = %v, want one record", ids(later))
	}
	if _, ok, _ := j.Get(ctx, "done"); !ok {
		t.Error("a finished record vanished before its expiry")
	}
	for _, c := range []struct {
		at          time.Time
		limit, want int
	}{{now, 10, 1}, {now.Add(24 * time.Hour), 10, 2}, {now.Add(24 * time.Hour), 1, 1}, {now.Add(-time.Hour), 10, 0}} {
		if n, err := j.Backlog(ctx, c.at, c.limit); err != nil || n != c.want {
			t.Errorf("Backlog at now%+v, limit %d = %d, %v; want %d", c.at.Sub(now).Round(time.Second), c.limit, n, err, c.want)
		}
	}
}

func ids(recs []orderflow.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
