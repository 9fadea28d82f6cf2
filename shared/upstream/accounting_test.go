package upstream_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"storefront.dev/shared/upstream"
)

// blackholeURL returns the URL of a socket that never accepts: its accept
// queue is full, so the kernel drops every further SYN and a dial hangs
// until its timeout, as with a host that swallows packets.
func blackholeURL(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("no raw socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue; the dials that still connect are the queue's.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
		if err != nil {
			return "http://" + addr
		}
		t.Cleanup(func() { c.Close() })
	}
	if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
		c.Close()
		t.Skip("the kernel accepts connections beyond a full queue here")
	}
	return "http://" + addr
}

// TestUnreachableServiceOpensTheBreaker: instances that never accept a
// connection, whose dials take the whole call, are failures of the
// service: the breaker opens, and a half-open trial that meets the same
// silence opens it again rather than closing it.
func TestUnreachableServiceOpensTheBreaker(t *testing.T) {
	cfg := settings(func(c *upstream.Config) {
		c.Timeout, c.DialTimeout, c.Retries = 150*time.Millisecond, 100*time.Millisecond, 0
		// Long enough that a loaded machine's pause between a call and
		// the check after it does not pass for the open timeout.
		c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 3, 500*time.Millisecond
	})
	s := newServiceWith(t, []string{blackholeURL(t), blackholeURL(t)}, cfg)
	get := upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}
	for i := range 3 {
		e := asError(t, s.Do(context.Background(), get, nil))
		if !e.NotSent {
			t.Fatalf("call %d: got %+v, want a call not sent", i, e)
		}
	}
	if st := s.BreakerState(); st != "open" {
		t.Fatalf("after 3 calls that reached no instance: breaker %s, want open", st)
	}
	time.Sleep(600 * time.Millisecond)
	if st := s.BreakerState(); st != "half-open" {
		t.Fatalf("after the open timeout: breaker %s, want half-open", st)
	}
	_ = s.Do(context.Background(), get, nil)
	if st := s.BreakerState(); st != "open" {
		t.Errorf("after a trial call that reached no instance: breaker %s, want open", st)
	}
}

// TestWriteWaitingForAConnectionIsNotSent: a write that found every
// connection of its instance busy until its deadline was never sent, and
// says so, so that the order flow does not take it for a write that may
// land; the breaker does not count it.
func TestWriteWaitingForAConnectionIsNotSent(t *testing.T) {
	release := make(chan struct{})
	u, hits := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte(`{}`))
	})
	cfg := settings(func(c *upstream.Config) {
		c.MaxConnsPerInstance, c.Breaker.ConsecutiveFailures = 1, 1
	})
	s := newServiceWith(t, []string{u}, cfg)
	post := upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}
	first := make(chan error, 1)
	go func() { first <- s.Do(context.Background(), post, nil) }()
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	e := asError(t, s.Do(ctx, post, nil))
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the write holding the connection: %v", err)
	}
	if !e.NotSent || e.Ambiguous() || e.Unanswered() {
		t.Errorf("got %+v, want not sent, neither ambiguous nor unanswered", e)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the service saw %d requests, want 1", n)
	}
	if st := s.BreakerState(); st != "closed" {
		t.Errorf("breaker %s, want closed: the wait says nothing of the service", st)
	}
}

// TestIPv6Instance: an instance at an IPv6 address is dialled.
func TestIPv6Instance(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	s := newService(t, []string{srv.URL})
	if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil); err != nil {
		t.Errorf("GET %s: %v", srv.URL, err)
	}
}

// TestTLSInstanceByName: an https instance named by host is dialled at
// its resolved address but greeted by its name, which the certificate is
// checked against; a certificate the client does not trust fails the
// handshake, before anything is sent.
func TestTLSInstanceByName(t *testing.T) {
	var sni atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(h.ServerName)
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resolve := func(_ context.Context, host string) ([]string, error) {
		if host != "product.internal" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return []string{"127.0.0.1"}, nil
	}
	s := newService(t, []string{"https://product.internal:" + port}, upstream.WithResolver(resolve))
	e := asError(t, s.Do(context.Background(), upstream.Call{Op: "capture", Method: http.MethodPost, Path: "/x"}, nil))
	if got, _ := sni.Load().(string); got != "product.internal" {
		t.Errorf("the server was greeted as %q, want product.internal", got)
	}
	if !e.NotSent || e.Ambiguous() {
		t.Errorf("an untrusted certificate: got %+v, want not sent and not ambiguous", e)
	}
}

// TestBalancingAfterAnInstanceJoins: an instance that joins (here, found
// by a refresh) takes its turn with the others rather than every call
// until it has been sent as many as they were.
func TestBalancingAfterAnInstanceJoins(t *testing.T) {
	port, hits, _, _ := loopbackServers(t)
	addrs := atomic.Value{}
	addrs.Store([]string{"127.0.0.1"})
	resolve := func(_ context.Context, host string) ([]string, error) {
		return addrs.Load().([]string), nil
	}
	cfg := settings(func(c *upstream.Config) { c.DNSRefresh = upstream.MinDNSRefresh })
	s := newServiceWith(t, []string{"http://product.svc:" + port}, cfg, upstream.WithResolver(resolve))
	call := func(n int) {
		t.Helper()
		for range n {
			if err := s.Do(context.Background(), upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}, nil); err != nil {
				t.Fatalf("Do: %v", err)
			}
		}
	}
	call(100)
	hits[0].Store(0)
	addrs.Store([]string{"127.0.0.1", "127.0.0.2"})
	time.Sleep(upstream.MinDNSRefresh * 3 / 2) // a refresh
	call(20)
	if a, b := hits[0].Load(), hits[1].Load(); a != 10 || b != 10 {
		t.Errorf("after .2 joined: %d and %d of 20 calls one at a time, want 10 and 10", a, b)
	}
}
