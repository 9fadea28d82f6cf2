package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// idProvider is the tracer provider of a BFF that exports nothing: its
// spans record nothing and exist only to carry ids, so that every request
// has a trace id for its log lines and every upstream call a traceparent.
// A span continues the caller's trace (its id, flags and tracestate, so a
// sampled caller's flag reaches the upstreams unchanged) or, without one,
// starts a trace that is not sampled. This is what the SDK's provider with
// ParentBased(NeverSample) and no processor does, for half its cost
// (BenchmarkStart): no sampler, no span configuration unless options are
// given, no lock around the random source.
type idProvider struct{ embedded.TracerProvider }

func (idProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return idTracer{} }

type idTracer struct{ embedded.Tracer }

func (idTracer) Start(ctx context.Context, _ string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	var parent trace.SpanContext
	if !newRoot(opts) {
		parent = trace.SpanContextFromContext(ctx)
	}
	cfg := trace.SpanContextConfig{SpanID: newSpanID()}
	if parent.IsValid() {
		cfg.TraceID, cfg.TraceFlags, cfg.TraceState = parent.TraceID(), parent.TraceFlags(), parent.TraceState()
	} else {
		cfg.TraceID = newTraceID()
	}
	span := &idSpan{sc: trace.NewSpanContext(cfg)}
	return trace.ContextWithSpan(ctx, span), span
}

// newRoot reports whether opts ask for a new trace. Reading the option
// needs the whole configuration, so the common call without options skips
// it.
func newRoot(opts []trace.SpanStartOption) bool {
	if len(opts) == 0 {
		return false
	}
	cfg := trace.NewSpanStartConfig(opts...)
	return cfg.NewRoot()
}

// idSpan is a span that only carries its ids; every other method is the
// no-op span's.
type idSpan struct {
	noop.Span
	sc trace.SpanContext
}

func (s *idSpan) SpanContext() trace.SpanContext { return s.sc }

// TracerProvider returns the provider of the span's tracer.
func (s *idSpan) TracerProvider() trace.TracerProvider { return idProvider{} }

func newTraceID() (id trace.TraceID) {
	for !id.IsValid() {
		binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}

func newSpanID() (id trace.SpanID) {
	for !id.IsValid() {
		binary.LittleEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}
