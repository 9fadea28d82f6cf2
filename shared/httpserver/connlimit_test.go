package httpserver_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
)

// TestConnectionsOverTheLimit holds MaxConns connections open, each
// sending a request it does not finish, and checks that one more is
// answered the overload problem and closed, and that a place given back is
// served again.
func TestConnectionsOverTheLimit(t *testing.T) {
	s := newServer(t, func(c *httpserver.Config) { c.MaxConns = 2 })
	s.App.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	addr := serve(t, s)

	held := []net.Conn{dialUnfinished(t, addr), dialUnfinished(t, addr)}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()

	refused := dialGet(t, addr, http.StatusServiceUnavailable)
	defer refused.Close()
	if _, err := refused.Read(make([]byte, 1)); err == nil {
		t.Errorf("the refused connection stayed open")
	}

	held[0].Close()
	dialUntilServed(t, addr, "a place given back")
}

// dialUntilServed sends GET /ok on new connections until one is served,
// failing t, which names what should have made room, after 5s.
func dialUntilServed(t *testing.T, addr, room string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, status := dial(t, addr)
		c.Close()
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not served again: still %d", room, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleConnectionsMakeRoom: with MaxConns kept-alive connections idle
// between requests, a new connection is served rather than refused: one
// of them is closed to make room (connlimit's own test checks it is the
// one idle longest), and counted; the other goes on.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	s := newServer(t, func(c *httpserver.Config) { c.MaxConns = 2 })
	s.App.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	addr := serve(t, s)

	idle := []net.Conn{dialGet(t, addr, http.StatusOK), dialGet(t, addr, http.StatusOK)}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// The server marks a connection idle just after its answer has gone:
	// a new connection that comes first finds none to close, and is
	// refused.
	dialUntilServed(t, addr, "a new connection beside two idle ones")
	var open []net.Conn
	for _, c := range idle {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: bff\r\n\r\n"); err != nil {
			continue
		}
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil && resp.StatusCode == http.StatusOK {
			open = append(open, c)
		}
	}
	if len(open) != 1 {
		t.Errorf("%d of the two idle connections still served, want one: the other made room", len(open))
	}
	if got := s.counter(t, "bff_http_idle_connections_closed_total", "", ""); got != 1 {
		t.Errorf("bff_http_idle_connections_closed_total = %v, want 1", got)
	}
}

// holdPlace opens connections that send a request line and no more until
// one is served (kept open, not refused), and returns it.
func holdPlace(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialUnfinished(t, addr)
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = c.SetReadDeadline(time.Time{})
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("no place was given back within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialUnfinished opens a connection that sends a request line and no more:
// a request being read, which takes a place until it times out.
func dialUnfinished(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProbesOnTheAdminPortOutlastTheLimit: with every public connection
// taken, the public /healthz is refused, and the admin listener's /healthz
// and /readyz, which the probes ask, still answer: a flood neither gets
// replicas restarted nor takes them out of the load balancer.
func TestProbesOnTheAdminPortOutlastTheLimit(t *testing.T) {
	s := newServer(t, func(c *httpserver.Config) { c.MaxConns = 1 })
	s.Health()
	s.App.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	addr := serve(t, s)
	admin := httptest.NewServer(s.Admin())
	defer admin.Close()

	held := dialUnfinished(t, addr)
	defer held.Close()
	refused := dialGet(t, addr, http.StatusServiceUnavailable)
	refused.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s with the public port full: %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestConnectionRefusalCarriesTheHeadersOfEveryAnswer: the answer to a
// connection over the limit, written without parsing its request, still
// carries what every other answer does: the security headers (HSTS as
// configured) and a request id of its own.
func TestConnectionRefusalCarriesTheHeadersOfEveryAnswer(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		t.Run(fmt.Sprintf("HSTS %v", hsts), func(t *testing.T) {
			s := newServer(t, func(c *httpserver.Config) { c.MaxConns = 1; c.HSTS = hsts })
			s.App.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
			addr := serve(t, s)

			served, ok := exchange(t, addr)
			served.Close()
			if ok.StatusCode != http.StatusOK {
				t.Fatalf("the first connection: %d, want 200", ok.StatusCode)
			}
			if got := ok.Header.Get("Strict-Transport-Security") != ""; got != hsts {
				t.Fatalf("a served answer with HSTS %v has Strict-Transport-Security %q", hsts, ok.Header.Get("Strict-Transport-Security"))
			}
			// The place, once given back, held by a request being read.
			reading := holdPlace(t, addr)
			defer reading.Close()
			ids := map[string]bool{ok.Header.Get(httpserver.HeaderRequestID): true}
			for i := range 2 {
				c, refused := exchange(t, addr)
				c.Close()
				if refused.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("connection %d over the limit: %d, want 503", i, refused.StatusCode)
				}
				for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy",
					"X-Frame-Options", "Cross-Origin-Resource-Policy", "Strict-Transport-Security"} {
					if got, want := refused.Header.Values(h), ok.Header.Values(h); !slices.Equal(got, want) {
						t.Errorf("connection %d over the limit: %s %q, want %q as on any answer", i, h, got, want)
					}
				}
				id := refused.Header.Get(httpserver.HeaderRequestID)
				if id == "" || ids[id] {
					t.Errorf("connection %d over the limit: X-Request-ID %q, want one of its own (others: %v)", i, id, ids)
				}
				ids[id] = true
			}
		})
	}
}

// serve runs s on a port of its own until t ends, when it checks that
// Serve returned no error, and returns its address.
func serve(t *testing.T, s *testServer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOnFreePort(ctx, s.Server) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return waitListening(t, s)
}

// exchange opens a connection, sends GET /ok and returns the connection
// and the answer, its body read.
func exchange(t *testing.T, addr string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: bff\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return c, resp
}

// waitListening returns the address Serve logged.
func waitListening(t *testing.T, s *testServer) string {
	t.Helper()
	for range 500 {
		if e := s.logs.entries(t, "listening"); len(e) > 0 {
			return e[0]["addr"].(string)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the server never logged its address")
	return ""
}

// waitLogged waits until the server has logged msg.
func waitLogged(t *testing.T, s *testServer, msg string) {
	t.Helper()
	for range 500 {
		if len(s.logs.entries(t, msg)) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the server never logged %q", msg)
}

// dialGet opens a connection, sends GET /ok and checks the answer's status;
// an overload answer must also be the shed problem.
func dialGet(t *testing.T, addr string, want int) net.Conn {
	t.Helper()
	c, status := dial(t, addr)
	if status != want {
		t.Fatalf("GET /ok on a new connection: %d, want %d", status, want)
	}
	return c
}

func dial(t *testing.T, addr string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: bff\r\nAuthorization: Bearer secret\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusServiceUnavailable {
		if resp.Header.Get("Content-Type") != problem.ContentType || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(body), `"code":"overloaded"`) || strings.Contains(string(body), "secret") {
			t.Errorf("refusal: headers %v body %s, want the overloaded problem with Retry-After and no echo", resp.Header, body)
		}
	}
	return c, resp.StatusCode
}

// TestServeStoppedAsItStarts: a stop that comes as Serve starts (a SIGTERM
// just after the start), before the HTTP server took its listener, still
// ends Serve: it used to find nothing to shut down and then wait for a
// server that went on serving.
func TestServeStoppedAsItStarts(t *testing.T) {
	for range 20 {
		s := newServer(t, func(c *httpserver.Config) { c.ShutdownDelay = 0 })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		served := make(chan error, 1)
		go func() { served <- serveOnFreePort(ctx, s.Server) }()
		select {
		case <-served:
		case <-time.After(30 * time.Second): // a bound on the test, not a timing assertion
			t.Fatal("Serve, stopped as it started, never returned")
		}
	}
}
