// Package problem is the application's one error type and its mapping to RFC
// 9457 problem details. Packages return *Error with a Code; the HTTP edge
// writes it with Status and Document, and nothing else decides a status.
package problem

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"
)

// Code names what went wrong, in terms a client can act on.
type Code string

// The codes and, in statuses below, the one HTTP status each maps to.
const (
	CodeInvalid            Code = "invalid_request"
	CodeMalformedJSON      Code = "malformed_json"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeForbidden          Code = "forbidden"
	CodeNotFound           Code = "not_found"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeNotImplemented     Code = "not_implemented"
	CodePaymentDeclined    Code = "payment_declined"
	CodeOutOfStock         Code = "out_of_stock"
	CodeIdempotencyMissing Code = "idempotency_key_missing"
	CodeIdempotencyInvalid Code = "idempotency_key_invalid"
	CodeIdempotencyBusy    Code = "idempotency_key_in_use"
	CodeIdempotencyReused  Code = "idempotency_key_reused"
	CodeTooLarge           Code = "payload_too_large"
	CodeHeadersTooLarge    Code = "headers_too_large"
	CodeRequestTimeout     Code = "request_timeout"
	CodeUnsupportedMedia   Code = "unsupported_media_type"
	CodeRateLimited        Code = "rate_limited"
	CodeUnavailable        Code = "upstream_unavailable"
	CodeOverloaded         Code = "overloaded"
	CodeTimeout            Code = "deadline_exceeded"
	CodeInternal           Code = "internal"
)

var statuses = map[Code]int{
	CodeInvalid:            http.StatusBadRequest,
	CodeMalformedJSON:      http.StatusBadRequest,
	CodeUnauthenticated:    http.StatusUnauthorized,
	CodeForbidden:          http.StatusForbidden,
	CodeNotFound:           http.StatusNotFound,
	CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	CodeNotImplemented:     http.StatusNotImplemented,
	CodePaymentDeclined:    http.StatusPaymentRequired,
	CodeOutOfStock:         http.StatusConflict,
	CodeIdempotencyMissing: http.StatusBadRequest,
	CodeIdempotencyInvalid: http.StatusBadRequest,
	CodeIdempotencyBusy:    http.StatusConflict,
	CodeIdempotencyReused:  http.StatusUnprocessableEntity,
	CodeTooLarge:           http.StatusRequestEntityTooLarge,
	CodeHeadersTooLarge:    http.StatusRequestHeaderFieldsTooLarge,
	CodeRequestTimeout:     http.StatusRequestTimeout,
	CodeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	CodeRateLimited:        http.StatusTooManyRequests,
	CodeUnavailable:        http.StatusServiceUnavailable,
	CodeOverloaded:         http.StatusServiceUnavailable,
	CodeTimeout:            http.StatusGatewayTimeout,
	CodeInternal:           http.StatusInternalServerError,
}

var titles = map[Code]string{
	CodeInvalid:            "Invalid request",
	CodeMalformedJSON:      "Malformed JSON body",
	CodeUnauthenticated:    "Authentication required",
	CodeForbidden:          "Forbidden",
	CodeNotFound:           "Not found",
	CodeMethodNotAllowed:   "Method not allowed",
	CodeNotImplemented:     "Method not implemented",
	CodePaymentDeclined:    "Payment declined",
	CodeOutOfStock:         "Out of stock",
	CodeIdempotencyMissing: "Idempotency-Key header required",
	CodeIdempotencyInvalid: "Invalid Idempotency-Key header",
	CodeIdempotencyBusy:    "Request with this Idempotency-Key is still being processed",
	CodeIdempotencyReused:  "Idempotency-Key reused with a different request",
	CodeTooLarge:           "Payload too large",
	CodeHeadersTooLarge:    "Request header fields too large",
	CodeRequestTimeout:     "Request not received in time",
	CodeUnsupportedMedia:   "Unsupported media type",
	CodeRateLimited:        "Too many requests",
	CodeUnavailable:        "Service temporarily unavailable",
	CodeOverloaded:         "Server at capacity",
	CodeTimeout:            "Deadline exceeded",
	CodeInternal:           "Internal error",
}

// Codes returns every code a problem can carry, sorted: what a published
// contract's code enum must list.
func Codes() []Code {
	codes := slices.Collect(maps.Keys(statuses))
	slices.Sort(codes)
	return codes
}

// TypeBase prefixes every problem type URI; the code completes it.
const TypeBase = "https://storefront.dev/problems/"

// Error is the application error. Only Code, Detail, Field and Extensions
// reach a client; Err is for logs.
type Error struct {
	Code Code
	// Detail is a human-readable explanation safe to show a client.
	Detail string
	// Field names the offending input ("items[2].quantity") for invalid requests.
	Field string
	// Extensions are extra members of the problem document ("unavailable").
	Extensions map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Err is the cause, logged but never sent.
	Err error
}

// New returns an *Error with a formatted detail.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Invalid returns a CodeInvalid error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// MaxEcho bounds a piece of the client's input an error quotes (a member
// name it does not know, the path to one): the answer to a request need
// not be larger than what it refuses.
const MaxEcho = 64

// Clip returns s, a piece of the client's input to quote in an error, cut
// to MaxEcho bytes at a character boundary and marked "…" when cut.
func Clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Wrap returns an *Error with code and detail caused by err.
func Wrap(err error, code Code, detail string) *Error {
	return &Error{Code: code, Detail: detail, Err: err}
}

// With returns e with the extension member name set to v.
func (e *Error) With(name string, v any) *Error {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions[name] = v
	return e
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status for e's code.
func (e *Error) Status() int { return StatusOf(e.Code) }

// StatusOf is the HTTP status for code; unknown codes are 500.
func StatusOf(code Code) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// From returns err as an *Error, turning anything else into CodeInternal with
// the cause kept for logs only.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Detail: "The request could not be completed.", Err: err}
}

// Document is the RFC 9457 body for e. instance is the request path or id.
func (e *Error) Document(instance string) Document {
	title, ok := titles[e.Code]
	if !ok {
		title = titles[CodeInternal]
	}
	return Document{
		Type:       TypeBase + string(e.Code),
		Title:      title,
		Status:     e.Status(),
		Detail:     e.Detail,
		Instance:   instance,
		Code:       e.Code,
		Field:      e.Field,
		Extensions: e.Extensions,
	}
}

// Document is an RFC 9457 problem details object.
type Document struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Code is Type's last segment, for clients that switch on a string.
	Code Code `json:"code"`
	// Field names the offending input of a 400.
	Field string `json:"field,omitempty"`
	// Extensions are flattened into the object by MarshalJSON.
	Extensions map[string]any `json:"-"`
}

// ContentType is the media type of a Document.
const ContentType = "application/problem+json"
