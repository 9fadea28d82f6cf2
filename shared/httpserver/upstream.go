package httpserver

import (
	"errors"
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// FromUpstream turns a failed upstream read into the problem the client sees:
// a missing resource is a 404, a spent deadline a 504, anything else a 503
// with Retry-After. The upstream's own words never reach the client. An
// error that already is a problem (a bad cursor, a refused login) is
// returned as it is.
func FromUpstream(err error, what string) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	ue, ok := upstream.As(err)
	if !ok {
		return problem.From(err)
	}
	switch ue.Kind {
	case upstream.KindNotFound:
		return &problem.Error{Code: problem.CodeNotFound, Detail: what + " not found.", Err: err}
	case upstream.KindTimeout:
		return &problem.Error{Code: problem.CodeTimeout, Detail: "The " + ue.Service + " service did not answer in time.", Err: err}
	case upstream.KindInvalid:
		return &problem.Error{Code: problem.CodeInvalid, Detail: "The request was rejected as invalid.", Err: err}
	default:
		return &problem.Error{Code: problem.CodeUnavailable, Detail: "The " + ue.Service + " service is unavailable.", RetryAfter: 2 * time.Second, Err: err}
	}
}
