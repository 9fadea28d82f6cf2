package upstream

import (
	"context"
	"net/http"
	"net/url"
)

// The typed calls below are Do for a caller that wants the answer as a
// value, so that each method of a service's client is one line. Transition
// and ByReference follow the conventions the services share: an operation on
// a resource is POST <collection>/{id}/<op>, and a resource created with an
// idempotency reference is found at <collection>/by-reference/{reference}.

// Send sends c to s and returns the answer decoded into a T. On any error
// it returns the zero T: a decoder that fails part way has filled the
// fields before the bad one, and a caller that kept such a value would act
// on a record nobody sent whole (an order list whose ownership check never
// ran, say).
func Send[T any](ctx context.Context, s *Service, c Call) (T, error) {
	var v T
	if err := s.Do(ctx, c, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Get reads path, already escaped, as the operation op.
func Get[T any](ctx context.Context, s *Service, op, path string) (T, error) {
	return Send[T](ctx, s, Call{Op: op, Method: http.MethodGet, Path: path})
}

// Post sends body (none when nil) to path, already escaped, as the
// operation op.
func Post[T any](ctx context.Context, s *Service, op, path string, body any) (T, error) {
	return Send[T](ctx, s, Call{Op: op, Method: http.MethodPost, Path: path, Body: body})
}

// Transition applies the operation op to the resource id of collection
// ("/payments"): POST /payments/{id}/capture for op "capture".
func Transition[T any](ctx context.Context, s *Service, collection, id, op string) (T, error) {
	return Post[T](ctx, s, op, collection+"/"+url.PathEscape(id)+"/"+op, nil)
}

// Undo is Transition for an operation that undoes another (cancel, void,
// refund), whose caller can do without the answer: a 204 or 202 without a
// body is its success too (see Call.AnswerOptional).
func Undo[T any](ctx context.Context, s *Service, collection, id, op string) (T, error) {
	return Send[T](ctx, s, Call{Op: op, Method: http.MethodPost, Path: collection + "/" + url.PathEscape(id) + "/" + op, AnswerOptional: true})
}

// ByReference reads the resource of collection created with the reference
// ref, as the operation "lookup": how a caller learns the outcome of a
// create whose answer was lost.
func ByReference[T any](ctx context.Context, s *Service, collection, ref string) (T, error) {
	return Get[T](ctx, s, "lookup", collection+"/by-reference/"+url.PathEscape(ref))
}
