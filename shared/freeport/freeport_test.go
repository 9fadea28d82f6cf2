package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestAddrsAreDistinct also checks that, where the ephemeral range is
// known, the ports lie below it, where no connection takes them as its
// source port before the process meant to listen there starts.
func TestAddrsAreDistinct(t *testing.T) {
	addrs, err := Addrs(7)
	if err != nil {
		t.Fatal(err)
	}
	lo := ephemeralStart()
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("address %s returned twice in %v", a, addrs)
		}
		seen[a] = true
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		if port, _ := strconv.Atoi(p); lo > lowestPort+1 && (port < lowestPort || port >= lo) {
			t.Errorf("port %d is outside [%d, %d), below the ephemeral range", port, lowestPort, lo)
		}
	}
	if len(seen) != 7 {
		t.Errorf("got %d addresses, want 7", len(seen))
	}
}

func TestListenFreeSkipsATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	offered := 0
	l, err := listenFree(func() (int, bool) {
		offered++
		return port, offered == 1
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Addr().(*net.TCPAddr).Port; got == port || offered != 2 {
		t.Errorf("listened on %d after %d offers; want a port other than the taken %d, after 2", got, offered, port)
	}
}
