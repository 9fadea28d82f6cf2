package orderflow

import (
	"context"
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/notification"
)

// gatedNotifier holds every Send until the test opens the gate, so the
// queue's occupancy is known exactly.
type gatedNotifier struct {
	started chan string
	gate    chan struct{}
}

func newGatedNotifier() *gatedNotifier {
	return &gatedNotifier{started: make(chan string, 16), gate: make(chan struct{})}
}

func (n *gatedNotifier) Send(ctx context.Context, r notification.Request, key string) error {
	n.started <- key
	select {
	case <-n.gate:
		return nil
	case <-ctx.Done():
		return &upstream.Error{Service: "notification", Op: "send", Kind: upstream.KindTimeout, Err: ctx.Err()}
	}
}

// fillOutbox returns an outbox of one worker and a queue of one, with the
// worker busy on order "a", order "b" queued and order "c" dropped.
func fillOutbox(t *testing.T, n *gatedNotifier, obs *outcomes) *outbox {
	t.Helper()
	cfg := newConfig(configWith(func(c *Config) { c.NotifyQueueSize, c.NotifyWorkers, c.NotifyAttempts = 1, 1, 1 }), []Option{WithObserver(obs)})
	o := newOutbox(n, &cfg)
	o.enqueue(confirmation{userID: ada, orderID: "a"})
	if got := <-n.started; got != "order_confirmed:a" {
		t.Fatalf("first send: got key %q, want %q", got, "order_confirmed:a")
	}
	o.enqueue(confirmation{userID: ada, orderID: "b"})
	o.enqueue(confirmation{userID: ada, orderID: "c"})
	if got := obs.notified(NotificationDropped); got != 1 {
		t.Fatalf("dropped with a full queue: got %d, want 1", got)
	}
	return o
}

func TestOutboxDrainsOnClose(t *testing.T) {
	n, obs := newGatedNotifier(), newOutcomes()
	o := fillOutbox(t, n, obs)
	close(n.gate)
	if err := o.close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	o.enqueue(confirmation{userID: ada, orderID: "d"})
	if got, want := [2]int{obs.notified(NotificationSent), obs.notified(NotificationDropped)}, [2]int{2, 2}; got != want {
		t.Errorf("sent, dropped: got %v, want %v", got, want)
	}
}

func TestOutboxCloseGivesUpAtDeadline(t *testing.T) {
	n, obs := newGatedNotifier(), newOutcomes()
	o := fillOutbox(t, n, obs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := o.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: got %v, want %v", err, context.DeadlineExceeded)
	}
	// "a" was aborted mid-send, "b" never started.
	if got, want := [3]int{obs.notified(NotificationSent), obs.notified(NotificationFailed), obs.notified(NotificationDropped)}, [3]int{0, 1, 2}; got != want {
		t.Errorf("sent, failed, dropped: got %v, want %v", got, want)
	}
}

// TestCloseWithNothingLeftIsNoFailure: a close whose context has already
// ended (a shutdown that spent its budget elsewhere) reports no failure
// when nothing was left to send or to write, however its waits are
// scheduled.
func TestCloseWithNothingLeftIsNoFailure(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		n, obs := newGatedNotifier(), newOutcomes()
		close(n.gate)
		cfg := newConfig(configWith(func(c *Config) { c.NotifyWorkers = 4 }), []Option{WithObserver(obs)})
		o := newOutbox(n, &cfg)
		o.enqueue(confirmation{userID: ada, orderID: "a"})
		for obs.notified(NotificationSent) == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := o.close(ended); err != nil {
			t.Fatalf("outbox close with nothing left: %v", err)
		}
		var c completions
		c.begin("saga")()
		if err := c.drain(ended); err != nil {
			t.Fatalf("completions drain with nothing left: %v", err)
		}
	}
}

// contextNotifier records the trace of each Send's context.
type contextNotifier struct{ traces chan trace.TraceID }

func (n contextNotifier) Send(ctx context.Context, r notification.Request, key string) error {
	n.traces <- trace.SpanContextFromContext(ctx).TraceID()
	return nil
}

// TestNotificationCarriesTheCheckoutsTrace: the notification of an order is
// sent, off the request's path, under the checkout request's trace (and
// with its other values, the request id among them), so that it is found
// from the checkout's trace and log lines.
func TestNotificationCarriesTheCheckoutsTrace(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	deps := depsFor(rt.Clients(t, serviceConfig(nil)))
	n := contextNotifier{traces: make(chan trace.TraceID, 1)}
	deps.Notifier = n
	f := New(deps, DefaultConfig())
	t.Cleanup(func() { _ = f.Close(context.Background()) })
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "POST /v1/orders")
	if _, err := f.Place(ctx, Request{UserID: ada, Key: "k", Input: visa(Item{ProductID: 2, Quantity: 1})}); err != nil {
		t.Fatal(err)
	}
	span.End()
	select {
	case got := <-n.traces:
		if want := span.SpanContext().TraceID(); got != want {
			t.Errorf("notification sent under trace %s, want the checkout's %s", got, want)
		}
	case <-time.After(30 * time.Second): // a bound on the test, not a timing assertion
		t.Fatal("no notification sent")
	}
}
