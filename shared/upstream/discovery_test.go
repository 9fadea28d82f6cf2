package upstream_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/upstream"
)

// loopbackServers serves on 127.0.0.1, .2 and .3 at one port, counting
// the requests each gets and the Host headers they carry; it skips the
// test when the port cannot be had on every address.
func loopbackServers(t *testing.T) (port string, hits []*atomic.Int32, hosts *sync.Map, stop []func()) {
	t.Helper()
	hosts = &sync.Map{}
	for try := 0; try < 5; try++ {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
		lns := []net.Listener{first}
		for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < 3 {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		for _, ln := range lns {
			n := &atomic.Int32{}
			hits = append(hits, n)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				hosts.Store(r.Host, true)
				_, _ = w.Write([]byte(`{}`))
			})}
			go srv.Serve(ln)
			stop = append(stop, func() { srv.Close() })
			t.Cleanup(func() { srv.Close() })
		}
		return port, hits, hosts, stop
	}
	t.Skip("no port free on 127.0.0.1, .2 and .3 at once")
	return
}

// TestDiscovery: a host name's addresses are each an instance; addresses
// added and removed from DNS are followed, and a dead one is left out while
// the others serve every request.
func TestDiscovery(t *testing.T) {
	port, hits, hosts, stop := loopbackServers(t)
	var mu sync.Mutex
	addrs := []string{"127.0.0.1", "127.0.0.2"}
	resolve := func(_ context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if host != "product.svc" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return append([]string(nil), addrs...), nil
	}
	cfg := settings(func(c *upstream.Config) { c.DNSRefresh = upstream.MinDNSRefresh })
	s := newServiceWith(t, []string{"http://product.svc:" + port}, cfg, upstream.WithResolver(resolve))
	t.Cleanup(s.Close)
	call := func(n int) {
		t.Helper()
		for range n {
			if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil); err != nil {
				t.Fatalf("Do: %v", err)
			}
		}
	}
	counts := func() [3]int32 {
		var c [3]int32
		for i, h := range hits {
			c[i] = h.Swap(0)
		}
		return c
	}

	call(20)
	if c := counts(); c[0] == 0 || c[1] == 0 || c[2] != 0 {
		t.Errorf("with .1 and .2 resolved: requests %v, want both and not .3", c)
	}
	if _, ok := hosts.Load("product.svc:" + port); !ok {
		t.Errorf("Host headers seen %v, want the URL's host", hosts)
	}

	mu.Lock()
	addrs = []string{"127.0.0.2", "127.0.0.3"}
	mu.Unlock()
	time.Sleep(upstream.MinDNSRefresh * 3 / 2) // a refresh
	call(20)
	if c := counts(); c[0] != 0 || c[1] == 0 || c[2] == 0 {
		t.Errorf("after .1 left DNS and .3 joined: requests %v, want .2 and .3 only", c)
	}

	stop[2]() // .3 dies: its connections are refused from now on
	call(20)
	if c := counts(); c[1] != 20 {
		t.Errorf("with .3 dead: requests %v, want all 20 on .2", c)
	}
}

// TestFailingInstanceEjected: an instance that answers 500 in a row is
// left out after DefaultEjectAfter failures, while reads retried on the
// other succeed.
func TestFailingInstanceEjected(t *testing.T) {
	bad, badHits := scriptedServer(t, repeat(http.StatusInternalServerError, 100)...)
	good, _ := countingServer(t)
	s := newService(t, []string{bad, good})
	for i := range 30 {
		if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := badHits.Load(); n != upstream.DefaultEjectAfter {
		t.Errorf("the failing instance got %d requests, want %d before it was left out", n, upstream.DefaultEjectAfter)
	}
}

func repeat(status, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = status
	}
	return s
}
