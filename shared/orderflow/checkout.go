package orderflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/order"
)

// Request is one checkout as the edge received it.
type Request struct {
	// UserID is the buyer: the token's subject, never a field of the body.
	UserID string
	// Key is the request's Idempotency-Key. Empty, Place generates one and
	// journals it before the first write, so the checkout is as crash-safe
	// as one with a key; only the client cannot retry it.
	Key string
	// Input is the decoded body.
	Input Input
}

// Place runs the checkout for r and returns the confirmed order.
//
// One (user, key) places at most one order: Place journals the saga under
// an id derived from the flow's name, the user and the key before its first
// write, and every upstream write carries a reference derived from that id,
// so a step sent again (by a retry, or by recovery after a crash, on any
// replica) is deduplicated upstream. A retry with the same key and body gets
// the first request's outcome, with Result.Replayed set: the order, or the
// same problem. While the first request (or its recovery) runs, a retry
// gets CodeIdempotencyBusy with a Retry-After; a retry with another body
// gets CodeIdempotencyReused. A key whose checkout failed with nothing held
// for a reason unrelated to the order (a service down, the deadline) runs a
// new attempt. Nothing is kept for an order refused as it was priced (an
// unknown product, a service down): its key is judged afresh, whatever the
// body.
//
// Every error is a *problem.Error: CodeInvalid (with Field) for bad input and
// unknown products, CodeOutOfStock with the "unavailable" lines,
// CodePaymentDeclined with a "reason", CodeUnavailable with RetryAfter when a
// required service or the journal is down, CodeTimeout when the deadline ran
// out. Before a failure is returned, whatever was done is undone: the order
// cancelled, the hold voided or the capture refunded, the reservation
// released.
func (f *Flow) Place(ctx context.Context, r Request) (Result, error) {
	res, err := f.place(ctx, r)
	if err != nil {
		pe := problem.From(err)
		// A replay, or a refusal of the key itself, is no order attempt.
		if !res.Replayed && pe.Code != problem.CodeIdempotencyBusy && pe.Code != problem.CodeIdempotencyReused {
			f.cfg.observer.OrderOutcome(outcomeOf(pe.Code))
		}
		return res, pe
	}
	if !res.Replayed {
		f.cfg.observer.OrderOutcome(OutcomeConfirmed)
	}
	return res, nil
}

// The outcomes of an order attempt, as Observer.OrderOutcome reports them:
// the customer's (confirmed, invalid, out_of_stock, payment_declined) and
// the service's (unavailable, timeout, error).
const (
	OutcomeConfirmed   = "confirmed"
	OutcomeInvalid     = "invalid"
	OutcomeOutOfStock  = "out_of_stock"
	OutcomeDeclined    = "payment_declined"
	OutcomeUnavailable = "unavailable"
	OutcomeTimeout     = "timeout"
	OutcomeError       = "error"
)

// OrderOutcomes are every value OrderOutcome receives, for metrics to
// start at zero.
var OrderOutcomes = []string{OutcomeConfirmed, OutcomeInvalid, OutcomeOutOfStock, OutcomeDeclined,
	OutcomeUnavailable, OutcomeTimeout, OutcomeError}

// outcomeOf is the outcome of an attempt that failed with code.
func outcomeOf(code problem.Code) string {
	switch code {
	case problem.CodeInvalid, problem.CodeMalformedJSON:
		return OutcomeInvalid
	case problem.CodeOutOfStock:
		return OutcomeOutOfStock
	case problem.CodePaymentDeclined:
		return OutcomeDeclined
	case problem.CodeUnavailable, problem.CodeOverloaded:
		return OutcomeUnavailable
	case problem.CodeTimeout:
		return OutcomeTimeout
	}
	return OutcomeError
}

// IsRetry reports whether a request with userID's key would be answered
// from what the key's checkout did already, with no new attempt: its record
// is completed (replayed, or a 422 for another body), failed for good
// (replayed), or running under a live lease (the key is in use). A key
// refused as it was priced, or whose attempt failed for a reason a retry
// may try again, or whose runner is gone, may start a new attempt, as may
// a key of "": none of those is a retry.
func (f *Flow) IsRetry(ctx context.Context, userID, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	// As place does: the record of an answer just given may still be on
	// its way (see completions).
	id := f.sagaID(userID, key)
	f.completions.await(ctx, id)
	rec, ok, err := f.deps.Journal.Get(ctx, id)
	if err != nil || !ok {
		return false, err
	}
	switch rec.State {
	case StateCompleted:
		return true, nil
	case StateFailed:
		return !rec.Refused && rec.Failure != nil && !rec.Failure.Retryable(), nil
	}
	return f.cfg.now().Before(rec.LeaseUntil), nil
}

func (f *Flow) place(ctx context.Context, r Request) (Result, error) {
	s, err := f.newSaga(r.UserID, r.Input)
	if err != nil {
		return Result{}, err
	}
	// A checkout without a key gets a saga id of its own, and its record
	// no key, so that it is not kept for retries nobody can send.
	named := r.Key
	if named == "" {
		named = "gen-" + randomID()
	}
	id := f.sagaID(r.UserID, named)
	fp := fingerprint(s.lines, s.token)
	// A pass ends in an answer unless the record changed under it (another
	// request took the key at the same moment); a third pass means the key
	// is being fought over, which is what "busy" says. Each pass starts
	// from a saga with nothing done: one that lost the race may have
	// priced the order already.
	for range 3 {
		f.completions.await(ctx, id)
		rec, ok, err := f.deps.Journal.Get(ctx, id)
		if err != nil {
			return Result{}, journalDown(err)
		}
		var res Result
		if !ok {
			res, err = f.start(ctx, s.fresh(), Record{ID: id, UserID: r.UserID, Key: r.Key, Fingerprint: fp})
		} else {
			res, err = f.resume(ctx, s.fresh(), rec, fp)
		}
		if !lostRace(err) && !errors.Is(err, errUndoneForRetry) {
			return res, err
		}
	}
	return Result{}, f.busy(time.Second)
}

// lostRace reports whether err says another request took the key before
// this one's saga wrote anything: not a saga that ran and was then fenced
// (abandoned), which has its own answer.
func lostRace(err error) bool {
	return errors.Is(err, ErrConflict) && !errors.Is(err, errAbandoned)
}

// start journals rec as the saga's first record (its attempt number set by
// the caller) while the order is priced, and runs it. ErrConflict means
// another request took the key meanwhile.
func (f *Flow) start(parent context.Context, s *saga, rec Record) (Result, error) {
	ctx, cancel := context.WithTimeout(parent, f.cfg.Timeout)
	defer cancel()
	// Nothing is sent upstream before the record exists and the order is
	// priced, so pricing that fails needs no undo. The record holds the
	// prices once the first phase's writes are on their way (see run).
	// The references are known before pricing, which looks one up (see
	// inStock).
	s.ref = f.attemptRef(rec)
	s.id, s.attempt = rec.ID, rec.Attempt
	prepared := s.prepare(ctx)
	rec.State, rec.Step = StateRunning, StepStarted
	rec.Trace = traceParent(parent)
	f.stamp(&rec, f.cfg.LeaseTTL)
	rec.Started = rec.UpdatedAt
	s.started = rec.Started
	if err := f.open(parent, &rec); err != nil {
		if errors.Is(err, ErrConflict) {
			// The key is another request's: its pricing is of no use.
			cancel()
		}
		p := <-prepared
		if p.panicked != nil {
			panic(*p.panicked)
		}
		// An order refused as it was priced gets its refusal whatever the
		// journal's trouble, when nothing would be kept for it (see refuse).
		if code := problem.From(p.err).Code; p.err != nil && !errors.Is(err, ErrConflict) && problem.StatusOf(code) < 500 &&
			(code != problem.CodeOutOfStock || rec.Key == "") {
			return Result{}, p.err
		}
		return Result{}, err
	}
	s.led = f.hold(rec)
	return s.run(parent, ctx, prepared)
}

// open writes rec, the first record of an attempt: created when it is the
// key's first, else over the failed attempt before it.
func (f *Flow) open(ctx context.Context, rec *Record) error {
	if rec.Version == 0 {
		rec.Version = 1
		_, created, err := f.deps.Journal.Create(ctx, *rec)
		switch {
		case err != nil:
			return journalDown(err)
		case !created:
			return ErrConflict
		}
		return nil
	}
	if err := f.deps.Journal.Update(ctx, *rec); err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return journalDown(err)
	}
	return nil
}

// resume answers a request whose key already has a record.
func (f *Flow) resume(ctx context.Context, s *saga, rec Record, fp string) (Result, error) {
	if rec.State == StateFailed && rec.Refused {
		// Nothing is kept for it: the key is judged afresh.
		return f.start(ctx, s, nextAttempt(rec, fp))
	}
	now := f.cfg.now()
	if rec.Fingerprint != fp {
		if rec.State == StateRunning && len(rec.Items) == 0 && now.Before(rec.LeaseUntil) {
			// The first request is still being priced, and may yet be
			// refused, which keeps nothing for the key.
			return Result{}, f.busy(rec.LeaseUntil.Sub(now))
		}
		return Result{}, problem.New(problem.CodeIdempotencyReused,
			"This Idempotency-Key was used with a different request body.")
	}
	switch {
	case rec.State == StateCompleted && rec.Result == nil:
		return Result{}, problem.Wrap(fmt.Errorf("saga %s: completed without a result", rec.ID),
			problem.CodeInternal, "The order's record is unreadable.")
	case rec.State == StateCompleted:
		res := *rec.Result
		res.Replayed = true
		if res.Order.Status == "" {
			// A result recovered by an earlier version whose order could not
			// be read back: the order is confirmed, or it would not be.
			res.Order.Status = order.StatusConfirmed
		}
		return res, nil
	case rec.State == StateFailed && !rec.Failure.Retryable():
		return Result{Replayed: true}, rec.Failure.Problem()
	case rec.State == StateFailed:
		return f.start(ctx, s, nextAttempt(rec, fp))
	case now.Before(rec.LeaseUntil):
		return Result{}, f.busy(rec.LeaseUntil.Sub(now))
	}
	// Its runner died (or lost its journal): settle it now rather than make
	// the client wait for the next recovery pass.
	led, err := f.claim(ctx, rec)
	if err != nil {
		return Result{}, err
	}
	res, err := f.recover(ctx, led, undosOutliveCaller)
	settled := led.record()
	f.reportRecovery(ctx, settled, res, err)
	if settled.State == StateFailed && settled.Failure != nil && settled.Failure.Retryable() {
		// Undone, as a recovery pass before this request would have left
		// it: this request runs the next attempt.
		return Result{}, errUndoneForRetry
	}
	if now := f.cfg.now(); settled.State == StateCompensating && now.Before(settled.LeaseUntil) {
		// Held until a write that may still land no longer can (see
		// mayLand): not undone yet, and the key is busy until then.
		return Result{}, f.busy(settled.LeaseUntil.Sub(now))
	}
	// The outcome of the earlier attempt once recovery has settled it, not
	// while the saga is still unfinished (a service still down).
	res.Replayed = settled.State.Finished()
	return res, err
}

// nextAttempt is the first record of the attempt after rec's, failed, for
// a body whose fingerprint is fp. An attempt refused as it was priced sent
// nothing: the next one takes its number, and so its references.
func nextAttempt(rec Record, fp string) Record {
	attempt := rec.Attempt
	if !rec.Refused {
		attempt++
	}
	return Record{ID: rec.ID, UserID: rec.UserID, Key: rec.Key, Fingerprint: fp,
		Attempt: attempt, Version: rec.Version + 1}
}

// errUndoneForRetry is resume's answer when it has just undone the attempt
// it found, whose failure a retry may try again: place takes another pass.
var errUndoneForRetry = errors.New("orderflow: attempt undone, retry it")

// claim takes the lease of rec, whose runner is gone. ErrConflict means
// another runner claimed it first.
func (f *Flow) claim(ctx context.Context, rec Record) (*ledger, error) {
	next := rec
	f.stamp(&next, f.cfg.LeaseTTL)
	next.Version = rec.Version + 1
	if err := f.deps.Journal.Update(ctx, next); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, err
		}
		return nil, journalDown(err)
	}
	return f.hold(next), nil
}

// sagaID names the checkout of key by userID at this BFF.
func (f *Flow) sagaID(userID, key string) string {
	h := sha256.New()
	for _, part := range []string{f.cfg.Name, userID, key} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	return "chk_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// attemptRef prefixes the upstream references of rec's attempt.
func (f *Flow) attemptRef(rec Record) string {
	if rec.Attempt == 0 {
		return rec.ID
	}
	return fmt.Sprintf("%s.%d", rec.ID, rec.Attempt)
}

// fingerprint identifies an order's content: its merged, sorted lines and
// its payment token. Two bodies that differ only in layout, member order or
// how lines are split are the same order.
func fingerprint(lines []line, token string) string {
	if !strings.Contains(token, ";") {
		// Without a ';' the token cannot read as a line: the earlier
		// fingerprint is unambiguous, and replicas of the earlier version,
		// still running during a rolling upgrade, read it too.
		return legacyFingerprint(lines, token)
	}
	h := sha256.New()
	// The token first, after its length: this one holds the character
	// that ends a line.
	fmt.Fprintf(h, "%d:%s", len(token), token)
	for _, l := range lines {
		fmt.Fprintf(h, "%d*%d;", l.ProductID, l.Quantity)
	}
	return fingerprintPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}

// fingerprintPrefix marks the fingerprints of a body whose token holds a
// ';'. Any other is a legacyFingerprint, which hashes the token after the
// lines unmarked, so that two bodies could share one were the token to
// read as more lines ("3*1;tok_visa").
const fingerprintPrefix = "2-"

func legacyFingerprint(lines []line, token string) string {
	h := sha256.New()
	for _, l := range lines {
		fmt.Fprintf(h, "%d*%d;", l.ProductID, l.Quantity)
	}
	h.Write([]byte(token))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// busy is the answer to a retry while the key's saga runs.
func (f *Flow) busy(wait time.Duration) *problem.Error {
	return &problem.Error{
		Code:   problem.CodeIdempotencyBusy,
		Detail: "A request with this Idempotency-Key is still being processed.",
		// The edge writes it in whole seconds rounded up: a client told to
		// come back before the lease ends would only be told again.
		RetryAfter: wait,
	}
}

func journalDown(err error) *problem.Error {
	if errors.Is(err, ErrFull) {
		return &problem.Error{Code: problem.CodeUnavailable, RetryAfter: time.Second,
			Detail: "Too many orders are in progress; try again shortly.", Err: err}
	}
	return &problem.Error{Code: problem.CodeUnavailable, RetryAfter: time.Second,
		Detail: "Orders cannot be recorded right now; try again shortly.", Err: fmt.Errorf("saga journal: %w", err)}
}

// logJournal logs a journal write that failed after the client's answer
// was decided.
func (f *Flow) logJournal(ctx context.Context, ref string, err error) {
	f.cfg.logger.LogAttrs(ctx, slog.LevelError, "saga journal write failed",
		slog.String("reference", ref), slog.String("error", err.Error()))
}
