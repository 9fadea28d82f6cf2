package orderflow_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/boltstore"
	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
	"storefront.dev/shared/upstream/payment"
)

// TestRecoveryLinksToTheCheckoutTrace crashes a checkout after its capture
// and recovers it in another flow: the checkout's steps are spans under
// the request's, and the recovery's span, a root of its own, links to the
// request's trace and holds the steps it ran.
func TestRecoveryLinksToTheCheckoutTrace(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "journal.db"), boltstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	// The commit fails, as the capture's phase is journaled: the crash
	// leaves the saga to recovery, which commits.
	if err := rt.InjectFault(context.Background(), failCommit.service, sandbox.Fault{Route: failCommit.route, Status: 503}); err != nil {
		t.Fatal(err)
	}
	dying := &crashJournal{Journal: st, at: atStep(orderflow.StepConfirmed), landed: true}
	a := newFlow(t, rt, dying, time.Now, orderflow.WithTracerProvider(tp))
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST /v1/orders", trace.WithSpanKind(trace.SpanKindServer))
	req := orderflow.Request{UserID: "usr_ada", Key: "traced-key",
		Input: orderflow.Input{Items: []orderflow.Item{{ProductID: 4, Quantity: 1}}, PaymentToken: payment.TokenVisa}}
	if _, err := a.Place(ctx, req); err == nil {
		t.Fatal("the checkout crashed at its capture and still returned an order")
	}
	request.End()
	if err := rt.ClearFaults(context.Background()); err != nil {
		t.Fatal(err)
	}

	b := newFlow(t, rt, st, func() time.Time { return time.Now().Add(2 * time.Minute) }, orderflow.WithTracerProvider(tp))
	if n, err := b.Recover(context.Background()); err != nil || n != 1 {
		t.Fatalf("Recover took %d sagas (%v), want 1", n, err)
	}
	var recovery sdktrace.ReadOnlySpan
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
		if s.Name() == "checkout recover" {
			recovery = s
		}
	}
	for _, name := range []string{"checkout reserve", "checkout authorize", "checkout create", "checkout capture", "checkout confirm"} {
		if got := byName[name]; len(got) != 1 || got[0].Parent().SpanID() != request.SpanContext().SpanID() {
			t.Errorf("%s: %d spans, want one under the request's", name, len(got))
		}
	}
	if recovery == nil {
		t.Fatalf("no recovery span among %v", byName)
	}
	links := recovery.Links()
	if recovery.Parent().IsValid() || len(links) != 1 || links[0].SpanContext.TraceID() != request.SpanContext().TraceID() ||
		links[0].SpanContext.SpanID() != request.SpanContext().SpanID() {
		t.Errorf("recovery span: parent %v, links %v; want a root linked to the request's span", recovery.Parent(), links)
	}
	for _, name := range []string{"checkout commit"} {
		var under []sdktrace.ReadOnlySpan
		for _, s := range byName[name] {
			if s.Parent().SpanID() == recovery.SpanContext().SpanID() {
				under = append(under, s)
			}
		}
		if len(under) != 1 {
			t.Errorf("%s: %d spans under the recovery's, want one", name, len(under))
		}
	}
}
