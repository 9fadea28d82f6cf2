package httpserver

import (
	"time"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// FromUpstream turns a failed upstream read into the problem the client sees:
// a missing resource is a 404, a spent deadline a 504, anything else a 503
// with Retry-After. The upstream's own words never reach the client.
func FromUpstream(err error, what string) *problem.Error {
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

// FromLogin turns a failed password check into the problem the client sees:
// wrong credentials are a 401, anything else is FromUpstream's answer.
func FromLogin(err error) *problem.Error {
	if upstream.KindOf(err) == upstream.KindUnauthorized {
		return problem.Wrap(err, problem.CodeUnauthenticated, "The email or password is wrong.")
	}
	return FromUpstream(err, "User")
}
