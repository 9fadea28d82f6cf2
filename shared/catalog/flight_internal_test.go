package catalog

import (
	"context"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/upstream/product"
)

// TestFlightPanicReleasesItsReaders: a fetch that panics tells the
// readers waiting for it (an error, not a hang), frees its key for the
// next fetch, and hands the panic to its runner, which raises it again on
// a reader's goroutine and drops it on one of the fetch's own.
func TestFlightPanicReleasesItsReaders(t *testing.T) {
	var f flights
	c, leader := f.join("p:1")
	joined, follower := f.join("p:1")
	if !leader || follower || joined != c {
		t.Fatalf("got leader %v, follower %v (same call %v), want one leader and one follower of one call", leader, !follower, joined == c)
	}
	if v := f.run("p:1", c, func() (any, error) { panic("boom") }); v != "boom" {
		t.Errorf("run returned %v, want the fetch's panic", v)
	}
	<-joined.done
	if joined.err == nil || !strings.Contains(joined.err.Error(), "panicked") {
		t.Errorf("got %v, %v for the follower, want a panic error", joined.val, joined.err)
	}
	if _, leader := f.join("p:1"); !leader {
		t.Error("the key is still taken after the fetch ended")
	}
}

// panickySource panics on every read, as a bug in decoding would.
type panickySource struct{ Source }

func (panickySource) Get(context.Context, int64) (product.Product, error) { panic("decoder bug") }

// TestFetchPanicOnItsOwnGoroutineKeepsTheProcess: a fetch run on a
// goroutine of its own (its reader's context can end) that panics fails
// its readers and leaves the process up; run inline (a context that cannot
// end), its panic reaches the reader's goroutine, where the server's
// recovery sees it.
func TestFetchPanicOnItsOwnGoroutineKeepsTheProcess(t *testing.T) {
	c := New(panickySource{}, DefaultConfig())
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := c.Product(ctx, 7); err == nil || !strings.Contains(err.Error(), "decoder bug") {
		t.Errorf("Product with a fetch that panicked: %v, want the panic as its error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "decoder bug" {
				t.Errorf("inline fetch: recovered %v, want the fetch's panic", v)
			}
		}()
		_, _ = c.Product(context.Background(), 8)
	}()
}

// heldBatches holds every GetMany until release is closed, telling entered
// of each.
type heldBatches struct {
	Source
	entered chan struct{}
	release chan struct{}
}

func (h heldBatches) GetMany(_ context.Context, ids []int64) (product.Batch, error) {
	h.entered <- struct{}{}
	<-h.release
	b := product.Batch{}
	for _, id := range ids {
		b.Items = append(b.Items, product.Product{ID: id, Stock: 3})
	}
	return b, nil
}

// TestStockReaderDoesNotJoinADetailsFetch: a fetch of products for a
// screen that shows no stock, which may take entries a minute old, is not
// shared with a reader of stock, which must see none older than the stock
// TTL: each asks the service itself.
func TestStockReaderDoesNotJoinADetailsFetch(t *testing.T) {
	h := heldBatches{entered: make(chan struct{}, 2), release: make(chan struct{})}
	c := New(h, DefaultConfig())
	done := make(chan error, 2)
	go func() { _, err := c.Details(context.Background(), []int64{1, 2}); done <- err }()
	<-h.entered
	go func() { _, err := c.Products(context.Background(), []int64{1, 2}); done <- err }()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second): // a bound on the test, not a timing assertion
		t.Error("the stock reader joined the details fetch, whose entries may be a minute old")
	}
	close(h.release)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
