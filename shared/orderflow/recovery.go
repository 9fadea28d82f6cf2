package orderflow

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
)

// Recovery outcomes given to Observer.SagaRecovered.
const (
	RecoveredCompleted = "completed"
	RecoveredFailed    = "failed"
	RecoveredPending   = "pending"
)

// RecoveryOutcomes are every value SagaRecovered receives.
var RecoveryOutcomes = []string{RecoveredCompleted, RecoveredFailed, RecoveredPending}

// backlogLimit bounds the sagas counted as the backlog after each pass.
const backlogLimit = 10_000

// recoveryBatch bounds the sagas one recovery pass takes over, and
// recoveryWorkers how many it drives at once.
const (
	recoveryBatch   = 256
	recoveryWorkers = 8
)

// RunRecovery runs Recover at once and then every recovery interval until
// ctx ends. Errors are logged: the next pass tries again. Once ctx ends it
// returns within an upstream call: the compensations of a pass stop with
// it, and what they left is taken up again from the journal.
func (f *Flow) RunRecovery(ctx context.Context) {
	t := time.NewTicker(f.cfg.RecoveryInterval)
	defer t.Stop()
	for {
		if _, err := f.Recover(ctx); err != nil && ctx.Err() == nil {
			f.cfg.logger.LogAttrs(ctx, slog.LevelError, "saga recovery pass failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Recover takes over every unfinished saga whose lease has ended (its
// runner crashed, lost its journal or ran out of budget) and drives it to
// its end: forward once the payment was captured (confirm the order, commit
// the stock, reserving it again if the reservation expired, or refund and
// cancel if the stock is gone), backward otherwise (cancel, void, release).
// It returns how many sagas it took over; one whose upstreams are still
// down stays unfinished for the next pass.
func (f *Flow) Recover(ctx context.Context) (int, error) {
	recs, err := f.deps.Journal.Expired(ctx, f.cfg.now(), recoveryBatch)
	var unreadable *UnreadableError
	if errors.As(err, &unreadable) {
		// Left for an operator, every pass until then; the backlog counts
		// them. The others are recovered.
		f.cfg.logger.LogAttrs(ctx, slog.LevelError, "saga records unreadable",
			slog.Any("sagas", unreadable.IDs), slog.String("error", unreadable.Err.Error()))
		err = nil
	}
	if err != nil {
		return 0, err
	}
	var taken atomic.Int64
	// Not errgroup.WithContext: a claim that fails must not cut the
	// sagas being recovered beside it, whose undos stop with ctx only.
	var g errgroup.Group
	g.SetLimit(recoveryWorkers)
	for _, rec := range recs {
		g.Go(func() error {
			led, err := f.claim(ctx, rec)
			if errors.Is(err, ErrConflict) {
				return nil // another replica took it
			}
			if err != nil {
				return err
			}
			taken.Add(1)
			var res Result
			// A panic (a bug, a record no version of the code expected)
			// leaves the saga to the next pass and an operator, rather than
			// end the process, which would meet the saga again on every
			// start.
			if msg := caught(func() { res, err = f.recover(ctx, led, undosStopWithCaller) }); msg != nil {
				f.cfg.logger.LogAttrs(ctx, slog.LevelError, "saga recovery panicked",
					slog.String("saga", rec.ID), slog.String("panic", *msg))
				return nil
			}
			f.reportRecovery(ctx, led.record(), res, err)
			return nil
		})
	}
	err = g.Wait()
	// The backlog is what nobody runs after the pass: a checkout in
	// progress holds its lease and is not counted.
	if n, err := f.deps.Journal.Backlog(ctx, f.cfg.now(), backlogLimit); err == nil {
		f.cfg.observer.JournalBacklog(n)
	}
	return int(taken.Load()), err
}

func (f *Flow) reportRecovery(ctx context.Context, rec Record, res Result, err error) {
	outcome := RecoveredPending
	switch rec.State {
	case StateCompleted:
		outcome = RecoveredCompleted
	case StateFailed:
		outcome = RecoveredFailed
	}
	f.cfg.observer.SagaRecovered(outcome)
	attrs := []slog.Attr{slog.String("saga", rec.ID), slog.String("outcome", outcome),
		slog.String("step", rec.Step.String()), slog.Int("attempt", rec.Attempt)}
	if res.Order.ID != "" {
		attrs = append(attrs, slog.String("order_id", res.Order.ID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	f.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "saga recovered", attrs...)
}

// recover drives the saga held by led, whose runner is gone, to its end;
// undos says whether its compensations outlive parent.
func (f *Flow) recover(parent context.Context, led *ledger, undos undoScope) (Result, error) {
	rec := led.record()
	parent, span := f.startRecovery(parent, rec)
	defer span.End()
	s := f.sagaFrom(led)
	s.undos = undos
	ctx, cancel := context.WithTimeout(parent, f.cfg.Timeout)
	defer cancel()
	stop := led.keepAlive(ctx)
	defer stop()
	// The money was taken once the journal says so, or when the capture in
	// doubt turns out to have happened: then the order must go through.
	captured := s.captured == done
	if rec.State == StateRunning && s.captured == unknown {
		var err error
		if captured, err = s.capturedUpstream(ctx); err != nil {
			// The money may have been taken, and then every step after it
			// too: neither way is safe until the payment service says.
			_ = led.letGo(parent)
			return Result{}, s.failure(ctx, "read back payment", err, nil)
		}
	}
	if rec.State == StateRunning && captured {
		from, err := s.settleFirstPhase(ctx, rec.Step)
		if err == nil && s.reserves > 0 && s.order.ID != "" {
			// The order may not have been moved onto the reservation made
			// after the first expired: commit only one it is on. (An order
			// the journal does not name yet, a checkout run again after its
			// record was lost, is created again by its reference in the
			// first phase, which moves it: see onLastReservation.)
			err = s.moveToReservation(ctx, movePhases)
		}
		if err == nil {
			err = s.forward(ctx, from, nil)
		}
		if err != nil && !errors.Is(err, errAbandoned) && transient(err) {
			// The money is taken: going on is the only way that keeps the
			// order. Leave it to the next pass.
			_ = led.letGo(parent)
			return Result{}, problem.From(err)
		}
		if err == nil {
			s.readBack(ctx)
		}
		return s.conclude(parent, err)
	}
	pe := interrupted()
	if rec.Failure != nil {
		pe = rec.Failure.Problem()
	}
	if rec.State == StateRunning {
		if err := led.save(parent, func(r *Record) {
			r.State = StateCompensating
			r.Failure = failureOf(pe)
		}); err != nil {
			return Result{}, s.abandoned(parent, err)
		}
	}
	return s.undo(parent, pe)
}

// interrupted is the answer of a saga cut short before its payment was
// captured and then undone: nothing is held, and a retry with the same key
// runs a new attempt.
func interrupted() *problem.Error {
	return &problem.Error{
		Code:       problem.CodeUnavailable,
		Detail:     "The order was interrupted and undone; please try again.",
		RetryAfter: time.Second,
	}
}

// transient reports whether err leaves the outcome open: a service down or
// slow, rather than a definitive refusal.
func transient(err error) bool {
	retry, _ := classify(err)
	return retry
}

// sagaFrom rebuilds the saga journaled in led's record. A step after the
// last journaled one may have happened; it is read back by reference before
// anything relies on it.
func (f *Flow) sagaFrom(led *ledger) *saga {
	rec := led.record()
	s := &saga{f: f, led: led, ref: f.attemptRef(rec), userID: rec.UserID,
		items: rec.Items, total: rec.Total, address: rec.Address, reserves: rec.Reserves}
	s.resv.ID, s.payment.ID, s.order.ID = rec.ReservationID, rec.PaymentID, rec.OrderID
	s.reserved = progressAt(rec.Step, StepReserved)
	s.authorized = progressAt(rec.Step, StepAuthorized)
	s.created = progressAt(rec.Step, StepCreated)
	s.captured = progressAt(rec.Step, StepCaptured)
	s.confirmed = progressAt(rec.Step, StepConfirmed)
	s.committed = progressAt(rec.Step, StepCommitted)
	if rec.Reserves > 0 && rec.ReservationID == "" {
		s.reserved = unknown
	}
	if len(rec.Items) == 0 {
		// Not yet priced in the journal: the second phase, which waits for
		// the prices' record, was never sent. The order may have been, and
		// cancelOrder settles it without them.
		s.captured, s.confirmed = notDone, notDone
	}
	// Whatever was on its way when the runner stopped may land yet. A
	// record without Started was written by an earlier version (or
	// rewritten by one, during a rolling upgrade), whose checkouts began
	// before this process: their window is taken as passed.
	if !rec.Started.IsZero() {
		s.started, s.lateReservation, s.lateHold = rec.Started, true, true
	}
	switch {
	case s.captured == done:
		s.payment.Status = payment.StatusCaptured
	case s.authorized == done:
		s.payment.Status = payment.StatusAuthorized
	}
	return s
}

// progressAt is what a journal that reached step reached tells of step st:
// done up to reached; in doubt in the two phases after it (the capture's
// phase, the second, is journaled while the next one runs); not done beyond,
// as far as a saga going backward knows. A saga goes backward only while
// the money is not taken, and the phases after the capture's run only once
// it is: they may have happened under any record, and recovery, going
// forward, sends them again by their references whatever it says. A record
// written one step at a time reads the same way, with more in doubt than
// was: a step in doubt is only read back before it is relied on.
func progressAt(reached, st Step) progress {
	switch next := phaseOf(reached + 1); {
	case reached >= st:
		return done
	case phaseOf(st) <= next+1:
		return unknown
	}
	return notDone
}

// capturedUpstream reads the payment back to settle a capture in doubt:
// captured, or not (no payment under the reference, or one not captured),
// or an error when the payment service could not say.
func (s *saga) capturedUpstream(ctx context.Context) (bool, error) {
	var p payment.Payment
	err := s.f.settle(ctx, func(c context.Context) (err error) {
		p, err = s.f.deps.Payments.ByReference(c, s.ref+"-pay")
		return err
	})
	switch {
	case isCode(err, upstream.KindNotFound, ""):
		return false, nil
	case err != nil:
		return false, err
	case p.Status != payment.StatusCaptured:
		return false, nil
	}
	s.payment, s.captured = p, done
	return true, nil
}

// settleFirstPhase is where a saga whose capture happened goes forward
// from, its journal having reached reached. The capture runs once the first
// phase is done, so a first phase still in doubt happened: its reservation
// is read back (the payment was, with the capture). Steps in doubt after it
// are run again, their references making them return what they did the
// first time; the first phase's cannot be, since the payment token is not
// journaled.
func (s *saga) settleFirstPhase(ctx context.Context, reached Step) (Step, error) {
	if reached >= StepAuthorized {
		return reached, nil
	}
	err := s.f.settle(ctx, func(c context.Context) (err error) {
		s.resv, err = s.f.deps.Catalog.ReservationByReference(c, s.reserveRef())
		return err
	})
	if err != nil {
		return reached, s.failure(ctx, "read back reservation", err, nil)
	}
	s.reserved, s.authorized = done, done
	return StepAuthorized, nil
}

// readBack completes a recovered order's result for its view: the order
// and payment as the services hold them, the products for the pictures.
// Each read is best-effort; what cannot be read is what the journal has,
// the order confirmed and its payment captured, as every step is done.
func (s *saga) readBack(ctx context.Context) {
	d := s.f.deps
	if o, err := d.Orders.ByReference(ctx, s.ref+"-ord"); err == nil {
		s.order = o
	} else {
		// Created about when the journal was last written before the
		// crash: the order service's own time is what could not be read.
		at := s.led.record().UpdatedAt
		s.order = order.Order{ID: s.order.ID, Reference: s.ref + "-ord", UserID: s.userID, Status: order.StatusConfirmed,
			Items: s.items, Total: s.total, PaymentID: s.payment.ID, ReservationID: s.resv.ID, ShippingAddress: s.address,
			CreatedAt: at, UpdatedAt: at}
	}
	if p, err := d.Payments.ByReference(ctx, s.ref+"-pay"); err == nil {
		s.payment = p
	} else {
		s.payment = payment.Payment{ID: s.payment.ID, Reference: s.ref + "-pay", UserID: s.userID,
			Amount: s.total, Status: payment.StatusCaptured}
	}
	ids := make([]int64, len(s.items))
	for i, l := range s.items {
		ids[i] = l.ProductID
	}
	if b, err := d.Catalog.GetMany(ctx, ids); err == nil {
		s.products = make(map[int64]product.Product, len(b.Items))
		for _, p := range b.Items {
			s.products[p.ID] = p
		}
	}
}
