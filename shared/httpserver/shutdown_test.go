package httpserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
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
