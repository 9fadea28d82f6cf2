package orderflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// errUnsettled says that a compensation ran out of budget: something may
// still be held, and the saga stays unfinished for recovery to go on.
var errUnsettled = errors.New("compensation unsettled")

// compensate undoes what the forward steps did, latest first, each undo with
// its own budget on ctx (detached from the request) and journaled once done,
// so that recovery resumes after it. It reports true when undoing revealed
// that the saga had in fact completed: the commit was in doubt, the
// reservation turned out to be committed, the order was confirmed, and no
// undo had run yet. While that release cannot be made, a confirmed order
// is left as it is, its money too, and the saga unsettled. (A pass of an
// earlier version went on to cancel the order and give the money back:
// that order no longer stands, and the stock sold for it is reported.)
func (s *saga) compensate(ctx context.Context) (completed bool, err error) {
	undone := s.led.record().Undone
	released := slices.Contains(undone, UndoReservation)
	if s.committed == unknown && !released {
		// Releasing first settles the doubt atomically: either the release
		// wins and an in-flight commit will be refused, or the service says
		// the reservation is committed and every step has happened.
		mayHaveCompleted := s.confirmed == done && len(undone) == 0
		var committed bool
		ok := s.tracedUndo(ctx, "release", func(ctx context.Context) bool {
			var settled bool
			committed, settled = s.releaseReservation(ctx)
			return settled
		})
		if committed && mayHaveCompleted {
			s.resv.Status = product.ReservationCommitted
			s.f.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "order completed after an ambiguous commit",
				slog.String("reference", s.ref), slog.String("order_id", s.order.ID))
			return true, nil
		}
		if committed {
			s.soldForUndone(ctx)
		}
		if !ok && mayHaveCompleted {
			// The checkout may have completed: the confirmed order and
			// its money stay as they are until the release settles which.
			return false, errUnsettled
		}
		if ok {
			if err := s.markUndone(ctx, UndoReservation); err != nil {
				return false, err
			}
			released = true
		}
	}
	undos := []struct {
		undo   Undo
		name   string
		needed bool
		run    func(context.Context) bool
	}{
		{UndoOrder, "cancel order", s.created != notDone, s.cancelOrder},
		{UndoPayment, "settle payment", s.authorized != notDone, s.settlePayment},
		{UndoReservation, "release", s.reserved != notDone && !released, s.release},
	}
	settled := true
	for _, u := range undos {
		if !u.needed || slices.Contains(undone, u.undo) {
			continue
		}
		if !s.tracedUndo(ctx, u.name, u.run) {
			settled = false
			continue
		}
		if err := s.markUndone(ctx, u.undo); err != nil {
			return false, err
		}
	}
	if !settled {
		return false, errUnsettled
	}
	return false, nil
}

// mayLand reports whether a write of the attempt found missing may still
// land: late says its call went unanswered (or its runner stopped), and
// the window of Config.LateWrites after the attempt's deadline has not
// passed. The undo is then unsettled, and the saga is held until the
// window ends (lateUntil), when recovery looks again.
func (s *saga) mayLand(ctx context.Context, late bool, what string) bool {
	until := s.started.Add(s.f.cfg.Timeout + s.f.cfg.LateWrites)
	if !late || !s.f.cfg.now().Before(until) {
		return false
	}
	if until.After(s.lateUntil) {
		s.lateUntil = until
	}
	s.f.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "unanswered write not found yet; looked for again until it can no longer land",
		slog.String("reference", s.ref), slog.String("write", what), slog.Time("until", until))
	return true
}

// markUndone journals that the compensation u is done.
func (s *saga) markUndone(ctx context.Context, u Undo) error {
	return s.led.save(ctx, func(r *Record) { r.Undone = append(r.Undone, u) })
}

// budget derives the context of one compensation.
func (s *saga) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.f.cfg.CompensationBudget)
}

// cancelOrder cancels the order, reading it back by reference when its
// creation is in doubt, and, when the order service does not know it,
// sending the creation again (createAgain) so that a late one cannot
// leave an order pending; without the prices to send it again, it waits
// for the creation until it can no longer land (see mayLand). It reports
// whether no order is left standing.
func (s *saga) cancelOrder(parent context.Context) bool {
	ctx, cancel := s.budget(parent)
	defer cancel()
	id := s.order.ID
	if s.created == unknown || id == "" {
		o, err := s.orderByReference(ctx)
		if isCode(err, upstream.KindNotFound, "") && len(s.items) == 0 {
			// Sent while its prices were journaled, which the runner did
			// not live to record: it cannot be sent again, and may still
			// land until the window of late writes ends.
			return !s.mayLand(ctx, true, "order")
		}
		if isCode(err, upstream.KindNotFound, "") {
			o, err = s.createAgain(ctx)
		}
		switch {
		case errors.Is(err, errNoOrder):
			return true
		case err != nil:
			s.gaveUp(ctx, "settle order creation", err)
			return false
		}
		id = o.ID
	}
	err := s.f.settle(ctx, func(c context.Context) error {
		_, err := s.f.deps.Orders.Cancel(c, id)
		return err
	})
	if err != nil && !isCode(err, upstream.KindNotFound, "") {
		s.gaveUp(ctx, "cancel order", err)
		return false
	}
	return true
}

// errNoOrder is createAgain's answer when the order service holds no order
// under the saga's reference.
var errNoOrder = errors.New("no order under the reference")

// createAgain settles a creation in doubt that the order service does not
// know of yet: it may still be on its way. Sent again under its reference
// (once, within a share of the budget), the creation lands on the order
// one made, or makes it, so that a copy landing late finds it cancelled
// rather than leaving an order pending. An answer other than the order
// may hide one (made, then answered with an error; or the first copy
// landing meanwhile, which a request told differently meets as a reused
// reference), so the order is read back again: found, it is the answer;
// not found, only a refusal of the request itself means there is none.
// Anything else is an error, and the undo is left to recovery.
func (s *saga) createAgain(ctx context.Context) (order.Order, error) {
	actx, cancel := context.WithTimeout(ctx, s.f.cfg.undoAttempt())
	o, err := s.f.deps.Orders.Create(actx, s.orderRequest())
	cancel()
	if err == nil {
		return o, nil
	}
	again, rerr := s.orderByReference(ctx)
	switch {
	case rerr == nil:
		return again, nil
	case !isCode(rerr, upstream.KindNotFound, ""):
		return order.Order{}, rerr
	case isCode(err, upstream.KindInvalid, "") && !isCode(err, upstream.KindInvalid, string(problem.CodeIdempotencyReused)):
		return order.Order{}, errNoOrder
	}
	return order.Order{}, err
}

// orderByReference reads the saga's order back by its reference.
func (s *saga) orderByReference(ctx context.Context) (order.Order, error) {
	var o order.Order
	err := s.f.settle(ctx, func(c context.Context) (err error) {
		o, err = s.f.deps.Orders.ByReference(c, s.ref+"-ord")
		return err
	})
	return o, err
}

// settlePayment voids the hold, or refunds the capture. It reports whether
// no money is held any more.
func (s *saga) settlePayment(parent context.Context) bool {
	ctx, cancel := s.budget(parent)
	defer cancel()
	p := s.payment
	if s.authorized == unknown || s.captured == unknown || p.ID == "" {
		err := s.f.settle(ctx, func(c context.Context) (err error) {
			p, err = s.f.deps.Payments.ByReference(c, s.ref+"-pay")
			return err
		})
		if isCode(err, upstream.KindNotFound, "") {
			return s.authorized != unknown || !s.mayLand(ctx, s.lateHold, "payment hold")
		}
		if err != nil {
			s.gaveUp(ctx, "read back payment", err)
			return false
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
		switch {
		case isCode(err, upstream.KindConflict, codePaymentCaptured):
			err = s.f.settle(ctx, refund)
		case isCode(err, upstream.KindConflict, codePaymentRefunded):
			// Captured and refunded since it was answered authorized (by
			// an earlier run of this checkout, whose record was lost):
			// nothing is held.
			err = nil
		}
	case payment.StatusCaptured:
		err = s.f.settle(ctx, refund)
		if isCode(err, upstream.KindConflict, codePaymentNotCaptured) {
			err = s.f.settle(ctx, void)
		}
	case payment.StatusDeclined, payment.StatusVoided, payment.StatusRefunded, payment.StatusExpired:
		return true // no money is held
	default:
		// A status the service never documented may hold money: the
		// saga stays unfinished, in the backlog, logged on every pass.
		s.gaveUp(ctx, "release payment", fmt.Errorf("payment %s has the unknown status %q", p.ID, problem.Clip(p.Status)))
		return false
	}
	if err != nil {
		s.gaveUp(ctx, "release payment", err)
		return false
	}
	return true
}

// release returns the reserved units as the last undo.
func (s *saga) release(ctx context.Context) bool {
	committed, settled := s.releaseReservation(ctx)
	if committed {
		s.soldForUndone(ctx)
	}
	return settled
}

// soldForUndone logs a reservation found committed for an order being
// undone. Only a commit makes a reservation unreleasable, and a saga goes
// forward once its commit may have happened unless a service refused a step
// outright (an order cancelled by someone else): the stock is sold while the
// order is undone. Conservation still holds.
func (s *saga) soldForUndone(ctx context.Context) {
	s.f.cfg.logger.LogAttrs(ctx, slog.LevelError, "reservation committed for an undone order",
		slog.String("reference", s.ref), slog.String("reservation_id", s.resv.ID))
}

// releaseReservation returns the reserved units. It reports whether the
// reservation turned out to be committed, and whether nothing is held any
// more.
func (s *saga) releaseReservation(parent context.Context) (committed, settled bool) {
	ctx, cancel := s.budget(parent)
	defer cancel()
	id := s.resv.ID
	if s.reserved == unknown || id == "" {
		var r product.Reservation
		err := s.f.settle(ctx, func(c context.Context) (err error) {
			r, err = s.f.deps.Catalog.ReservationByReference(c, s.reserveRef())
			return err
		})
		if isCode(err, upstream.KindNotFound, "") {
			return false, s.reserved != unknown || !s.mayLand(ctx, s.lateReservation, "reservation")
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
// cannot act on. The saga stays unfinished in the journal, and recovery
// tries again.
func (s *saga) gaveUp(ctx context.Context, what string, err error) {
	s.gaveUpOnce = true
	s.f.cfg.logger.LogAttrs(ctx, slog.LevelError, "order compensation gave up",
		slog.String("step", what), slog.String("reference", s.ref), slog.String("error", err.Error()))
}
