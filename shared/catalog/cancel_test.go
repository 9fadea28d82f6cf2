package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"storefront.dev/shared/catalog"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/upstream"
)

// TestCancelledReaderStopsWaiting: a reader whose context is cancelled
// (a page whose required part failed cancels its other parts) returns at
// once with its context's error, however far away its deadline is, even
// when it started the fetch; the fetch still completes and serves the
// next reader from the cache.
func TestCancelledReaderStopsWaiting(t *testing.T) {
	rt, _ := startSource(t)
	cfg := upstream.DefaultConfig()
	cfg.Timeout = 10 * time.Second // the fetch ends well before the call timeout
	cache := catalog.New(rt.Clients(t, cfg).Product, catalog.DefaultConfig())
	ctx := context.Background()
	if err := rt.InjectFault(ctx, "product", sandbox.Fault{Route: routeGet, LatencyMS: 2000}); err != nil {
		t.Fatal(err)
	}
	reader, cancel := context.WithTimeout(ctx, time.Minute) // further away than any fetch takes
	defer cancel()
	time.AfterFunc(10*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := cache.Product(reader, 8)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the reader's context.Canceled", err)
		}
	case <-time.After(time.Second): // a bound on the test, not a timing assertion
		t.Fatal("the cancelled reader still waits for the product service a second after its 10ms cancel")
	}
	if p, err := cache.Product(ctx, 8); err != nil || p.ID != 8 {
		t.Fatalf("got %+v, %v, want product 8", p, err)
	}
	if got := rt.State(t).Product.Requests[routeGet]; got != 1 {
		t.Errorf("got %d upstream calls, want 1: the next reader joins the fetch or finds its result", got)
	}
}
