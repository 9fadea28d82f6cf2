package httpserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// FromUpstream turns a failed upstream read of one resource the client
// named (an order by id, a product, the caller's profile) into the problem
// the client sees: a missing resource is a 404, anything else is what
// UpstreamFailure says. The upstream's own words never reach the client. An
// error that already is a problem (a bad cursor, a refused login) is
// returned as it is.
func FromUpstream(err error, what string) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	if upstream.KindOf(err) == upstream.KindNotFound {
		return &problem.Error{Code: problem.CodeNotFound, Detail: what + " not found.", Err: err}
	}
	return UpstreamFailure(err)
}

// UpstreamFailure turns a failed upstream call that reads no one resource
// the client named (a listing, a login) into the problem the client sees: a
// spent deadline is a 504, anything else a 503 with Retry-After. A listing
// cannot be missing, so a 404 is the service failing too; and since the BFF
// sends only requests it validated, an upstream's 400 or 422 is the
// service disagreeing with the BFF, never the client's fault. An error that
// already is a problem is returned as it is.
func UpstreamFailure(err error) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	ue, ok := upstream.As(err)
	if !ok {
		return problem.From(err)
	}
	if ue.Kind == upstream.KindTimeout {
		return &problem.Error{Code: problem.CodeTimeout, Detail: "The " + ue.Service + " service did not answer in time.", Err: err}
	}
	return &problem.Error{Code: problem.CodeUnavailable, Detail: "The " + ue.Service + " service is unavailable.", RetryAfter: 2 * time.Second, Err: err}
}

// CheckAnswered returns nil when the resource an upstream answered is the
// one asked for, and otherwise an upstream failure of service's operation
// op: a service that answers another resource (or a zero one) is failing,
// and its answer must not be shown as the one asked for.
func CheckAnswered[ID comparable](service, op string, asked, answered ID) error {
	if asked == answered {
		return nil
	}
	return upstream.Unusable(service, op, fmt.Errorf("answered %v when asked for %v", answered, asked))
}

// NoteForeign records on the request's span that the BFF left out n items
// a listing of service answered for the caller but which are another
// user's: the service's own filter failed, and its operators must hear of
// it, though the client sees only its own items.
func NoteForeign(ctx context.Context, service string, n int) {
	if n == 0 {
		return
	}
	span := trace.SpanFromContext(ctx)
	span.AddEvent("foreign items left out", trace.WithAttributes(
		attribute.String("peer.service", service), attribute.Int("storefront.foreign_items", n)))
}
