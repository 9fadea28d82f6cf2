package orderflow

import (
	"bytes"
	"context"
	"strings"

	"storefront.dev/shared/idempotency"
	"storefront.dev/shared/problem"
)

// KeyPolicy says whether an order request must carry an Idempotency-Key.
type KeyPolicy int

const (
	// KeyOptional lets a request go without a key; Place generates one.
	KeyOptional KeyPolicy = iota
	// KeyRequired refuses a request without a key with a 400 problem.
	KeyRequired
)

// Received is an order request as an HTTP edge received it. Its strings and
// body may alias buffers the edge reuses once its handler returns:
// ParseRequest copies what it keeps.
type Received struct {
	// UserID is the authenticated user, the token's subject.
	UserID string
	// IdempotencyKeys are the Idempotency-Key header's lines as received,
	// none when it is absent.
	IdempotencyKeys []string
	// Body is the request body.
	Body []byte
}

// ParseRequest turns a received order request into the Request Place takes:
// the key parsed as draft-ietf-httpapi-idempotency-key-header says, from
// exactly one header line (CodeIdempotencyInvalid when malformed or sent
// twice, CodeIdempotencyMissing when absent under KeyRequired), the body
// decoded by DecodeInput. Errors are 400 problems; the Request owns its
// strings.
func ParseRequest(r Received, keys KeyPolicy) (Request, error) {
	key, err := idempotency.ParseLines(r.IdempotencyKeys)
	switch {
	case err != nil:
		return Request{}, err
	case key == "" && keys == KeyRequired:
		return Request{}, problem.New(problem.CodeIdempotencyMissing, "Send an Idempotency-Key header with a unique value per order.")
	}
	in, err := DecodeInput(bytes.Clone(r.Body))
	if err != nil {
		return Request{}, err
	}
	return Request{UserID: strings.Clone(r.UserID), Key: strings.Clone(key), Input: in}, nil
}

// PlaceReceived places the order r carries, parsed as ParseRequest parses
// it. A body refused there is an order attempt, counted invalid as one
// refused when it is priced; a key refused (missing, malformed) is not,
// as in Place.
func (f *Flow) PlaceReceived(ctx context.Context, r Received, keys KeyPolicy) (Result, error) {
	req, err := ParseRequest(r, keys)
	if err != nil {
		if code := problem.From(err).Code; code != problem.CodeIdempotencyMissing && code != problem.CodeIdempotencyInvalid {
			f.cfg.observer.OrderOutcome(outcomeOf(code))
		}
		return Result{}, err
	}
	return f.Place(ctx, req)
}
