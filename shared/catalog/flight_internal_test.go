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
// goroutine of its own (its reader's deadline too near to run it inline)
// that panics fails its readers and leaves the process up; run inline, its
// panic reaches the reader's goroutine, where the server's recovery sees
// it.
func TestFetchPanicOnItsOwnGoroutineKeepsTheProcess(t *testing.T) {
	c := New(panickySource{}, DefaultConfig())
	c.fetchTimeout = time.Hour // no reader's deadline leaves room: always a goroutine of its own
	if _, err := c.Product(context.Background(), 7); err == nil || !strings.Contains(err.Error(), "decoder bug") {
		t.Errorf("Product with a fetch that panicked: %v, want the panic as its error", err)
	}
	c.fetchTimeout = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	func() {
		defer func() {
			if v := recover(); v != "decoder bug" {
				t.Errorf("inline fetch: recovered %v, want the fetch's panic", v)
			}
		}()
		_, _ = c.Product(ctx, 8)
	}()
}
