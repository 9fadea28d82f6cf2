package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/idempotency"
)

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore(0)
	first := idempotency.Record{Fingerprint: "f1", CreatedAt: start}

	if _, created, err := s.Reserve(ctx, "k", first, time.Minute); err != nil || !created {
		t.Fatalf("first Reserve: got created %v, err %v; want true, nil", created, err)
	}
	got, created, err := s.Reserve(ctx, "k", idempotency.Record{Fingerprint: "f2"}, time.Minute)
	if err != nil || created || got.Fingerprint != "f1" || got.Done {
		t.Fatalf("second Reserve: got %+v, created %v, err %v; want the in-flight f1 record", got, created, err)
	}

	body := []byte(`{"id":"ord_1"}`)
	done := idempotency.Record{Fingerprint: "f1", Done: true, Status: 201, ContentType: "application/json", Body: body, CreatedAt: start}
	if err := s.Complete(ctx, "k", start, done, time.Minute); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	body[2] = 'X' // the caller's buffer is reused; the stored copy must not change
	got, _, _ = s.Reserve(ctx, "k", first, time.Minute)
	if !got.Done || got.Status != 201 || string(got.Body) != `{"id":"ord_1"}` {
		t.Fatalf("after Complete: got %+v body %s, want the stored 201", got, got.Body)
	}
	got.Body[2] = 'Y'
	again, _, _ := s.Reserve(ctx, "k", first, time.Minute)
	if string(again.Body) != `{"id":"ord_1"}` {
		t.Errorf("got body %s after a reader changed its copy, want it unchanged", again.Body)
	}

	if err := s.Release(ctx, "k", start); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, created, err := s.Reserve(ctx, "k", first, time.Minute); err != nil || !created {
		t.Errorf("Reserve after Release: got created %v, err %v; want true, nil", created, err)
	}
	if _, _, err := s.Reserve(ctx, "other", first, 0); err == nil {
		t.Error("Reserve with ttl 0: got nil error, want one (go-cache would keep it forever)")
	}
}

func TestMemoryStoreBound(t *testing.T) {
	ctx := context.Background()
	s := idempotency.NewMemoryStore(0, idempotency.MaxRecords(2))
	for _, k := range []string{"a", "b"} {
		if _, created, err := s.Reserve(ctx, k, idempotency.Record{Fingerprint: k}, time.Minute); err != nil || !created {
			t.Fatalf("Reserve(%s) = created %v, %v; want a new record", k, created, err)
		}
	}
	if _, _, err := s.Reserve(ctx, "c", idempotency.Record{}, time.Minute); !errors.Is(err, idempotency.ErrFull) {
		t.Fatalf("third key: got %v, want ErrFull", err)
	}
	// A key already held is still answered when the store is full.
	got, created, err := s.Reserve(ctx, "a", idempotency.Record{}, time.Minute)
	if err != nil || created || got.Fingerprint != "a" {
		t.Fatalf("held key when full: got %+v created %v err %v, want the existing record", got, created, err)
	}
	if err := s.Release(ctx, "b", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.Reserve(ctx, "c", idempotency.Record{}, time.Minute); err != nil || !created {
		t.Fatalf("after a release: created %v, %v; want room again", created, err)
	}
}
