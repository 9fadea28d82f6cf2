package httpserver_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/problem"
	"storefront.dev/shared/upstream"
)

// TestUpstreamProblems: only a read of one named resource answers an
// upstream 404 with a 404; no upstream refusal becomes a status that blames
// the client.
func TestUpstreamProblems(t *testing.T) {
	failed := func(k upstream.Kind, status int) error {
		return fmt.Errorf("read: %w", &upstream.Error{Service: "order", Op: "list", Kind: k, Status: status})
	}
	bad := problem.Invalid("cursor", "The cursor is not valid.")
	tests := []struct {
		name               string
		err                error
		resource, listing  int
		resourceRetryAfter bool
	}{
		{"404", failed(upstream.KindNotFound, 404), http.StatusNotFound, http.StatusServiceUnavailable, false},
		{"400", failed(upstream.KindInvalid, 400), http.StatusServiceUnavailable, http.StatusServiceUnavailable, true},
		{"422", failed(upstream.KindInvalid, 422), http.StatusServiceUnavailable, http.StatusServiceUnavailable, true},
		{"401", failed(upstream.KindUnauthorized, 401), http.StatusServiceUnavailable, http.StatusServiceUnavailable, true},
		{"409", failed(upstream.KindConflict, 409), http.StatusServiceUnavailable, http.StatusServiceUnavailable, true},
		{"timeout", failed(upstream.KindTimeout, 0), http.StatusGatewayTimeout, http.StatusGatewayTimeout, false},
		{"a problem already", bad, http.StatusBadRequest, http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpserver.FromUpstream(tt.err, "Order"); got.Status() != tt.resource || (got.RetryAfter > 0) != tt.resourceRetryAfter {
				t.Errorf("FromUpstream: %d (Retry-After %v), want %d (Retry-After %v)", got.Status(), got.RetryAfter, tt.resource, tt.resourceRetryAfter)
			}
			if got := httpserver.UpstreamFailure(tt.err); got.Status() != tt.listing {
				t.Errorf("UpstreamFailure: %d, want %d", got.Status(), tt.listing)
			}
		})
	}
}

// TestNoteForeign: items of another user left out of a listing show on the
// request's span; none leave it alone.
func TestNoteForeign(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	for _, n := range []int{0, 2} {
		ctx, span := tracer.Start(context.Background(), "GET")
		httpserver.NoteForeign(ctx, "order", n)
		span.End()
	}
	spans := rec.Ended()
	if len(spans) != 2 || len(spans[0].Events()) != 0 || len(spans[1].Events()) != 1 {
		t.Fatalf("events %v, want none for 0 items and one for 2", spans)
	}
	ev := spans[1].Events()[0]
	found := false
	for _, a := range ev.Attributes {
		if a.Key == "storefront.foreign_items" && a.Value.AsInt64() == 2 {
			found = true
		}
	}
	if !found {
		t.Errorf("event %s %v, want storefront.foreign_items 2", ev.Name, ev.Attributes)
	}
}
