// Package orderflow places orders: a checkout saga over the product, payment,
// order, user and notification services that either completes (stock sold,
// money captured, order confirmed) or undoes what it did, so that no money is
// taken without an order and no stock stays held for an order that failed.
//
// Every write carries a reference derived from the caller's, so an ambiguous
// failure (a timeout, a dropped connection, a 5xx) is resolved by trying the
// same call again, or by reading the outcome back, never by guessing.
//
// The package is plain Go: the HTTP edges turn the request into a Request
// with ParseRequest, call Place with it, and map the *problem.Error it
// returns to a status.
package orderflow

import (
	"context"
	"errors"
	"fmt"

	"storefront.dev/shared/upstream/notification"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
	"storefront.dev/shared/workers"
)

// Catalog prices products and holds stock for an order.
type Catalog interface {
	GetMany(ctx context.Context, ids []int64) (product.Batch, error)
	Reserve(ctx context.Context, r product.ReserveRequest) (product.Reservation, error)
	CommitReservation(ctx context.Context, id string) (product.Reservation, error)
	ReleaseReservation(ctx context.Context, id string) (product.Reservation, error)
	ReservationByReference(ctx context.Context, ref string) (product.Reservation, error)
}

// Payments holds, takes and gives back money.
type Payments interface {
	Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Payment, error)
	Capture(ctx context.Context, id string) (payment.Payment, error)
	Void(ctx context.Context, id string) (payment.Payment, error)
	Refund(ctx context.Context, id string) (payment.Payment, error)
	ByReference(ctx context.Context, ref string) (payment.Payment, error)
}

// Orders records orders.
type Orders interface {
	Create(ctx context.Context, r order.CreateRequest) (order.Order, error)
	Confirm(ctx context.Context, id string, r order.ConfirmRequest) (order.Order, error)
	Cancel(ctx context.Context, id string) (order.Order, error)
	Reassign(ctx context.Context, id string, r order.ReassignRequest) (order.Order, error)
	ByReference(ctx context.Context, ref string) (order.Order, error)
}

// Profiles reads the buyer's profile, for the shipping address.
type Profiles interface {
	Get(ctx context.Context, id string) (user.User, error)
}

// Notifier tells the buyer that the order is confirmed.
type Notifier interface {
	Send(ctx context.Context, r notification.Request, idempotencyKey string) error
}

// Deps are the services a Flow talks to, and the journal it keeps its sagas
// in. All are required. Their errors are
// expected to be *upstream.Error, which tells a definitive answer from an
// ambiguous one; any other error is treated as ambiguous.
type Deps struct {
	Catalog  Catalog
	Payments Payments
	Orders   Orders
	Profiles Profiles
	Notifier Notifier
	Journal  Journal
}

// Result is a placed order with what a rich view needs around it.
type Result struct {
	// Order is the confirmed order.
	Order order.Order `json:"order"`
	// Payment is the captured payment.
	Payment payment.Payment `json:"payment"`
	// Products are the priced products of the order, by id.
	Products map[int64]product.Product `json:"products"`
	// Replayed is true when the outcome is that of an earlier request with
	// the same Idempotency-Key (or of its recovery), not of this one.
	Replayed bool `json:"-"`
}

// Flow places orders. It is safe for concurrent use; Close stops its
// notification workers and its idle checkout workers.
type Flow struct {
	deps   Deps
	cfg    config
	outbox *outbox
	// workers run the goroutines a checkout starts.
	workers *workers.Pool
	// completions are the completion records being written behind answers.
	completions completions
	// owner names this Flow in the leases it writes.
	owner string
}

// New returns a Flow over d with the settings cfg (start from
// DefaultConfig) and starts its notification workers. It panics when a
// dependency is missing or cfg does not validate, which is a wiring mistake,
// not a runtime condition.
func New(d Deps, cfg Config, opts ...Option) *Flow {
	if d.Catalog == nil || d.Payments == nil || d.Orders == nil || d.Profiles == nil || d.Notifier == nil || d.Journal == nil {
		panic("orderflow: New needs every dependency in Deps")
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	f := &Flow{deps: d, cfg: newConfig(cfg, opts), owner: randomID()[:12]}
	f.deps.Journal = timedJournal{Journal: d.Journal, observer: f.cfg.observer}
	f.outbox = newOutbox(d.Notifier, &f.cfg)
	f.workers = workers.New()
	return f
}

// Close waits for the completion records being written behind the
// answers, stops accepting notifications and sends those already queued
// until ctx ends; what is still queued then is dropped and reported. It
// returns ctx's error when either could not be finished in time: a saga
// whose completion record was cut short is completed again by recovery.
// Its idle workers end then too. Place keeps working after Close, without
// notifications.
func (f *Flow) Close(ctx context.Context) error {
	defer f.workers.Close()
	var behind error
	if err := f.completions.drain(ctx); err != nil {
		behind = fmt.Errorf("orderflow: completion records left to recovery: %w", err)
	}
	return errors.Join(behind, f.outbox.close(ctx))
}

// Interface guards: the typed clients are what New is given in production.
var (
	_ Catalog  = (*product.Client)(nil)
	_ Payments = (*payment.Client)(nil)
	_ Orders   = (*order.Client)(nil)
	_ Profiles = (*user.Client)(nil)
	_ Notifier = (*notification.Client)(nil)
)
