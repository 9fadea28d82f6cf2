package orderflow

import (
	"context"

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

// traced runs one step or compensation of s under a span named
// "checkout <name>", a child of the span in ctx, carrying the saga's id and
// the order's once it has one.
func (s *saga) traced(ctx context.Context, name string, step func(context.Context) error) error {
	ctx, span := s.f.cfg.tracer.Start(ctx, "checkout "+name)
	err := step(ctx)
	if span.IsRecording() {
		s.describe(span)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, name+" failed")
		}
	}
	span.End()
	return err
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

func (s *saga) describe(span trace.Span) {
	if s.led != nil {
		rec := s.led.record()
		span.SetAttributes(attribute.String("checkout.id", rec.ID), attribute.Int("checkout.attempt", rec.Attempt))
	}
	if s.order.ID != "" {
		span.SetAttributes(attribute.String("order.id", s.order.ID))
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
