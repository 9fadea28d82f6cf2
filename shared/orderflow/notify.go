package orderflow

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"storefront.dev/shared/money"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/notification"
)

// TemplateOrderConfirmed is the notification template sent for a placed order.
const TemplateOrderConfirmed = "order_confirmed"

// Notification outcomes given to Observer.NotificationOutcome.
const (
	NotificationSent    = "sent"
	NotificationFailed  = "failed"
	NotificationDropped = "dropped"
)

// NotificationOutcomes are every value NotificationOutcome receives.
var NotificationOutcomes = []string{NotificationSent, NotificationFailed, NotificationDropped}

// confirmation is one queued "order confirmed" notification.
type confirmation struct {
	// origin carries the checkout request's values (its trace, its request
	// id) without its cancellation, so that the notification's call and
	// log lines are tied to the checkout.
	origin  context.Context
	userID  string
	orderID string
	total   money.Money
}

// outbox sends notifications off the request path: a bounded queue drained
// by a few workers. It never blocks Place: a full queue drops and reports.
type outbox struct {
	send Notifier
	cfg  *config

	mu     sync.RWMutex // guards closed against a send on the closed queue
	closed bool
	queue  chan confirmation

	workers sync.WaitGroup
	// pending counts the confirmations queued or being sent, and cut
	// says one was dropped or cut short as ctx ended: a close that left
	// nothing undone is no failure, whatever its context says.
	pending atomic.Int64
	cut     atomic.Bool
	// ctx ends when Close gives up waiting, to abort sends in flight.
	ctx    context.Context
	cancel context.CancelFunc
}

// context is c's origin, or the background for one queued without.
func (c confirmation) context() context.Context {
	if c.origin == nil {
		return context.Background()
	}
	return c.origin
}

func newOutbox(send Notifier, cfg *config) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{send: send, cfg: cfg, queue: make(chan confirmation, cfg.NotifyQueueSize), ctx: ctx, cancel: cancel}
	for range cfg.NotifyWorkers {
		o.workers.Add(1)
		go o.work()
	}
	return o
}

func (o *outbox) enqueue(c confirmation) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if !o.closed {
		o.pending.Add(1)
		select {
		case o.queue <- c:
			return
		default:
			o.pending.Add(-1)
		}
	}
	o.cfg.observer.NotificationOutcome(NotificationDropped)
	o.cfg.logger.LogAttrs(c.context(), slog.LevelWarn, "order notification dropped",
		slog.String("order_id", c.orderID), slog.Bool("closed", o.closed))
}

func (o *outbox) close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		o.workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		o.cancel()
		return nil
	case <-ctx.Done():
		o.cancel()
		<-drained // workers drop what is left as soon as o.ctx ends
		if o.pending.Load() == 0 && !o.cut.Load() {
			return nil // nothing was left: the workers were only ending
		}
		return ctx.Err()
	}
}

func (o *outbox) work() {
	defer o.workers.Done()
	for c := range o.queue {
		outcome := NotificationDropped
		if o.ctx.Err() == nil {
			outcome = o.deliver(c)
		}
		if o.ctx.Err() != nil {
			o.cut.Store(true) // dropped, or its send cut short
		}
		o.cfg.observer.NotificationOutcome(outcome)
		o.pending.Add(-1)
	}
}

// deliver sends c with retries. The idempotency key is derived from the order
// id, so a retry after an ambiguous failure cannot notify twice.
func (o *outbox) deliver(c confirmation) string {
	req := notification.Request{
		UserID:   c.userID,
		Template: TemplateOrderConfirmed,
		Data:     map[string]any{"order_id": c.orderID, "total": c.total},
	}
	key := TemplateOrderConfirmed + ":" + c.orderID
	p := o.cfg.stepPolicy()
	p.Attempts = o.cfg.NotifyAttempts
	// The checkout's values, the outbox's end.
	ctx, cancel := context.WithCancel(c.context())
	defer cancel()
	defer context.AfterFunc(o.ctx, cancel)()
	err := upstream.Retry(ctx, p, func(ctx context.Context, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, o.cfg.NotifyTimeout)
		defer cancel()
		return o.send.Send(ctx, req, key)
	})
	if err == nil {
		return NotificationSent
	}
	o.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "order notification failed",
		slog.String("order_id", c.orderID), slog.String("error", err.Error()))
	return NotificationFailed
}
