// Package upstream is the common client layer to the platform's five
// services: one transport (pooled keep-alive connections, per-call deadlines
// from the context, balancing over every address of the instance URLs) and one error type that
// tells business outcomes apart from transport failures.
//
// The typed clients live in the sub-packages product, order, payment, user
// and notification. The reference implementations of the services, which
// tests and the sandbox binary serve, are in storefront.dev/shared/sandbox.
package upstream

import (
	"errors"
	"fmt"
)

// Kind classifies an upstream failure by what a caller must do about it.
type Kind int

// The kinds. Business outcomes (NotFound..Unauthorized) are definitive
// answers from the service; the rest are transport failures.
const (
	// KindUnknown is a failure that fits no other kind (an undecodable body).
	KindUnknown Kind = iota
	// KindNotFound is a 404: the resource does not exist.
	KindNotFound
	// KindConflict is a 409 other than out of stock: the resource is in a
	// state that forbids the operation (capturing a voided payment).
	KindConflict
	// KindOutOfStock is a 409 from a reservation, with the unavailable lines.
	KindOutOfStock
	// KindDeclined is a 402: the payment was declined, with a reason.
	KindDeclined
	// KindInvalid is a 400 or 422: the request was malformed.
	KindInvalid
	// KindUnauthorized is a 401 or 403.
	KindUnauthorized
	// KindTimeout means the deadline passed while waiting for an answer. The
	// request may or may not have been processed.
	KindTimeout
	// KindUnavailable means the service could not be reached (connection
	// refused, no instance, circuit open) or answered 503. A refused
	// connection means the request was not processed; a 503 may still have
	// been, so callers treat it as ambiguous for writes.
	KindUnavailable
	// KindServer is a 5xx other than 503, or a connection dropped after the
	// request was sent: the request may or may not have been processed.
	KindServer
)

var kindNames = [...]string{"unknown", "not_found", "conflict", "out_of_stock", "declined", "invalid", "unauthorized", "timeout", "unavailable", "server"}

// Outcomes are every outcome an Observer is told: "ok" and each Kind's
// name.
func Outcomes() []string { return append([]string{"ok"}, kindNames[:]...) }

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// UnavailableLine is one line of a reservation that could not be satisfied.
type UnavailableLine struct {
	ProductID int64 `json:"product_id"`
	Requested int   `json:"requested"`
	Available int   `json:"available"`
}

// Error is every failure the typed clients return. It never holds an
// upstream's raw body: only the fields parsed from its problem document.
type Error struct {
	// Service is the upstream's name ("product").
	Service string
	// Op is the client operation ("reserve").
	Op string
	// Status is the HTTP status, or 0 when no response arrived.
	Status int
	// Kind says what the caller must do.
	Kind Kind
	// Code is the upstream's machine-readable code ("out_of_stock").
	Code string
	// Detail is the upstream's human-readable detail, for logs.
	Detail string
	// Unavailable lists the lines a reservation could not satisfy.
	Unavailable []UnavailableLine
	// DeclineReason says why a payment was declined ("insufficient_funds").
	DeclineReason string
	// NotSent is true when the request certainly never reached the service
	// (connection refused, circuit open, no instance), so a write had no effect.
	NotSent bool
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Service, e.Op, e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Ambiguous reports whether a write may have taken effect even though no
// definitive answer arrived: a timeout, a dropped connection, a 5xx.
func (e *Error) Ambiguous() bool {
	if e.NotSent || errors.Is(e.Err, ErrUnusable) {
		return false
	}
	switch e.Kind {
	case KindTimeout, KindServer, KindUnavailable, KindUnknown:
		return true
	}
	return false
}

// ErrUnusable is the cause of an error for a read whose answer came whole
// but cannot be used: another resource than the one asked for, more items
// than asked for, a status or a price the BFF cannot show or charge.
// Asking again gets the same answer, and a read changes nothing: such an
// error is neither transient nor ambiguous, and nothing retries it.
var ErrUnusable = errors.New("the service's answer cannot be used")

// Unusable returns the error, of KindUnknown, of service's answer to op
// that cannot be used, for the reason why.
func Unusable(service, op string, why error) *Error {
	return &Error{Service: service, Op: op, Kind: KindUnknown, Err: fmt.Errorf("%w: %w", ErrUnusable, why)}
}

// Unanswered reports whether the call ended with no answer from the
// service itself: a timeout, a dropped connection, a gateway's 502 or 504,
// or a 5xx without the service's problem code (a proxy's own answer, as a
// mesh sidecar gives when the connection it forwarded on is reset). Unlike
// a service's own 5xx, the request may still be applied after the caller
// gave up on it.
func (e *Error) Unanswered() bool {
	return e.Ambiguous() && (e.Status == 0 || e.Status == 502 || e.Status == 504 || e.Code == "")
}

// Transient reports whether the same call may succeed if tried again.
func (e *Error) Transient() bool {
	switch e.Kind {
	case KindTimeout, KindServer, KindUnavailable:
		return true
	}
	return false
}

// KindOf returns the Kind of err if it is (or wraps) an *Error, else KindUnknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// As returns err as an *Error when it is or wraps one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Problem is the RFC 9457 body every service (and the sandbox) answers an
// error with, with the extension members the clients read.
type Problem struct {
	Type          string            `json:"type,omitempty"`
	Title         string            `json:"title,omitempty"`
	Status        int               `json:"status,omitempty"`
	Detail        string            `json:"detail,omitempty"`
	Code          string            `json:"code,omitempty"`
	Unavailable   []UnavailableLine `json:"unavailable,omitempty"`
	DeclineReason string            `json:"decline_reason,omitempty"`
}
