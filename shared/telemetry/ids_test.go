package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestIDProvider checks the provider of a BFF that exports nothing: a
// request without a caller's trace starts an unsampled one, a caller's is
// continued with its flags and tracestate under a new span id, and the
// traceparent sent upstream names the span that makes the call.
func TestIDProvider(t *testing.T) {
	tracing, err := NewTracing(context.Background(), "test", DefaultTracingConfig())
	if err != nil {
		t.Fatal(err)
	}
	tracer := tracing.Provider.Tracer("test")

	_, root := tracer.Start(context.Background(), "root")
	rsc := root.SpanContext()
	if !rsc.IsValid() || rsc.IsSampled() || root.IsRecording() {
		t.Fatalf("new trace: %v sampled %v recording %v, want valid ids, unsampled, not recording", rsc, rsc.IsSampled(), root.IsRecording())
	}
	_, other := tracer.Start(context.Background(), "root")
	if other.SpanContext().TraceID() == rsc.TraceID() || other.SpanContext().SpanID() == rsc.SpanID() {
		t.Errorf("two new traces share ids: %v and %v", rsc, other.SpanContext())
	}

	carrier := propagation.MapCarrier{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "vendor=abc",
	}
	ctx := Propagator.Extract(context.Background(), carrier)
	ctx, server := tracer.Start(ctx, "server", trace.WithSpanKind(trace.SpanKindServer))
	ctx, client := tracer.Start(ctx, "client")
	for name, span := range map[string]trace.Span{"server": server, "client": client} {
		sc := span.SpanContext()
		if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() || sc.TraceState().String() != "vendor=abc" {
			t.Errorf("%s span %v (state %q), want the caller's trace, sampled, with its tracestate", name, sc, sc.TraceState())
		}
	}
	if server.SpanContext().SpanID().String() == "00f067aa0ba902b7" || client.SpanContext().SpanID() == server.SpanContext().SpanID() {
		t.Errorf("span ids caller 00f067aa0ba902b7, server %v, client %v: want each its own", server.SpanContext().SpanID(), client.SpanContext().SpanID())
	}
	out := propagation.MapCarrier{}
	Propagator.Inject(ctx, out)
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + client.SpanContext().SpanID().String() + "-01"; out["traceparent"] != want || out["tracestate"] != "vendor=abc" {
		t.Errorf("sent upstream %v, want traceparent %s and the caller's tracestate", out, want)
	}

	_, fresh := tracer.Start(ctx, "recover", trace.WithNewRoot())
	if fsc := fresh.SpanContext(); fsc.TraceID() == server.SpanContext().TraceID() || !fsc.IsValid() || fsc.IsSampled() || fsc.TraceState().Len() != 0 {
		t.Errorf("WithNewRoot span %v (state %q) continues the trace, want a new unsampled one", fsc, fsc.TraceState())
	}

	unsampled := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"})
	_, quiet := tracer.Start(unsampled, "server")
	if sc := quiet.SpanContext(); sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.IsSampled() {
		t.Errorf("span under an unsampled caller %v, want the caller's trace, unsampled", sc)
	}

	// A span of this provider records nothing, and the whole span API is
	// safe to call on it.
	for _, span := range []trace.Span{root, server, client, quiet} {
		span.SetName("renamed")
		span.SetAttributes()
		span.AddEvent("event")
		span.AddLink(trace.Link{})
		span.RecordError(context.Canceled)
		span.SetStatus(0, "")
		span.End()
		if span.IsRecording() || span.TracerProvider() == nil {
			t.Errorf("span %v: recording %v, provider %v; want not recording, a provider", span.SpanContext(), span.IsRecording(), span.TracerProvider())
		}
	}
	if err := tracing.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// BenchmarkStart compares the provider of a BFF that exports nothing with
// the SDK's provider configured to do the same (no processor, parent-based
// never-sample), starting a server span under a caller's trace and a client
// span under it, as a request that calls one upstream does.
func BenchmarkStart(b *testing.B) {
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}
	parent := Propagator.Extract(context.Background(), carrier)
	providers := []struct {
		name string
		p    trace.TracerProvider
	}{
		{"ids", idProvider{}},
		{"sdk", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))},
	}
	serverSpan := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	for _, p := range providers {
		tracer := p.p.Tracer("bench")
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, server := tracer.Start(parent, "GET", serverSpan...)
				_, client := tracer.Start(ctx, "GET")
				client.End()
				server.End()
			}
		})
	}
}
