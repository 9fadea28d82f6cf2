package httpserver

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/telemetry"
)

// instrumentation names the tracer of the server spans.
const instrumentation = "storefront.dev/shared/httpserver"

// startSpan starts the request's SERVER span, continuing the caller's W3C
// trace context when its traceparent is valid, and puts it in the user
// context, so that every upstream call and log line of the request carries
// one trace id. Its attributes are set only when the span is recorded: an
// unsampled request pays for ids, not for strings.
func (s *Server) startSpan(c *fiber.Ctx) trace.Span {
	ctx := telemetry.Propagator.Extract(c.UserContext(), requestCarrier{&c.Request().Header})
	ctx, span := s.tracer.Start(ctx, c.Method(), serverSpan...)
	if span.IsRecording() {
		span.SetName(string(c.Request().Header.Method()))
		span.SetAttributes(
			attribute.String("http.request.method", string(c.Request().Header.Method())),
			attribute.String("url.path", string(c.Request().URI().Path())),
			attribute.String("url.scheme", "http"),
			attribute.String("network.peer.address", c.Context().RemoteIP().String()),
			attribute.String("user_agent.original", string(c.Request().Header.UserAgent())),
		)
	}
	c.SetUserContext(ctx)
	return span
}

// serverSpan makes a SERVER span; a variable, so that passing it does not
// allocate the variadic slice on every request.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

// endSpan names the span after the matched route ("GET /api/orders/:id")
// and ends it with the answer's status; a 5xx marks it failed.
func endSpan(span trace.Span, method, route string, status int) {
	if span.IsRecording() {
		if route != unmatched {
			span.SetName(method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// requestCarrier reads a request's trace context headers.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (r requestCarrier) Get(key string) string { return string(r.h.Peek(key)) }
func (r requestCarrier) Set(key, value string) { r.h.Set(key, value) }
func (r requestCarrier) Keys() []string {
	var keys []string
	for k := range r.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// TraceID is the trace id of the request ctx belongs to, or "".
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// setCarrier writes trace context headers through a setter.
type setCarrier func(k, v string)

func (s setCarrier) Get(string) string     { return "" }
func (s setCarrier) Set(key, value string) { s(key, value) }
func (s setCarrier) Keys() []string        { return nil }

// PropagateHeaders sets, for one upstream call made under ctx, the request
// id and the W3C trace context (traceparent, tracestate) of the span in
// ctx: the call's CLIENT span. It is the upstream clients' header hook.
func PropagateHeaders(ctx context.Context, set func(k, v string)) {
	if id := RequestID(ctx); id != "" {
		set(HeaderRequestID, id)
	}
	telemetry.Propagator.Inject(ctx, setCarrier(set))
}
