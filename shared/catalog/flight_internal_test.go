package catalog

import (
	"strings"
	"testing"
)

// TestFlightPanicReleasesItsReaders: a fetch that panics on its leader's
// goroutine tells the readers waiting for it (an error, not a hang), frees
// its key for the next fetch, and panics again in the leader.
func TestFlightPanicReleasesItsReaders(t *testing.T) {
	var f flights
	c, leader := f.join("p:1")
	joined, follower := f.join("p:1")
	if !leader || follower || joined != c {
		t.Fatalf("got leader %v, follower %v (same call %v), want one leader and one follower of one call", leader, !follower, joined == c)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("got panic %v, want the fetch's", v)
			}
		}()
		f.run("p:1", c, func() (any, error) { panic("boom") })
		t.Error("run returned, want it to panic")
	}()
	<-joined.done
	if joined.err == nil || !strings.Contains(joined.err.Error(), "panicked") {
		t.Errorf("got %v, %v for the follower, want a panic error", joined.val, joined.err)
	}
	if _, leader := f.join("p:1"); !leader {
		t.Error("the key is still taken after the fetch ended")
	}
}
