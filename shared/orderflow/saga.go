package orderflow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
	"storefront.dev/shared/upstream/order"
	"storefront.dev/shared/upstream/payment"
	"storefront.dev/shared/upstream/product"
	"storefront.dev/shared/upstream/user"
)

// forwardSteps counts the rounds that share the flow's deadline: the reads
// (price and profile, concurrent), then each phase of writes.
const forwardSteps = 1 + len(phases)

// Upstream codes the saga tells apart.
const (
	codePaymentCaptured      = "payment_captured"
	codePaymentNotCaptured   = "payment_not_captured"
	codePaymentRefunded      = "payment_refunded"
	codeReservationCommitted = "reservation_committed"
	codeReservationExpired   = "reservation_expired"
	// codeReservationSuperseded refuses a move of the order older than the
	// last one applied to it (see moveToReservation).
	codeReservationSuperseded = "reservation_superseded"
)

// saga is the state of one checkout attempt, as journaled in its ledger.
type saga struct {
	f   *Flow
	led *ledger
	// ref prefixes the upstream references of this attempt's writes.
	ref string
	// id and attempt are the record's, from which ref derives; inStock
	// moves attempt on past one that was undone (see laterAttempt).
	id      string
	attempt int
	userID  string
	lines   []line
	token   string

	products map[int64]product.Product
	address  *order.Address
	items    []order.Line
	total    money.Money

	// reserves numbers the reservation in use: recovery reserves again
	// when the first expired before it was committed.
	reserves int
	resv     product.Reservation
	payment  payment.Payment
	order    order.Order

	reserved, authorized, created, captured, confirmed, committed progress
	// started is when the attempt began; lateReservation and lateHold that
	// its reservation or payment hold, unanswered, may still land (see
	// Config.LateWrites). Each is written by its own step: they run at once.
	started                   time.Time
	lateReservation, lateHold bool
	// lateUntil is when the unanswered writes that compensate found
	// missing can no longer land; gaveUpOnce that an undo failed for
	// another reason (see gaveUp).
	lateUntil  time.Time
	gaveUpOnce bool
	// undos says whether the compensations outlive the context that runs
	// the saga (see undo).
	undos undoScope
}

// undoScope says whether a saga's compensations outlive the context that
// runs it.
type undoScope int

const (
	// undosOutliveCaller is a request's saga: a client that went away or
	// a spent deadline must not leave stock or money held.
	undosOutliveCaller undoScope = iota
	// undosStopWithCaller is a recovery pass's: it ends at shutdown, and
	// what is left undone is taken up by the next pass, on this replica
	// or another, from the journal.
	undosStopWithCaller
)

// newSaga validates in for userID.
func (f *Flow) newSaga(userID string, in Input) (*saga, error) {
	if userID == "" {
		return nil, problem.New(problem.CodeUnauthenticated, "The order has no authenticated user.")
	}
	lines, err := normalize(in)
	if err != nil {
		return nil, err
	}
	return &saga{f: f, userID: userID, lines: lines, token: in.PaymentToken}, nil
}

// fresh is the order s is for, with nothing done yet.
func (s *saga) fresh() *saga {
	return &saga{f: s.f, userID: s.userID, lines: s.lines, token: s.token}
}

// run drives a saga just journaled at StepStarted to its end, once prepared
// has priced it; ctx carries the checkout's deadline, parent is the
// request's context.
func (s *saga) run(parent, ctx context.Context, prepared <-chan prepared) (Result, error) {
	stop := s.led.keepAlive(ctx)
	defer stop()
	if p := <-prepared; p.err != nil || p.panicked != nil {
		return s.refuse(parent, p)
	}
	defer func() {
		// A step that panicked (a bug) leaves the saga as a crash would,
		// but handed over to recovery at once rather than at its lease's
		// end; the panic goes on to the server's recovery, which answers
		// 500. Stack is the panic's own: the deferred call runs above it.
		if v := recover(); v != nil {
			_ = s.led.letGo(parent)
			panic(fmt.Sprintf("%v\n%s", v, debug.Stack()))
		}
	}()
	// The prices are journaled beside the first phase, and on disk before
	// the second, which recovery may finish: it needs them.
	if s.attempt != s.led.record().Attempt {
		// A later attempt of a key whose record was lost (see inStock):
		// journaled before anything is sent under its references.
		if err := s.led.save(ctx, func(r *Record) { r.Attempt = s.attempt }); err != nil {
			return Result{}, s.abandoned(parent, err)
		}
	}
	items, total, address, reserves := s.items, s.total, s.address, s.reserves
	priced := s.journalBehind(ctx, func(r *Record) { r.Items, r.Total, r.Address, r.Reserves = items, total, address, reserves })
	if err := s.forward(ctx, StepStarted, priced); err != nil {
		return s.conclude(parent, err)
	}
	return s.completeBehind(parent), nil
}

// refuse answers a saga that p says could not be priced, and journals it
// failed: nothing was sent upstream, so nothing is undone. Nothing is kept
// for its key (see Record.Refused), and the record is written behind the
// answer (see completions), but for an order out of stock, whose answer is
// the key's, as when its reservation is refused: replayed to the key's
// retries, it is on disk before it is given. A panic while pricing is
// raised again once journaled, on this goroutine, where the server's
// recovery answers it.
func (s *saga) refuse(parent context.Context, p prepared) (Result, error) {
	pe := problem.From(p.err)
	if p.panicked != nil {
		pe = problem.New(problem.CodeInternal, "The order could not be priced.")
	}
	kept := pe.Code == problem.CodeOutOfStock && s.led.record().Key != ""
	write := func() error {
		return s.led.save(context.WithoutCancel(parent), func(r *Record) {
			r.State, r.Refused = StateFailed, pe.Code != problem.CodeOutOfStock
			r.Failure = failureOf(pe)
		})
	}
	// A record left running is settled by recovery, which finds nothing
	// priced and nothing sent.
	switch {
	case p.panicked != nil:
		if err := write(); err != nil {
			s.f.logJournal(parent, s.ref, err)
		}
		panic(*p.panicked)
	case kept:
		if err := write(); err != nil {
			return Result{}, s.abandoned(parent, err)
		}
		return Result{}, pe
	}
	end := s.f.completions.begin(s.led.record().ID)
	go func() {
		defer end()
		if err := write(); err != nil {
			s.f.logJournal(parent, s.ref, err)
		}
	}()
	return Result{}, pe
}

// conclude ends a saga whose forward steps returned err: it completes it, or
// undoes what was done and journals the failure. A saga whose journal can no
// longer be written is left as it stands, for recovery.
func (s *saga) conclude(parent context.Context, err error) (Result, error) {
	if err == nil {
		return s.complete(parent)
	}
	if errors.Is(err, errAbandoned) {
		return Result{}, s.abandoned(parent, err)
	}
	pe := problem.From(err)
	if s.committed == notDone && s.reserved != notDone && transient(err) {
		switch s.soldBefore(parent) {
		case done:
			s.committed = done
		case unknown:
			// Not undone before the product service can say: recovery
			// asks again.
			_ = s.led.letGo(parent)
			return Result{}, pe
		}
	}
	if (s.captured == done && s.confirmed == done || s.committed != notDone) && transient(err) {
		// The order is confirmed and paid, and its stock may be sold, which
		// cannot be undone: it can only go forward. Recovery takes it over at once and
		// finishes it when the service is back; the retry of the key gets
		// the order.
		_ = s.led.letGo(parent)
		pe.Detail = "The order is being completed; retry with the same Idempotency-Key to get it."
		if pe.Code == problem.CodeUnavailable {
			pe.RetryAfter = max(pe.RetryAfter, unavailableRetryAfter)
		}
		return Result{}, pe
	}
	if err := s.led.save(parent, func(r *Record) {
		r.State = StateCompensating
		r.Failure = failureOf(pe)
	}); err != nil {
		return Result{}, s.abandoned(parent, err)
	}
	return s.undo(parent, pe)
}

// soldBefore settles, for a saga about to be undone after a failure in
// doubt before it sent its commit, whether an earlier run of the same
// checkout sold its stock: one whose record was lost (a Redis restarted
// without its append-only file) may have run to its end, and this run,
// under the same references, got that run's first answers back and failed
// on a step it sent again. Undoing would cancel a confirmed order and give
// its money back while its stock stays sold. It reports done when the last
// reservation made under the checkout's references is committed, unknown
// when the product service cannot say, and notDone otherwise. The read has
// a budget of its own, past the request's deadline.
func (s *saga) soldBefore(parent context.Context) progress {
	ctx, cancel := s.budget(context.WithoutCancel(parent))
	defer cancel()
	_, r, err := s.lastReservation(ctx, 0)
	switch {
	case isCode(err, upstream.KindNotFound, ""):
		return notDone
	case err != nil:
		return unknown
	case r.Status == product.ReservationCommitted:
		s.f.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "order found completed by an earlier run",
			slog.String("reference", s.ref), slog.String("reservation_id", r.ID))
		return done
	}
	return notDone
}

// undo runs the compensations of a saga journaled as compensating and, once
// nothing is held, journals it failed with pe.
func (s *saga) undo(parent context.Context, pe *problem.Error) (Result, error) {
	ctx := parent
	if s.undos == undosOutliveCaller {
		ctx = context.WithoutCancel(parent)
	}
	completed, err := s.compensate(ctx)
	switch {
	case completed:
		return s.complete(parent)
	case errors.Is(err, errAbandoned):
		return Result{}, s.abandoned(parent, err)
	case err != nil && (s.lateUntil.IsZero() || s.gaveUpOnce):
		// Something is still held: recovery goes on undoing it, and the
		// answer stays the one journaled.
		_ = s.led.letGo(parent)
		return Result{}, pe
	case err != nil:
		// Only a write that may still land is unsettled: recovery looks for
		// it once it no longer can, and retries wait until then.
		_ = s.led.letGoAt(parent, s.lateUntil)
		return Result{}, pe
	}
	if err := s.led.save(parent, func(r *Record) { r.State = StateFailed }); err != nil {
		s.f.logJournal(parent, s.ref, err)
	}
	return Result{}, pe
}

// complete journals the saga completed and returns its result.
func (s *saga) complete(ctx context.Context) (Result, error) {
	res := Result{Order: s.order, Payment: s.payment, Products: s.products}
	s.completed(ctx, res)
	return res, nil
}

// completeBehind is complete with the record written on a goroutine of its
// own, off the answer's path (see completions).
func (s *saga) completeBehind(ctx context.Context) Result {
	res := Result{Order: s.order, Payment: s.payment, Products: s.products}
	end := s.f.completions.begin(s.led.record().ID)
	s.f.workers.Go(func() {
		defer end()
		s.completed(context.WithoutCancel(ctx), res)
	})
	return res
}

// completed journals the saga completed with res and queues the buyer's
// confirmation.
func (s *saga) completed(ctx context.Context, res Result) {
	err := s.led.save(ctx, func(r *Record) {
		r.State = StateCompleted
		r.Step = StepCommitted
		r.Result = &res
	})
	if err != nil {
		// Every step happened: the order is the client's answer. The record
		// stays unfinished and recovery, going forward, completes it again.
		s.f.logJournal(ctx, s.ref, err)
	}
	s.f.outbox.enqueue(confirmation{origin: context.WithoutCancel(ctx), userID: s.userID, orderID: s.order.ID, total: s.order.Total})
}

// abandoned is the answer of a saga that stopped because its journal failed.
func (s *saga) abandoned(ctx context.Context, err error) error {
	s.f.logJournal(ctx, s.ref, err)
	return &problem.Error{
		Code:       problem.CodeUnavailable,
		Detail:     "The order could not be recorded; it will be settled shortly, retry with the same Idempotency-Key.",
		RetryAfter: s.f.cfg.LeaseTTL,
		Err:        err,
	}
}

// prepared is what prepare found: the first error, or a panic's message.
type prepared struct {
	err      error
	panicked *string
}

// prepare prices the lines and reads the buyer's profile, concurrently and
// behind the caller; the first to fail cancels the other. A panic in
// either is sent as a message, for the caller to raise again on its own
// goroutine, where the server's recovery answers it (on another it would
// end the process). ctx must outlive the channel's answer.
func (s *saga) prepare(ctx context.Context) <-chan prepared {
	out := make(chan prepared, 1)
	s.f.workers.Go(func() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var once sync.Once
		var first error
		fail := func(err error) {
			if err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}
		done := make(chan *string, 1)
		s.f.workers.Go(func() { done <- caught(func() { fail(s.price(ctx)) }) })
		msg := caught(func() { fail(s.profile(ctx)) })
		if m := <-done; m != nil {
			msg = m
		}
		out <- prepared{err: first, panicked: msg}
	})
	return out
}

// caught runs fn and returns its panic, with the stack, as a message; nil
// when fn returned.
func caught(fn func()) (msg *string) {
	defer func() {
		if v := recover(); v != nil {
			m := fmt.Sprintf("orderflow: panic: %v\n%s", v, debug.Stack())
			msg = &m
		}
	}()
	fn()
	return nil
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
	return s.inStock(ctx)
}

// inStock refuses the order, as its reservation would be, when the stock the
// product service gave with the prices falls short of a line: once a sale
// has run out, a checkout then sends no write at all, where it would
// otherwise reserve, authorize and create its order, and undo the last two.
// Short, it first looks the checkout's own reservations up by reference,
// since a checkout run again after its record was lost (a Redis restarted
// without its append-only file, a failover) may be short of the units it
// holds, or sold, itself: under the reservation made again after one
// expired (see reserveAgain), or under the key's next attempt after this
// one was undone (see laterAttempt: its reservation released, or expired
// before the undo released it). It then goes on under the last one
// made, held, sold or expired, whose references the services deduplicate
// (see lastReservation); with none, or one released, the stock read
// stands. The reservation decides when the service cannot say.
func (s *saga) inStock(ctx context.Context) error {
	var short []upstream.UnavailableLine
	for _, l := range s.lines {
		if p := s.products[l.ProductID]; p.Stock < l.Quantity {
			short = append(short, upstream.UnavailableLine{ProductID: p.ID, Requested: l.Quantity, Available: max(p.Stock, 0)})
		}
	}
	if short == nil {
		return nil
	}
	for {
		n, r, err := s.lastReservation(ctx, 0)
		switch {
		case err == nil && (r.Status == product.ReservationReleased || r.Status == product.ReservationExpired) && s.laterAttempt(ctx):
			// A next attempt follows only one that failed, whose
			// reservation was released, or expired before its release.
			continue
		case err == nil && r.Status == product.ReservationReleased, isCode(err, upstream.KindNotFound, ""):
			return outOfStock(&upstream.Error{Service: "product", Op: "price", Kind: upstream.KindOutOfStock, Unavailable: short})
		}
		s.reserves = n
		return nil
	}
}

// lastReservation looks up the checkout's reservations by reference from
// the one numbered from: one that expired before its commit was followed
// by another under the next number (see reserveAgain), so it follows the
// expired ones to the last one made and returns it with its number. Not
// found is the error when none from on was made.
func (s *saga) lastReservation(ctx context.Context, from int) (int, product.Reservation, error) {
	var last product.Reservation
	for n := from; ; n++ {
		var r product.Reservation
		_, err := s.f.step(ctx, forwardSteps, func(c context.Context) (err error) {
			r, err = s.f.deps.Catalog.ReservationByReference(c, s.reserveRefOf(n))
			return err
		})
		switch {
		case isCode(err, upstream.KindNotFound, "") && n > from:
			return n - 1, last, nil
		case err != nil:
			return n, r, err
		case r.Status != product.ReservationExpired:
			return n, r, nil
		}
		last = r
	}
}

// laterAttempt reports whether the key's next attempt made a reservation,
// and if so moves the saga onto that attempt's references; the record
// takes its number before anything is sent under them (see run).
func (s *saga) laterAttempt(ctx context.Context) bool {
	next := s.f.attemptRef(Record{ID: s.id, Attempt: s.attempt + 1})
	_, err := s.f.step(ctx, forwardSteps, func(c context.Context) error {
		_, err := s.f.deps.Catalog.ReservationByReference(c, next+"-res")
		return err
	})
	if err != nil {
		return false
	}
	s.attempt++
	s.ref = next
	return true
}

// onLastReservation puts a checkout run again after its record was lost
// onto the last reservation it made, once its first phase is done. The
// service answers a reference it knows with the reservation it first
// made: one whose time ran out already was made by an earlier run, and
// recovery may have reserved again under the next number since and moved
// the order there, so the saga goes on under the last one made (a fresh
// reservation's time lies ahead: no lookup). A checkout under any but its
// first reservation then moves the order onto it, which may not have been
// done yet; the move holds when repeated.
func (s *saga) onLastReservation(ctx context.Context, left int) error {
	// Expired by the service's word (a reservation read back) or by its
	// time (one answered as first made).
	expired := s.resv.Status == product.ReservationExpired || !s.resv.ExpiresAt.IsZero() && !s.resv.ExpiresAt.After(s.f.cfg.now())
	if expired {
		n, r, err := s.lastReservation(ctx, s.reserves+1)
		if err == nil && n > s.reserves {
			s.reserves, s.resv = n, r
			if err := s.led.save(ctx, func(rec *Record) { rec.Reserves, rec.ReservationID = n, r.ID }); err != nil {
				return err
			}
		}
	}
	if s.reserves == 0 {
		return nil
	}
	return s.moveToReservation(ctx, left)
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

// forward runs the steps after from, phase by phase. Of the phases, only
// the capture's journals its outcome, while the next phase runs: recovery
// reads the steps before the capture back by their references, and, once
// the money is taken, goes forward, sending every later step again by its
// reference whatever the journal says. priced, if not nil, is the prices'
// record on its way, written beside the first phase: it lands before the
// second phase, which recovery may finish from them. The capture's record
// is written beside the commit and lands before the answer, and either
// record before the saga acts on a failure: a record leaves the two phases
// after it in doubt (see progressAt). The saga's end is journaled by
// complete.
func (s *saga) forward(ctx context.Context, from Step, priced <-chan error) error {
	pricesSaved, captureSaved := landing(priced), landing(nil)
	// Whatever happens, no journal write is left running behind.
	defer func() { _, _ = pricesSaved(), captureSaved() }()
	saved := func() error { return cmp.Or(pricesSaved(), captureSaved()) }
	for i, ph := range phases {
		todo := slices.DeleteFunc(slices.Clone(ph), func(st Step) bool { return st <= from })
		if len(todo) == 0 {
			continue
		}
		// A journal that failed (a lease renewal, while the phase before
		// ran) stops the saga before it sends anything more.
		if err := s.led.stoppedBy(); err != nil {
			return err
		}
		// The commit, which no compensation undoes, is sent beside the
		// capture's record once the journal, read back, shows that no other
		// runner has taken the saga over: one that does from then on reads
		// the payment back as captured, and goes forward. Otherwise (the
		// runner stalled past its lease, or the read failed) it waits for
		// that record: a runner that lost the saga learns it there, fenced
		// by the record's version, rather than sell the stock of an order
		// recovery is undoing.
		if slices.Contains(todo, StepCommitted) && !s.led.owns(ctx) {
			if err := captureSaved(); err != nil {
				return err
			}
		}
		// The capture, which takes the money, is sent only once the
		// journal, read back after every write of the phase before was
		// answered, shows that no other runner has taken the saga over: one
		// that does from then on finds the hold and voids it (refusing the
		// capture) or refunds it. Otherwise (the read failed, or another
		// runner wrote) a write fenced by the record's version settles it.
		// Without this, a runner that lost the saga while its first phase
		// ran would capture a hold that recovery took as never made.
		if slices.Contains(todo, StepCaptured) && !s.led.owns(ctx) {
			if err := s.led.save(ctx, func(*Record) {}); err != nil {
				return err
			}
		}
		// Phases still to run under the deadline, this one included.
		left := len(phases) - i
		err := s.concurrently(ctx, todo, left)
		// The phases after the capture's do not wait for its record,
		// unless they fail, when the saga acts on a journal that holds.
		if i <= capturePhase || err != nil {
			if jerr := saved(); jerr != nil {
				return jerr
			}
		}
		if errors.Is(err, errReservationExpired) {
			err = s.reserveAgain(ctx, left)
		}
		if err == nil && i == 0 {
			err = s.onLastReservation(ctx, left)
		}
		if err != nil {
			return err
		}
		if i == capturePhase {
			captureSaved = landing(s.journalPhase(ctx, ph[len(ph)-1]))
		}
	}
	return saved()
}

// landing waits once for the journal write on its way on ch, nil for
// none, and then returns its error every time; it may be called from
// several goroutines.
func landing(ch <-chan error) func() error {
	return sync.OnceValue(func() error {
		if ch == nil {
			return nil
		}
		return <-ch
	})
}

// capturePhase is the index in phases of the capture's phase.
var capturePhase = phaseOf(StepCaptured)

// journalPhase writes, on its own goroutine, that the forward steps up to
// last are done, with the ids they returned; the channel gets its error.
func (s *saga) journalPhase(ctx context.Context, last Step) <-chan error {
	resv, pay, ord := s.resv.ID, s.payment.ID, s.order.ID
	return s.journalBehind(ctx, func(r *Record) {
		r.Step = last
		r.ReservationID, r.PaymentID, r.OrderID = resv, pay, ord
	})
}

// journalBehind saves change on a goroutine of its own; the channel gets
// the error. change must read only what no step will write meanwhile.
func (s *saga) journalBehind(ctx context.Context, change func(*Record)) <-chan error {
	done := make(chan error, 1)
	s.f.workers.Go(func() { done <- s.led.save(ctx, change) })
	return done
}

// concurrently runs the forward steps of one phase, each but the last on a
// goroutine of its own, and waits for all of them: a step that fails does not cut its
// siblings short, so that each ends with an outcome the compensations can
// act on. It returns the error of the first failed step in the flow's
// order (out of stock before declined, as a buyer would expect), or the
// journal's, which stops the saga whatever else happened.
func (s *saga) concurrently(ctx context.Context, steps []Step, left int) error {
	type outcome struct {
		span  trace.Span
		err   error
		ended time.Time
	}
	runs := make([]func() outcome, len(steps))
	names := make([]string, len(steps))
	for i, st := range steps {
		// Bound before any step starts: a step reads what earlier phases
		// set, never what a sibling is writing.
		name, run := s.step(st)
		if run == nil {
			return fmt.Errorf("orderflow: no step %d", st)
		}
		names[i] = name
		runs[i] = func() outcome {
			ctx, span := s.f.cfg.tracer.Start(ctx, "checkout "+name)
			err := run(ctx, left)
			return outcome{span, err, time.Now()}
		}
	}
	if len(runs) == 0 {
		return nil
	}
	outs := make([]outcome, len(runs))
	var wg sync.WaitGroup
	// A step that panics, on a goroutine of its own or on this one, has
	// its panic raised again here once every sibling is done: on its own
	// goroutine it would take the process down, and a saga handed to
	// recovery (see run) while a sibling's call is still on its way could
	// be settled before that call lands.
	var panicked atomic.Pointer[string]
	guarded := func(i int) {
		if msg := caught(func() { outs[i] = runs[i]() }); msg != nil {
			m := "step " + names[i] + ": " + *msg
			panicked.CompareAndSwap(nil, &m)
		}
	}
	last := len(runs) - 1
	for i := range runs[:last] {
		wg.Add(1)
		s.f.workers.Go(func() { defer wg.Done(); guarded(i) })
	}
	// The last step runs on this goroutine, whose stack has grown already
	// (see package workers).
	guarded(last)
	wg.Wait()
	if msg := panicked.Load(); msg != nil {
		panic(*msg)
	}
	var first error
	for i, o := range outs {
		s.endSpan(o.span, names[i], o.err, s.order.ID, o.ended)
		if first == nil || errors.Is(o.err, errAbandoned) && !errors.Is(first, errAbandoned) {
			first = o.err
		}
	}
	return first
}

// step is the forward step st: the name of its span and what it runs.
func (s *saga) step(st Step) (string, func(context.Context, int) error) {
	switch st {
	case StepReserved:
		return "reserve", s.reserve
	case StepAuthorized:
		return "authorize", s.authorize
	case StepCreated:
		return "create", s.create(s.orderRequest())
	case StepCaptured:
		return "capture", s.capture(s.payment.ID)
	case StepConfirmed:
		return "confirm", s.confirm(s.order.ID, order.ConfirmRequest{PaymentID: s.payment.ID, ReservationID: s.resv.ID})
	case StepCommitted:
		return "commit", s.commit
	}
	return "", nil
}

// reserveRef is the reference of the saga's current reservation.
func (s *saga) reserveRef() string { return s.reserveRefOf(s.reserves) }

// reserveRefOf is the reference of the saga's reservation numbered n: the
// first is 0, one made again after it expired 1, and so on.
func (s *saga) reserveRefOf(n int) string {
	if n == 0 {
		return s.ref + "-res"
	}
	return fmt.Sprintf("%s-res%d", s.ref, n)
}

func (s *saga) reserve(ctx context.Context, left int) error {
	req := product.ReserveRequest{Reference: s.reserveRef(), Items: make([]product.Line, len(s.items))}
	for i, l := range s.items {
		req.Items[i] = product.Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	d, err := s.f.step(ctx, left, func(c context.Context) error {
		r, err := s.f.deps.Catalog.Reserve(c, req)
		if err == nil {
			s.resv = r
		}
		return err
	})
	s.lateReservation = d == unanswered
	if s.reserved = progressOf(d, err); err != nil {
		return s.failure(ctx, "reserve stock", err, outOfStock)
	}
	return nil
}

// outOfStock maps the product service's refusals of a reservation.
func outOfStock(ue *upstream.Error) *problem.Error {
	switch ue.Kind {
	case upstream.KindOutOfStock:
		lines := ue.Unavailable
		if lines == nil {
			lines = []upstream.UnavailableLine{}
		}
		return problem.New(problem.CodeOutOfStock, "Some items are not available in the quantity requested.").
			With("unavailable", lines)
	case upstream.KindNotFound:
		return problem.Invalid("items", "The items cannot be ordered.")
	case upstream.KindInvalid:
		// A product gone since it was priced. Any other refusal is of a
		// request this flow built: the service failing, not the buyer's
		// order, and not to be replayed as its answer.
		if ue.Code == unknownProduct {
			return problem.Invalid("items", "The items cannot be ordered.")
		}
	}
	return nil
}

// unknownProduct is the product service's code for a reservation naming a
// product it does not know.
const unknownProduct = "unknown_product"

func (s *saga) authorize(ctx context.Context, left int) error {
	req := payment.AuthorizeRequest{Reference: s.ref + "-pay", UserID: s.userID, Amount: s.total, Token: s.token}
	d, err := s.f.step(ctx, left, func(c context.Context) error {
		p, err := s.f.deps.Payments.Authorize(c, req)
		if err == nil {
			s.payment = p
		}
		return err
	})
	s.lateHold = d == unanswered
	if s.authorized = progressOf(d, err); err != nil {
		return s.failure(ctx, "authorize payment", err, declined)
	}
	return nil
}

// declineCode reports whether reason reads as a provider's decline code
// (expired_card, do_not_honor), which the buyer's 402 passes on: at most
// 64 lower-case letters, digits and underscores. Anything else, free text
// included, is the upstream's own words and is answered card_declined.
func declineCode(reason string) bool {
	if reason == "" || len(reason) > 64 {
		return false
	}
	for _, r := range reason {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// declined maps the payment service's refusals of an authorization.
func declined(ue *upstream.Error) *problem.Error {
	switch ue.Kind {
	case upstream.KindDeclined:
		reason := ue.DeclineReason
		if !declineCode(reason) {
			reason = payment.ReasonCardDeclined
		}
		return problem.New(problem.CodePaymentDeclined, "The payment was declined.").With("reason", reason)
	case upstream.KindInvalid:
		// A well-formed token the provider does not know is its refusal,
		// not a malformed request: the client's check passed.
		if ue.Code == payment.ReasonInvalidToken {
			return problem.New(problem.CodePaymentDeclined, "The payment provider does not know this token.").With("reason", payment.ReasonInvalidToken)
		}
	}
	return nil
}

// orderRequest is the pending order: the priced lines, made from the
// journal alone, so that a creation sent again is the same request. Its
// payment and reservation, made beside it, are named as it is confirmed.
func (s *saga) orderRequest() order.CreateRequest {
	return order.CreateRequest{
		Reference:       s.ref + "-ord",
		UserID:          s.userID,
		Items:           s.items,
		Total:           s.total,
		ShippingAddress: s.address,
	}
}

// create makes the pending order req. It is sent while the prices are
// journaled: a creation in doubt is settled by sending it again (see
// createAgain), or, their record lost, by waiting until it can no longer
// land (see cancelOrder).
func (s *saga) create(req order.CreateRequest) func(context.Context, int) error {
	return func(ctx context.Context, left int) error {
		amb, err := s.f.step(ctx, left, func(c context.Context) error {
			o, err := s.f.deps.Orders.Create(c, req)
			if err == nil {
				s.order = o
			}
			return err
		})
		if isCode(err, upstream.KindInvalid, string(problem.CodeIdempotencyReused)) {
			// Made under this reference by a request told otherwise: an
			// earlier version's, which named the payment and the
			// reservation at creation. That order is the saga's; one that
			// cannot be read back is in doubt, for an undo to settle.
			o, rerr := s.orderByReference(ctx)
			if rerr == nil {
				s.order, err = o, nil
			}
			amb = answered
		}
		if s.created = progressOf(amb, err); err != nil {
			return s.failure(ctx, "create order", err, nil)
		}
		return nil
	}
}

// capture takes the money held by the payment id.
func (s *saga) capture(id string) func(context.Context, int) error {
	return func(ctx context.Context, left int) error {
		amb, err := s.f.step(ctx, left, func(c context.Context) error {
			p, err := s.f.deps.Payments.Capture(c, id)
			if err == nil {
				s.payment = p
			}
			return err
		})
		if s.captured = progressOf(amb, err); err != nil {
			return s.failure(ctx, "capture payment", err, nil)
		}
		return nil
	}
}

// confirm confirms the order id on the payment and the reservation req
// names; it runs beside capture, which rewrites the payment req was built
// from.
func (s *saga) confirm(id string, req order.ConfirmRequest) func(context.Context, int) error {
	return func(ctx context.Context, left int) error {
		// An order whose confirmation is in doubt needs no read-back:
		// cancelling undoes a confirmed order as well as a pending one.
		amb, err := s.f.step(ctx, left, func(c context.Context) error {
			o, err := s.f.deps.Orders.Confirm(c, id, req)
			if err == nil {
				s.order = o
			}
			return err
		})
		if s.confirmed = progressOf(amb, err); err != nil {
			return s.failure(ctx, "confirm order", err, nil)
		}
		return nil
	}
}

// errMovedOn is moveToReservation's cause when the order service refused
// the move as superseded and the saga could not find the later reservation
// the order was moved onto: a pass that cannot go on, to be tried again.
var errMovedOn = errors.New("orderflow: the order was moved on by a later run of this checkout")

// errReservationExpired is commit's answer when the reservation expired
// before it was committed (recovery came after its TTL); forward then
// reserves again.
var errReservationExpired = errors.New("orderflow: reservation expired before its commit")

// commit sells the reserved units.
func (s *saga) commit(ctx context.Context, left int) error {
	amb, err := s.f.step(ctx, left, func(c context.Context) error {
		r, err := s.f.deps.Catalog.CommitReservation(c, s.resv.ID)
		if err == nil {
			s.resv = r
		}
		return err
	})
	if isCode(err, upstream.KindConflict, codeReservationExpired) {
		return errReservationExpired
	}
	if s.committed = progressOf(amb, err); err != nil {
		return s.failure(ctx, "commit reservation", err, nil)
	}
	return nil
}

// reserveAgain replaces an expired reservation under a new reference,
// moves the order onto it and commits it, as long as each new reservation
// expires before its commit; if the stock is gone by then, the saga fails
// out of stock and is undone, refund included.
func (s *saga) reserveAgain(ctx context.Context, left int) error {
	for {
		s.reserves++
		s.resv = product.Reservation{}
		if err := s.led.save(ctx, func(r *Record) { r.Reserves, r.ReservationID = s.reserves, "" }); err != nil {
			return err
		}
		if err := s.moveToReservation(ctx, left); err != nil {
			return err
		}
		if err := s.commit(ctx, left); !errors.Is(err, errReservationExpired) {
			return err
		}
	}
}

// movePhases is the left of moveToReservation when recovery runs it on its
// own, before the last phase: the rounds that share the deadline, itself
// and that phase.
const movePhases = 2

// moveToReservation makes the reservation numbered s.reserves the order's:
// reserved under its reference unless the journal has its id (the product
// service answers a reference it knows with the reservation it made),
// journaled, and the order moved onto it. Each part holds when repeated,
// so recovery runs the whole of it again, wherever a crash cut it short.
//
// The move carries the reservation's number, and the order service
// refuses one below the last it applied, so that the move of a runner
// that stalled past its lease, landing after recovery moved the order on,
// cannot take it back (see order.ReassignRequest). Refused so, the saga
// is behind one of its own runs (a journal that lost its last writes): it
// goes on under the last reservation made, as a checkout whose record was
// lost does (see lastReservation).
func (s *saga) moveToReservation(ctx context.Context, left int) error {
	for {
		if s.resv.ID == "" {
			if err := s.reserve(ctx, left); err != nil {
				return err
			}
			if err := s.led.save(ctx, func(r *Record) { r.ReservationID = s.resv.ID }); err != nil {
				return err
			}
		}
		_, err := s.f.step(ctx, left, func(c context.Context) error {
			o, err := s.f.deps.Orders.Reassign(c, s.order.ID, order.ReassignRequest{ReservationID: s.resv.ID, Sequence: s.reserves})
			if err == nil {
				s.order = o
			}
			return err
		})
		if err == nil {
			return nil
		}
		if !isCode(err, upstream.KindConflict, codeReservationSuperseded) {
			return s.failure(ctx, "move order to the new reservation", err, nil)
		}
		// Found, a later reservation is numbered above s.reserves.
		n, r, lerr := s.lastReservation(ctx, s.reserves+1)
		if lerr != nil {
			// Not undone, whatever the lookup answered: the run that moved
			// the order on may have sold its stock. The cause names no
			// upstream answer, so the saga is left to the next pass.
			return s.failure(ctx, "move order to the new reservation", fmt.Errorf("%w (looking up the later reservations: %v)", errMovedOn, lerr), nil)
		}
		s.reserves, s.resv = n, r
		if err := s.led.save(ctx, func(rec *Record) { rec.Reserves, rec.ReservationID = n, r.ID }); err != nil {
			return err
		}
	}
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
		RetryAfter: unavailableRetryAfter,
		Err:        cause,
	}
}
