package scenario

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/sandbox"
)

// otlpReceiver is an OTLP/HTTP traces endpoint that keeps every span.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	names map[string]bool // service.name of the resources seen
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{names: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		var msg coltrace.ExportTraceServiceRequest
		if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(b, &msg) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					r.names[a.GetValue().GetStringValue()] = true
				}
			}
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	t.Cleanup(r.Close)
	return r
}

// sawService reports whether a span of the service name was received.
func (r *otlpReceiver) sawService(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[name]
}

// trace waits until the spans of traceID include one named each of names,
// and returns them all.
func (r *otlpReceiver) trace(t *testing.T, traceID string, names ...string) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		var spans []*tracepb.Span
		seen := map[string]bool{}
		for _, s := range r.spans {
			if hex.EncodeToString(s.TraceId) == traceID {
				spans = append(spans, s)
				seen[s.Name] = true
			}
		}
		r.mu.Unlock()
		missing := ""
		for _, n := range names {
			if !seen[n] {
				missing = n
			}
		}
		if missing == "" {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: no span %q among %d received", traceID, missing, len(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkoutIsOneTrace exports to a real OTLP/HTTP endpoint and checks that
// a checkout sent with a traceparent is one trace: the BFF's SERVER span
// under the caller's, an INTERNAL span per saga step under it carrying the
// saga's and the order's ids, and CLIENT spans (one per upstream request)
// under those; then that an order page's upstream calls are CLIENT spans
// under its SERVER span.
func checkoutIsOneTrace(t *testing.T, sh Shop) {
	recv := newOTLPReceiver(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // read by the SDK itself
	s, ada := sh.ada(t, "OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL, "OTEL_SERVICE_NAME", "shop-under-test")
	const traceID, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	r := sh.order(t, s, ada, servertest.OrderBody("tok_visa", servertest.Line(3, 1)),
		"traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	if r.Status != 201 {
		t.Fatalf("order: %d %s", r.Status, r.Body)
	}
	steps := []string{"checkout reserve", "checkout authorize", "checkout create", "checkout capture", "checkout confirm", "checkout commit"}
	spans := recv.trace(t, traceID, append([]string{"POST " + sh.Orders}, steps...)...)
	byID := map[string]*tracepb.Span{}
	var server *tracepb.Span
	for _, sp := range spans {
		byID[hex.EncodeToString(sp.SpanId)] = sp
		if sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
			server = sp
		}
	}
	if server == nil || hex.EncodeToString(server.ParentSpanId) != callerSpan {
		t.Fatalf("no server span under the caller's %s", callerSpan)
	}
	clients := 0
	for _, sp := range spans {
		parent := byID[hex.EncodeToString(sp.ParentSpanId)]
		switch sp.Kind {
		case tracepb.Span_SPAN_KIND_INTERNAL:
			if parent != server || attr(sp, "checkout.id") == "" {
				t.Errorf("%s: parent %v, checkout.id %q; want under the server span with the saga's id", sp.Name, parent.GetName(), attr(sp, "checkout.id"))
			}
			if sp.Name != "checkout reserve" && sp.Name != "checkout authorize" && attr(sp, "order.id") == "" {
				t.Errorf("%s carries no order.id", sp.Name)
			}
		case tracepb.Span_SPAN_KIND_CLIENT:
			clients++
			if parent == nil || parent.Kind == tracepb.Span_SPAN_KIND_CLIENT || attr(sp, "server.address") == "" || attr(sp, "http.response.status_code") == "" {
				t.Errorf("client span %s: parent %v, attributes %v", sp.Name, parent.GetName(), sp.Attributes)
			}
		}
	}
	if clients < len(steps) {
		t.Errorf("got %d client spans, want one per upstream request (at least %d)", clients, len(steps))
	}
	if !recv.sawService("shop-under-test") {
		t.Errorf("no span of the service named by OTEL_SERVICE_NAME")
	}

	var placed struct {
		ID string `json:"id"`
	}
	r.JSON(t, &placed)
	const pageTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	before := upstreamRequests(s.State(t))
	page := servertest.Do(t, "GET", s.Base+sh.Orders+"/"+placed.ID, nil, append(ada()[:2], "traceparent", "00-"+pageTrace+"-00f067aa0ba902b7-01")...)
	if page.Status != 200 {
		t.Fatalf("order page: %d %s", page.Status, page.Body)
	}
	calls := upstreamRequests(s.State(t)) - before
	spans = recv.trace(t, pageTrace, "GET "+sh.Orders+"/:id")
	under := map[string]int{}
	for _, sp := range spans {
		if sp.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			under[hex.EncodeToString(sp.ParentSpanId)]++
		}
	}
	for _, sp := range spans {
		if sp.Kind == tracepb.Span_SPAN_KIND_SERVER && under[hex.EncodeToString(sp.SpanId)] != calls {
			t.Errorf("order page: %d client spans under its server span, want one per upstream request (%d)", under[hex.EncodeToString(sp.SpanId)], calls)
		}
	}
}

// upstreamRequests counts the requests the sandbox's services served.
func upstreamRequests(st sandbox.State) int {
	n := 0
	for _, m := range []map[string]int{st.Product.Requests, st.Order.Requests, st.Payment.Requests, st.User.Requests, st.Notification.Requests} {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// attr is span's string (or int, as text) attribute key, "" when absent.
func attr(span *tracepb.Span, key string) string {
	for _, a := range span.Attributes {
		if a.Key == key {
			if v, ok := a.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(v.IntValue, 10)
			}
			return a.Value.GetStringValue()
		}
	}
	return ""
}
