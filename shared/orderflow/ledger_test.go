package orderflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// TestLetGoIsFinal: once a runner has given its saga up to recovery, no
// write of its own (a lease renewal due just after) takes the lease back.
func TestLetGoIsFinal(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	f := New(depsFor(rt.Clients(t, serviceConfig(nil))), DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	ctx := context.Background()
	rec := Record{ID: "saga-1", UserID: ada, Key: "k", Version: 1, State: StateRunning}
	f.stamp(&rec, f.cfg.LeaseTTL)
	if _, created, err := f.deps.Journal.Create(ctx, rec); err != nil || !created {
		t.Fatalf("Create: %v, %v", created, err)
	}
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
