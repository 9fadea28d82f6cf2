package httpserver_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/problem"
)

// TestShutdownHooksHaveABudgetOfTheirOwn: a request still in flight when
// the drain's deadline passes leaves the shutdown hooks their own
// ShutdownHookBudget, rather than a context already ended.
func TestShutdownHooksHaveABudgetOfTheirOwn(t *testing.T) {
	s := newServer(t, func(c *httpserver.Config) { c.ShutdownTimeout = 200 * time.Millisecond })
	release := make(chan struct{})
	entered := make(chan struct{})
	s.App.Get("/slow", func(c *fiber.Ctx) error {
		close(entered)
		<-release
		return c.SendStatus(http.StatusOK)
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	type hookSaw struct {
		err  error
		left time.Duration
	}
	saw := make(chan hookSaw, 1)
	hook := func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		saw <- hookSaw{ctx.Err(), time.Until(d)}
		return nil
	}
	served := make(chan error, 1)
	go func() { served <- serveOnFreePort(ctx, s.Server, hook) }()
	base := waitListening(t, s)
	go func() {
		if resp, err := http.Get("http://" + base + "/slow"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	select {
	case got := <-saw:
		if got.err != nil || got.left < httpserver.ShutdownHookBudget-time.Second {
			t.Errorf("the hook got a context with %v left (err %v), want about %v", got.left, got.err, httpserver.ShutdownHookBudget)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hook never ran")
	}
	if err := <-served; err == nil {
		t.Error("Serve returned nil, want the drain's deadline reported")
	}
}

// outOfFiles accepts normally until exhausted is set, then fails every
// Accept as a process out of file descriptors does.
type outOfFiles struct {
	net.Listener
	exhausted atomic.Bool
	failed    atomic.Int32
}

func (l *outOfFiles) Accept() (net.Conn, error) {
	if l.exhausted.Load() {
		l.failed.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServingOutlivesRunningOutOfFiles: a process out of file descriptors
// (a flood of connections) waits for some to close, and serves again,
// rather than stopping: fasthttp takes an Accept error for the end of
// serving. The request in flight meanwhile is answered, a stop then drains
// and runs the hooks, and the wait was logged.
func TestServingOutlivesRunningOutOfFiles(t *testing.T) {
	s := newServer(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	s.App.Get("/slow", func(c *fiber.Ctx) error {
		close(started)
		<-release
		return c.SendStatus(http.StatusOK)
	})
	s.App.Get("/fast", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusOK) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := &outOfFiles{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hookRan atomic.Bool
	served := make(chan error, 1)
	go func() {
		served <- s.ServeListener(ctx, lim, func(context.Context) error { hookRan.Store(true); return nil })
	}()
	base := "http://" + ln.Addr().String()
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-started
	lim.exhausted.Store(true)
	// The server may be waiting in the listener's Accept already, which
	// fails only when called: a connection wakes it, and the next call
	// fails.
	poke, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer poke.Close()
	for deadline := time.Now().Add(5 * time.Second); lim.failed.Load() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Accept was not tried again after it failed")
		}
	}
	poke.Close() // or the drain would wait for it
	select {
	case err := <-served:
		t.Fatalf("serving ended on running out of file descriptors: %v", err)
	default:
	}
	lim.exhausted.Store(false)
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get(base + "/fast"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a request once descriptors are free again: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	close(release)
	if got := <-slow; got != http.StatusOK {
		t.Errorf("the request in flight: %d, want 200", got)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("ServeListener after the stop: %v", err)
	}
	if !hookRan.Load() {
		t.Error("the shutdown hooks never ran")
	}
	if len(s.logs.entries(t, "accepting connections failed; retrying")) == 0 {
		t.Error("the wait was not logged")
	}
}

// TestReadinessFailsFromTheDrain: from the stop on, through the delay in
// which requests are still taken (ShutdownDelay), /readyz answers 503 on
// the public port and on the admin listener, which the probes ask, so that
// load balancers stop sending before the drain begins.
func TestReadinessFailsFromTheDrain(t *testing.T) {
	s := newServer(t, func(c *httpserver.Config) { c.ShutdownDelay = time.Second })
	s.Health()
	admin := httptest.NewServer(s.Admin())
	defer admin.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOnFreePort(ctx, s.Server) }()
	base := "http://" + waitListening(t, s)
	for _, u := range []string{base, admin.URL} {
		if r := servertest.Do(t, "GET", u+"/readyz", nil); r.Status != http.StatusOK {
			t.Fatalf("%s/readyz before the stop: %d, want 200", u, r.Status)
		}
	}
	cancel()
	// The stop reaches the server on its own goroutine; it logs once
	// draining is set, and the delay of a second keeps it serving after.
	waitLogged(t, s, "shutting down")
	for _, u := range []string{admin.URL, base} {
		r := servertest.Do(t, "GET", u+"/readyz", nil)
		if p := r.Problem(t); r.Status != http.StatusServiceUnavailable || p["code"] != string(problem.CodeUnavailable) || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s/readyz while draining: %d %+v (Retry-After %q), want 503 unavailable", u, r.Status, p, r.Header.Get("Retry-After"))
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
