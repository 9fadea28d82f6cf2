package orderflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"golang.org/x/sync/errgroup"

	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
)

// forwardSteps counts the steps that share the flow's deadline: the reads
// (price and profile, concurrent), reserve, authorize, create, capture,
// confirm and commit.
const forwardSteps = 7

// Upstream codes the compensations tell apart: each means the undo is moot.
const (
	codePaymentCaptured      = "payment_captured"
	codePaymentNotCaptured   = "payment_not_captured"
	codeReservationCommitted = "reservation_committed"
)

// Place runs the checkout saga for userID, the authenticated subject, and
// returns the confirmed order.
//
// reference identifies this attempt (the caller's idempotency key, or a fresh
// random id): the upstream writes use "<reference>-res", "<reference>-pay" and
// "<reference>-ord", so placing the same reference twice cannot reserve,
// charge or order twice.
//
// Every error is a *problem.Error: CodeInvalid (with Field) for bad input and
// unknown products, CodeOutOfStock with the "unavailable" lines,
// CodePaymentDeclined with a "reason", CodeUnavailable with RetryAfter when a
// required service is down or answered unexpectedly, CodeTimeout when the
// deadline ran out or a service did not answer in time. Before a failure is returned, whatever was done is
// undone: the order cancelled, the hold voided or the capture refunded, the
// reservation released.
func (f *Flow) Place(ctx context.Context, userID, reference string, in Input) (Result, error) {
	s, err := f.newSaga(userID, reference, in)
	if err == nil {
		err = s.run(ctx)
	}
	if err != nil {
		pe := problem.From(err)
		f.cfg.observer.OrderOutcome(string(pe.Code))
		return Result{}, pe
	}
	f.cfg.observer.OrderOutcome("confirmed")
	f.outbox.enqueue(confirmation{userID: userID, orderID: s.order.ID, total: s.order.Total})
	return Result{Order: s.order, Payment: s.payment, Products: s.products}, nil
}

// saga is the state of one Place call.
type saga struct {
	f      *Flow
	userID string
	ref    string
	lines  []line
	token  string

	products map[int64]product.Product
	address  *order.Address
	items    []order.Line
	total    money.Money

	resv    product.Reservation
	payment payment.Payment
	order   order.Order

	reserved, authorized, created, captured, committed progress
}

func (f *Flow) newSaga(userID, reference string, in Input) (*saga, error) {
	if userID == "" {
		return nil, problem.New(problem.CodeUnauthenticated, "The order has no authenticated user.")
	}
	if reference == "" {
		return nil, &problem.Error{Code: problem.CodeInternal, Detail: "The request could not be completed.",
			Err: errors.New("place order: empty reference")}
	}
	lines, err := normalize(in)
	if err != nil {
		return nil, err
	}
	return &saga{f: f, userID: userID, ref: reference, lines: lines, token: in.PaymentToken}, nil
}

func (s *saga) run(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, s.f.cfg.timeout)
	defer cancel()
	if err := s.prepare(ctx); err != nil {
		return err
	}
	err := s.forward(ctx)
	if err == nil {
		return nil
	}
	// Compensations outlive the request: a client that went away or a spent
	// deadline must not leave stock or money held.
	if s.compensate(context.WithoutCancel(parent)) {
		return nil
	}
	return err
}

// prepare prices the lines and reads the buyer's profile, concurrently.
func (s *saga) prepare(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.price(gctx) })
	g.Go(func() error { return s.profile(gctx) })
	return g.Wait()
}

func (s *saga) price(ctx context.Context) error {
	ids := make([]int64, len(s.lines))
	for i, l := range s.lines {
		ids[i] = l.ProductID
	}
	var batch product.Batch
	_, err := s.f.step(ctx, forwardSteps, func(c context.Context) (err error) {
		batch, err = s.f.deps.Catalog.GetMany(c, ids)
		return err
	})
	if err != nil {
		return s.failure(ctx, "price items", err, nil)
	}
	s.products = make(map[int64]product.Product, len(batch.Items))
	for _, p := range batch.Items {
		s.products[p.ID] = p
	}
	// Report the unknown product the client listed first, whatever the
	// service put in Missing.
	for _, l := range slices.SortedFunc(slices.Values(s.lines), func(a, b line) int { return a.first - b.first }) {
		if _, ok := s.products[l.ProductID]; !ok {
			return problem.Invalid(fmt.Sprintf("items[%d].product_id", l.first), "Product %d does not exist.", l.ProductID)
		}
	}
	s.items = make([]order.Line, len(s.lines))
	for i, l := range s.lines {
		p := s.products[l.ProductID]
		s.items[i] = order.Line{ProductID: p.ID, Name: p.Name, Quantity: l.Quantity, UnitPrice: p.Price}
		total, err := s.total.Add(p.Price.Times(l.Quantity))
		if err != nil {
			return problem.Invalid("items", "The products are priced in different currencies; order them separately.")
		}
		s.total = total
	}
	return nil
}

func (s *saga) profile(ctx context.Context) error {
	var addr *order.Address
	_, err := s.f.step(ctx, forwardSteps, func(c context.Context) error {
		u, err := s.f.deps.Profiles.Get(c, s.userID)
		if err == nil {
			addr = shippingAddress(u)
		}
		return err
	})
	if err != nil {
		return s.failure(ctx, "read profile", err, func(ue *upstream.Error) *problem.Error {
			if ue.Kind == upstream.KindNotFound {
				return problem.New(problem.CodeUnauthenticated, "The account no longer exists.")
			}
			return nil
		})
	}
	s.address = addr
	return nil
}

// shippingAddress is the user's default address, else the first one, else
// none: the order service accepts an order without one.
func shippingAddress(u user.User) *order.Address {
	if len(u.Addresses) == 0 {
		return nil
	}
	a := u.Addresses[0]
	for _, c := range u.Addresses {
		if c.Default {
			a = c
			break
		}
	}
	return &order.Address{Name: a.Name, Line1: a.Line1, Line2: a.Line2, City: a.City, PostalCode: a.PostalCode, Country: a.Country}
}

// forward runs the writes in order. Each step records what is known of its
// effect before returning, for compensate.
func (s *saga) forward(ctx context.Context) error {
	d := s.f.deps
	left := forwardSteps - 1

	reserve := product.ReserveRequest{Reference: s.ref + "-res", Items: make([]product.Line, len(s.lines))}
	for i, l := range s.lines {
		reserve.Items[i] = product.Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	amb, err := s.f.step(ctx, left, func(c context.Context) error {
		r, err := d.Catalog.Reserve(c, reserve)
		if err == nil {
			s.resv = r
		}
		return err
	})
	if s.reserved = progressOf(amb, err); err != nil {
		return s.failure(ctx, "reserve stock", err, func(ue *upstream.Error) *problem.Error {
			switch ue.Kind {
			case upstream.KindOutOfStock:
				lines := ue.Unavailable
				if lines == nil {
					lines = []upstream.UnavailableLine{}
				}
				return problem.New(problem.CodeOutOfStock, "Some items are not available in the quantity requested.").
					With("unavailable", lines)
			case upstream.KindNotFound, upstream.KindInvalid:
				return problem.Invalid("items", "The items cannot be ordered.")
			}
			return nil
		})
	}
	left--

	authorize := payment.AuthorizeRequest{Reference: s.ref + "-pay", UserID: s.userID, Amount: s.total, Token: s.token}
	amb, err = s.f.step(ctx, left, func(c context.Context) error {
		p, err := d.Payments.Authorize(c, authorize)
		if err == nil {
			s.payment = p
		}
		return err
	})
	if s.authorized = progressOf(amb, err); err != nil {
		return s.failure(ctx, "authorize payment", err, func(ue *upstream.Error) *problem.Error {
			switch ue.Kind {
			case upstream.KindDeclined:
				reason := ue.DeclineReason
				if reason == "" {
					reason = payment.ReasonCardDeclined
				}
				return problem.New(problem.CodePaymentDeclined, "The payment was declined.").With("reason", reason)
			case upstream.KindInvalid:
				if ue.Code == "invalid_token" {
					return problem.Invalid("payment_token", "The payment token is not valid.")
				}
			}
			return nil
		})
	}
	left--

	create := order.CreateRequest{
		Reference:       s.ref + "-ord",
		UserID:          s.userID,
		Items:           s.items,
		Total:           s.total,
		PaymentID:       s.payment.ID,
		ReservationID:   s.resv.ID,
		ShippingAddress: s.address,
	}
	amb, err = s.f.step(ctx, left, func(c context.Context) error {
		o, err := d.Orders.Create(c, create)
		if err == nil {
			s.order = o
		}
		return err
	})
	if s.created = progressOf(amb, err); err != nil {
		return s.failure(ctx, "create order", err, nil)
	}
	left--

	amb, err = s.f.step(ctx, left, func(c context.Context) error {
		p, err := d.Payments.Capture(c, s.payment.ID)
		if err == nil {
			s.payment = p
		}
		return err
	})
	if s.captured = progressOf(amb, err); err != nil {
		return s.failure(ctx, "capture payment", err, nil)
	}
	left--

	// An order whose confirmation is in doubt needs no read-back: cancelling
	// undoes a confirmed order as well as a pending one.
	_, err = s.f.step(ctx, left, func(c context.Context) error {
		o, err := d.Orders.Confirm(c, s.order.ID)
		if err == nil {
			s.order = o
		}
		return err
	})
	if err != nil {
		return s.failure(ctx, "confirm order", err, nil)
	}
	left--

	amb, err = s.f.step(ctx, left, func(c context.Context) error {
		r, err := d.Catalog.CommitReservation(c, s.resv.ID)
		if err == nil {
			s.resv = r
		}
		return err
	})
	if s.committed = progressOf(amb, err); err != nil {
		return s.failure(ctx, "commit reservation", err, nil)
	}
	return nil
}

// failure turns err from the step named what into the *problem.Error Place
// returns. business maps the step's definitive answers that mean something
// to the buyer; any other definitive answer is unexpected here (a hold that
// expired before capture, a total the order service disputes) and, like a
// service that is down, gets CodeUnavailable: trying again later may work.
func (s *saga) failure(ctx context.Context, what string, err error, business func(*upstream.Error) *problem.Error) *problem.Error {
	cause := fmt.Errorf("%s: %w", what, err)
	if ue, ok := upstream.As(err); ok && business != nil {
		if retry, _ := classify(err); !retry {
			if pe := business(ue); pe != nil {
				pe.Err = cause
				return pe
			}
		}
	}
	if ctx.Err() != nil || upstream.KindOf(err) == upstream.KindTimeout {
		detail := "The order could not be completed in time."
		if errors.Is(ctx.Err(), context.Canceled) {
			detail = "The request was cancelled before the order was completed."
		}
		return &problem.Error{Code: problem.CodeTimeout, Detail: detail, Err: cause}
	}
	return &problem.Error{
		Code:       problem.CodeUnavailable,
		Detail:     "A service needed to place the order is unavailable; please try again.",
		RetryAfter: s.f.cfg.retryAfter,
		Err:        cause,
	}
}

// compensate undoes what the forward steps did, latest first, each undo with
// its own budget on ctx (detached from the request). It reports true when
// undoing revealed that the saga had in fact completed: the commit, the last
// step, was in doubt and the reservation turned out to be committed.
func (s *saga) compensate(ctx context.Context) (completed bool) {
	released := false
	if s.committed == unknown {
		// Releasing first settles the doubt atomically: either the release
		// wins and an in-flight commit will be refused, or the service says
		// the reservation is committed and every step has happened.
		committed, ok := s.releaseReservation(ctx)
		if committed {
			s.resv.Status = product.ReservationCommitted
			s.f.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "order completed after an ambiguous commit",
				slog.String("reference", s.ref), slog.String("order_id", s.order.ID))
			return true
		}
		released = ok
	}
	if s.created != notDone {
		s.cancelOrder(ctx)
	}
	if s.authorized != notDone {
		s.settlePayment(ctx)
	}
	if s.reserved != notDone && !released {
		if committed, _ := s.releaseReservation(ctx); committed {
			// Only a commit can make a reservation unreleasable, and the
			// commit is tried after every other step succeeded; the stock is
			// sold while the order was undone above. Conservation still holds.
			s.f.cfg.logger.LogAttrs(ctx, slog.LevelError, "reservation committed for an undone order",
				slog.String("reference", s.ref), slog.String("reservation_id", s.resv.ID))
		}
	}
	return false
}

// budget derives the context of one compensation.
func (s *saga) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.f.cfg.compensationBudget)
}

func (s *saga) cancelOrder(parent context.Context) {
	ctx, cancel := s.budget(parent)
	defer cancel()
	id := s.order.ID
	if s.created == unknown {
		var o order.Order
		err := s.f.settle(ctx, func(c context.Context) (err error) {
			o, err = s.f.deps.Orders.ByReference(c, s.ref+"-ord")
			return err
		})
		if isCode(err, upstream.KindNotFound, "") {
			return
		}
		if err != nil {
			s.gaveUp(ctx, "read back order", err)
			return
		}
		id = o.ID
	}
	err := s.f.settle(ctx, func(c context.Context) error {
		_, err := s.f.deps.Orders.Cancel(c, id)
		return err
	})
	if err != nil && !isCode(err, upstream.KindNotFound, "") {
		s.gaveUp(ctx, "cancel order", err)
	}
}

// settlePayment voids the hold, or refunds the capture.
func (s *saga) settlePayment(parent context.Context) {
	ctx, cancel := s.budget(parent)
	defer cancel()
	p := s.payment
	if s.authorized == unknown || s.captured == unknown {
		err := s.f.settle(ctx, func(c context.Context) (err error) {
			p, err = s.f.deps.Payments.ByReference(c, s.ref+"-pay")
			return err
		})
		if isCode(err, upstream.KindNotFound, "") {
			return
		}
		if err != nil {
			s.gaveUp(ctx, "read back payment", err)
			return
		}
	}
	void := func(c context.Context) error {
		_, err := s.f.deps.Payments.Void(c, p.ID)
		return err
	}
	refund := func(c context.Context) error {
		_, err := s.f.deps.Payments.Refund(c, p.ID)
		return err
	}
	var err error
	switch p.Status {
	case payment.StatusAuthorized:
		// Voiding also fences a capture still in flight: whichever lands
		// second is refused, and a refused void means a refund is due.
		err = s.f.settle(ctx, void)
		if isCode(err, upstream.KindConflict, codePaymentCaptured) {
			err = s.f.settle(ctx, refund)
		}
	case payment.StatusCaptured:
		err = s.f.settle(ctx, refund)
		if isCode(err, upstream.KindConflict, codePaymentNotCaptured) {
			err = s.f.settle(ctx, void)
		}
	default:
		// Declined, voided, refunded or expired: no money is held.
		return
	}
	if err != nil {
		s.gaveUp(ctx, "release payment", err)
	}
}

// releaseReservation returns the reserved units. It reports whether the
// reservation turned out to be committed, and whether nothing is held any
// more.
func (s *saga) releaseReservation(parent context.Context) (committed, settled bool) {
	ctx, cancel := s.budget(parent)
	defer cancel()
	id := s.resv.ID
	if s.reserved == unknown {
		var r product.Reservation
		err := s.f.settle(ctx, func(c context.Context) (err error) {
			r, err = s.f.deps.Catalog.ReservationByReference(c, s.ref+"-res")
			return err
		})
		if isCode(err, upstream.KindNotFound, "") {
			return false, true
		}
		if err != nil {
			s.gaveUp(ctx, "read back reservation", err)
			return false, false
		}
		if r.Status != product.ReservationActive {
			return r.Status == product.ReservationCommitted, true
		}
		id = r.ID
	}
	err := s.f.settle(ctx, func(c context.Context) error {
		// An expired reservation is answered 200 with nothing held.
		_, err := s.f.deps.Catalog.ReleaseReservation(c, id)
		return err
	})
	switch {
	case err == nil, isCode(err, upstream.KindNotFound, ""):
		return false, true
	case isCode(err, upstream.KindConflict, codeReservationCommitted):
		return true, true
	}
	s.gaveUp(ctx, "release reservation", err)
	return false, false
}

// gaveUp logs a compensation that ran out of budget or met an answer it
// cannot act on. What it left behind expires upstream by TTL (holds,
// reservations) or stays visible for reconciliation (orders).
func (s *saga) gaveUp(ctx context.Context, what string, err error) {
	s.f.cfg.logger.LogAttrs(ctx, slog.LevelError, "order compensation gave up",
		slog.String("step", what), slog.String("reference", s.ref), slog.String("error", err.Error()))
}
