package orderflow

import (
	"context"
	"errors"
	"testing"
	"time"

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

func (n *gatedNotifier) Send(ctx context.Context, r notification.Request, key string) (notification.Receipt, error) {
	n.started <- key
	select {
	case <-n.gate:
		return notification.Receipt{ID: key, Status: "accepted"}, nil
	case <-ctx.Done():
		return notification.Receipt{}, &upstream.Error{Service: "notification", Op: "send", Kind: upstream.KindTimeout, Err: ctx.Err()}
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
