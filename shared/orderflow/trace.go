package orderflow

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"storefront.dev/shared/telemetry"
)

// instrumentation names the tracer of the saga's spans.
const instrumentation = "storefront.dev/shared/orderflow"

// WithTracerProvider makes an INTERNAL span of every saga step and
// compensation, and of every recovery, with tp's tracer. Default none.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracer = tp.Tracer(instrumentation) }
}

var noTracer = noop.NewTracerProvider().Tracer(instrumentation)

// traced runs a compensation of s under a span named "checkout <name>", a
// child of the span in ctx, carrying the saga's id and the order's.
func (s *saga) traced(ctx context.Context, name string, step func(context.Context) error) error {
	ctx, span := s.f.cfg.tracer.Start(ctx, "checkout "+name)
	err := step(ctx)
	s.endSpan(span, name, err, s.order.ID, time.Now())
	return err
}

// endSpan ends the span of the step name with its outcome at the time it
// ended. A phase ends its steps' spans once all of them are done, so that
// each carries the order's id even when the order was created beside it.
func (s *saga) endSpan(span trace.Span, name string, err error, orderID string, ended time.Time) {
	if span.IsRecording() {
		s.describe(span, orderID)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, name+" failed")
		}
	}
	span.End(trace.WithTimestamp(ended))
}

// tracedUndo is traced for a compensation, which reports success as a bool.
func (s *saga) tracedUndo(ctx context.Context, name string, undo func(context.Context) bool) bool {
	ok := true
	_ = s.traced(ctx, name, func(ctx context.Context) error {
		if ok = undo(ctx); !ok {
			return errUnsettled
		}
		return nil
	})
	return ok
}

func (s *saga) describe(span trace.Span, orderID string) {
	if s.led != nil {
		rec := s.led.record()
		span.SetAttributes(attribute.String("checkout.id", rec.ID), attribute.Int("checkout.attempt", rec.Attempt))
	}
	if orderID != "" {
		span.SetAttributes(attribute.String("order.id", orderID))
	}
}

// traceParent is the W3C traceparent of the span in ctx, "" when it has
// none: journaled with a saga so that its recovery can link to the request
// that began it.
func traceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	telemetry.Propagator.Inject(ctx, c)
	return c["traceparent"]
}

// startRecovery starts the span of one recovery, a child of the span in
// ctx (the retry that settles it, or none for a recovery pass), linked to
// the trace of the request that began the saga.
func (f *Flow) startRecovery(ctx context.Context, rec Record) (context.Context, trace.Span) {
	var opts []trace.SpanStartOption
	if rec.Trace != "" {
		origin := telemetry.Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": rec.Trace})
		if sc := trace.SpanContextFromContext(origin); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	ctx, span := f.cfg.tracer.Start(ctx, "checkout recover", opts...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("checkout.id", rec.ID), attribute.Int("checkout.attempt", rec.Attempt),
			attribute.String("checkout.step", rec.Step.String()), attribute.String("checkout.state", string(rec.State)))
	}
	return ctx, span
}
