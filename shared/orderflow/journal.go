package orderflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"storefront.dev/shared/money"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream/order"
)

// Journal keeps every checkout's saga record where it survives the process:
// an embedded file (boltstore) for a single replica, Redis (redisstore) for
// several. Its operations are those of a shared key-value store (read,
// create-if-absent, compare-and-set on a version) so that replicas can share
// it. Implementations must be safe for concurrent use.
type Journal interface {
	// Get returns the record stored under id; ok is false when there is none
	// (or it expired). A store that knows a record's runner is gone (a state
	// file reopened by a new process) reports its lease as ended: a zero
	// LeaseUntil.
	Get(ctx context.Context, id string) (rec Record, ok bool, err error)
	// Create stores rec, whose Version must be 1, unless a record exists
	// under rec.ID; then it returns that record and created false.
	Create(ctx context.Context, rec Record) (existing Record, created bool, err error)
	// Update replaces the record stored under rec.ID if its Version is
	// rec.Version-1, and returns ErrConflict otherwise: another runner has
	// written the record since the caller read it. Any state may follow any
	// other (a failed saga's key runs a new attempt). A finished record
	// whose ExpiresAt has passed is gone: Get no longer returns it.
	Update(ctx context.Context, rec Record) error
	// Expired returns up to limit unfinished records whose lease has ended
	// at now, by the same rule as Get: the sagas nobody is running. Records
	// it cannot decode are left out and named in an *UnreadableError,
	// returned with the others: one damaged record must not stop the
	// recovery of every saga.
	Expired(ctx context.Context, now time.Time, limit int) ([]Record, error)
	// Backlog counts, up to limit, the records Expired would return at
	// now, the unreadable ones included, from the store's index of
	// unfinished records without reading them: it may count a record
	// that finished or was renewed a moment ago, or was deleted by hand.
	Backlog(ctx context.Context, now time.Time, limit int) (int, error)
}

// UnreadableError names the records Journal.Expired could not decode
// (damaged, or written by a later layout). They are left as they are, for
// an operator; the records returned beside it are sound.
type UnreadableError struct {
	IDs []string
	Err error // why, joined over the records
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("orderflow: %d saga records unreadable (%s): %v", len(e.IDs), strings.Join(e.IDs, ", "), e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// Unreadable collects the records Expired could not decode; nil while
// none was.
type Unreadable struct{ err *UnreadableError }

// Add records that the record id could not be decoded, for err.
func (u *Unreadable) Add(id string, err error) {
	if u.err == nil {
		u.err = &UnreadableError{}
	}
	u.err.IDs = append(u.err.IDs, id)
	u.err.Err = errors.Join(u.err.Err, err)
}

// Err is the *UnreadableError of what was added, nil when nothing was.
func (u *Unreadable) Err() error {
	if u.err == nil {
		return nil
	}
	return u.err
}

// ErrConflict is returned by Journal.Update when the record changed since it
// was read: the caller no longer holds the saga and must stop.
var ErrConflict = errors.New("orderflow: saga record changed by another runner")

// ErrFull is returned by Journal.Create when a bounded journal holds as many
// records as it may; the order is refused with 503 rather than a record
// evicted, which could let a retry run its checkout twice.
var ErrFull = errors.New("orderflow: saga journal is full")

// State is where a saga stands.
type State string

// The states of a saga. Running and compensating sagas are unfinished: a
// replica holds their lease, or recovery takes them over.
const (
	// StateRunning: the forward steps are under way.
	StateRunning State = "running"
	// StateCompensating: a failure is being undone; recovery goes on
	// undoing, whatever step was reached.
	StateCompensating State = "compensating"
	// StateCompleted: stock sold, money captured, order confirmed.
	StateCompleted State = "completed"
	// StateFailed: nothing is held any more; Failure says why.
	StateFailed State = "failed"
)

// Finished reports whether the saga has reached an end.
func (s State) Finished() bool { return s == StateCompleted || s == StateFailed }

// Step is the last forward step whose outcome is journaled.
type Step int

// The forward steps in their order. They run in phases (see phases); the
// journal records the capture's phase once it is done, and the steps not
// journaled may have taken effect upstream: recovery reads them back by
// their references (see forward and progressAt).
const (
	StepStarted Step = iota
	StepReserved
	StepAuthorized
	StepCreated
	StepCaptured
	StepConfirmed
	StepCommitted
)

// phases group the forward steps by what they need, in order: the steps of
// a phase run concurrently, and a phase starts once the one before it is
// done (see forward for what is journaled when). Reserving, authorizing
// and creating the pending order need only the priced lines. Capturing
// needs the hold, and confirming the order names the
// payment and the reservation (see order.ConfirmRequest), so the order is
// confirmed while the money is taken: a capture that fails cancels it
// before the buyer is answered. Stock sold cannot be given back, so the
// commit waits for both: it is sold only for an order the order service
// confirmed and paid, and one it refuses to confirm (cancelled meanwhile)
// is undone with nothing sold.
var phases = [...][]Step{
	{StepReserved, StepAuthorized, StepCreated},
	{StepCaptured, StepConfirmed},
	{StepCommitted},
}

// phaseOf is the index in phases of the forward step st.
func phaseOf(st Step) int {
	for i, ph := range phases {
		if slices.Contains(ph, st) {
			return i
		}
	}
	return -1
}

var stepNames = [...]string{"started", "reserved", "authorized", "created", "captured", "confirmed", "committed"}

func (s Step) String() string {
	if s < 0 || int(s) >= len(stepNames) {
		return "unknown"
	}
	return stepNames[s]
}

// Undo names one compensation.
type Undo string

// The compensations, in the order they run.
const (
	UndoOrder       Undo = "order"
	UndoPayment     Undo = "payment"
	UndoReservation Undo = "reservation"
)

// Record is the journal's entry for one checkout: one (user, Idempotency-Key)
// of one BFF. It is also the key's idempotency record: a retry with the same
// key reads its outcome from here.
type Record struct {
	// ID is derived from the BFF's name, the user and the key; the upstream
	// references of the saga's writes derive from it.
	ID string `json:"id"`
	// UserID is the buyer, the token's subject.
	UserID string `json:"user_id"`
	// Key is the Idempotency-Key; empty when the client sent none (web
	// may), whose outcome nobody can ask for again: such a record is kept
	// only keylessRetention once finished.
	Key string `json:"key"`
	// Fingerprint identifies the request body that took the key.
	Fingerprint string `json:"fingerprint"`
	// Attempt counts the sagas run for this key: a retry after a failure
	// that left nothing behind (a 5xx) starts the next, with references of
	// its own.
	Attempt int `json:"attempt"`
	// State and Step are where the saga stands.
	State State `json:"state"`
	Step  Step  `json:"step"`
	// Undone lists the compensations already finished.
	Undone []Undo `json:"undone,omitempty"`
	// Items, Total and Address are the priced order, journaled beside the
	// first phase and before the second, so that recovery needs no client
	// to send the order again. A record without them never started the
	// second phase.
	Items   []order.Line   `json:"items,omitempty"`
	Total   money.Money    `json:"total"`
	Address *order.Address `json:"address,omitempty"`
	// Reserves counts the reservations made; recovery reserves again when
	// the first expired before it could be committed.
	Reserves int `json:"reserves,omitempty"`
	// ReservationID, PaymentID and OrderID are the upstream ids returned so
	// far.
	ReservationID string `json:"reservation_id,omitempty"`
	PaymentID     string `json:"payment_id,omitempty"`
	OrderID       string `json:"order_id,omitempty"`
	// Result is the placed order, once completed.
	Result *Result `json:"result,omitempty"`
	// Failure is the answer to give, once failed.
	Failure *Failure `json:"failure,omitempty"`
	// Refused marks a failed record whose order could not be priced (an
	// unknown product, a service down; not one out of stock, whose answer
	// is kept): nothing was sent upstream, and nothing is kept for its key,
	// whose retry is judged afresh, whatever its body. It expires as a
	// keyless record does.
	Refused bool `json:"refused,omitempty"`
	// Owner names the runner holding the lease, until LeaseUntil.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	// Trace is the W3C traceparent of the request that began the attempt,
	// which the span of its recovery links to.
	Trace string `json:"trace,omitempty"`
	// Version grows by one with every write; Update compares it.
	Version int64 `json:"version"`
	// Write is random and new at every write, so that no two writes of a
	// record are the same bytes: a store may take a record it finds equal
	// to the one it is writing for that very write, sent again.
	Write string `json:"write,omitempty"`
	// Started is when this attempt began: its forward writes were sent
	// within the flow's Timeout of it (zero in records of earlier
	// versions, which UpdatedAt then stands in for).
	Started time.Time `json:"started,omitzero"`
	// UpdatedAt is the time of the last write; ExpiresAt, set once the saga
	// has finished, is when the record may be forgotten.
	UpdatedAt time.Time `json:"updated_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Failure is a failed checkout's answer as journaled: a problem, minus its
// cause.
type Failure struct {
	Code       problem.Code               `json:"code"`
	Detail     string                     `json:"detail"`
	Field      string                     `json:"field,omitempty"`
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
	RetryAfter time.Duration              `json:"retry_after,omitempty"`
}

// failureOf journals pe.
func failureOf(pe *problem.Error) *Failure {
	f := &Failure{Code: pe.Code, Detail: pe.Detail, Field: pe.Field, RetryAfter: pe.RetryAfter}
	for k, v := range pe.Extensions {
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		if f.Extensions == nil {
			f.Extensions = make(map[string]json.RawMessage, len(pe.Extensions))
		}
		f.Extensions[k] = b
	}
	return f
}

// Problem is the journaled failure as the error to return. Its extensions
// are the journaled bytes, so that the first answer and every replay are
// the same document.
func (f *Failure) Problem() *problem.Error {
	pe := &problem.Error{Code: f.Code, Detail: f.Detail, Field: f.Field, RetryAfter: f.RetryAfter}
	if len(f.Extensions) > 0 {
		pe.Extensions = make(map[string]any, len(f.Extensions))
		for k, v := range f.Extensions {
			pe.Extensions[k] = v
		}
	}
	return pe
}

// Retryable reports whether the failure says nothing about the order itself
// (a service was down, time ran out): a retry with the same key runs a new
// attempt rather than replaying it.
func (f *Failure) Retryable() bool { return problem.StatusOf(f.Code) >= 500 }
