package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/telemetry"
)

// TestProtocolErrorNamesItsVariable: a bad protocol is reported under the
// variable that set it, not the other one.
func TestProtocolErrorNamesItsVariable(t *testing.T) {
	cases := []struct {
		name          string
		set           func(*telemetry.TracingConfig)
		want, notWant string
	}{
		{"protocol", func(c *telemetry.TracingConfig) { c.Protocol = "foo" },
			`OTEL_EXPORTER_OTLP_PROTOCOL "foo"`, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"traces protocol", func(c *telemetry.TracingConfig) { c.TracesProtocol = "foo" },
			`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL "foo"`, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"endpoint", func(c *telemetry.TracingConfig) { c.Endpoint = "collector:4318" },
			"telemetry: Endpoint: want", "TracesEndpoint"},
		// A user part or a query may hold a credential: not shown.
		{"endpoint with a password", func(c *telemetry.TracingConfig) { c.TracesEndpoint = "grpc://otel:s3cret@collector:4317" },
			"telemetry: TracesEndpoint: want", "s3cret"},
		{"endpoint with a key in its query", func(c *telemetry.TracingConfig) { c.TracesEndpoint = "https:///v1/traces?api_key=s3cret" },
			"telemetry: TracesEndpoint: want", "s3cret"},
		{"traces protocol over a good protocol", func(c *telemetry.TracingConfig) { c.Protocol, c.TracesProtocol = telemetry.ProtocolGRPC, "thrift" },
			`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL "thrift"`, "OTEL_EXPORTER_OTLP_PROTOCOL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := telemetry.DefaultTracingConfig()
			tc.set(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("got error %v, want one naming %s and not %s", err, tc.want, tc.notWant)
			}
		})
	}
}

// TestTracesProtocolWinsOverProtocol: with OTEL_EXPORTER_OTLP_PROTOCOL=grpc
// and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf, spans are posted
// over HTTP.
func TestTracesProtocolWinsOverProtocol(t *testing.T) {
	posts := make(chan string, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts <- r.Method + " " + r.URL.Path
	}))
	defer collector.Close()
	cfg := telemetry.DefaultTracingConfig()
	cfg.Protocol, cfg.TracesProtocol = telemetry.ProtocolGRPC, telemetry.ProtocolHTTP
	cfg.Endpoint = collector.URL
	cfg.Sampler = "always_on"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr, err := telemetry.NewTracing(context.Background(), "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "op")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case got := <-posts:
		if got != "POST /v1/traces" {
			t.Errorf("got %s, want POST /v1/traces", got)
		}
	default:
		t.Fatal("got no request at the collector, want the span posted over HTTP")
	}
}

// TestExporterNoneSendsNothing: OTEL_TRACES_EXPORTER=none keeps every span
// in the process though an endpoint is set, and requests still get trace
// ids; otlp, the default, posts them (the test above).
func TestExporterNoneSendsNothing(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posts.Add(1) }))
	defer collector.Close()
	cfg := telemetry.DefaultTracingConfig()
	cfg.Endpoint, cfg.Sampler, cfg.Exporter = collector.URL, "always_on", telemetry.ExporterNone
	if err := cfg.Validate(); err != nil || cfg.Exporting() {
		t.Fatalf("Validate %v, Exporting %v: want a valid config that exports nothing", err, cfg.Exporting())
	}
	tr, err := telemetry.NewTracing(context.Background(), "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "op")
	span.End()
	if !span.SpanContext().HasTraceID() {
		t.Error("the span has no trace id, want one for the logs and the upstreams")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := posts.Load(); n != 0 {
		t.Errorf("the collector got %d requests, want none", n)
	}
	if cfg.Exporter = "NONE"; cfg.Exporting() || cfg.Validate() != nil {
		t.Errorf("NONE: Exporting %v, Validate %v; want none, valid", cfg.Exporting(), cfg.Validate())
	}
	cfg.Exporter = "zipkin"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `OTEL_TRACES_EXPORTER "zipkin"`) {
		t.Errorf("Validate with zipkin: %v, want OTEL_TRACES_EXPORTER refused", err)
	}
}
