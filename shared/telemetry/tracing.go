package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Propagator reads and writes the W3C trace context (traceparent and
// tracestate) of every request in and every upstream call out.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// The OTLP protocols an exporter may speak.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// TracingConfig is a BFF's OpenTelemetry tracing, read from the standard
// OTEL_* variables; DefaultTracingConfig states the defaults. The batch
// span processor's OTEL_BSP_* variables, and the exporter's headers,
// timeout and TLS (OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT, ...), are read
// by the OpenTelemetry SDK itself from the process's environment.
type TracingConfig struct {
	// Endpoint is OTEL_EXPORTER_OTLP_ENDPOINT, the base URL of an OTLP
	// collector (http://collector:4318, or :4317 for grpc); /v1/traces is
	// added for http/protobuf. Default none: no span leaves the process,
	// and none is recorded unless the caller's traceparent asks for it.
	Endpoint string
	// TracesEndpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the full URL
	// traces are sent to; it wins over Endpoint. Default none.
	TracesEndpoint string
	// Protocol is OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf or grpc.
	// Default http/protobuf.
	Protocol string
	// TracesProtocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, the protocol
	// traces are sent with; it wins over Protocol. Default none. A field of
	// its own, so that a bad value is reported under its own variable.
	TracesProtocol string
	// Sampler is OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio,
	// parentbased_always_on, parentbased_always_off or
	// parentbased_traceidratio, the ratio in OTEL_TRACES_SAMPLER_ARG
	// (SamplerArg, default 1). Default parentbased_always_on: a caller's
	// traceparent decides, and a request without one is traced.
	Sampler    string
	SamplerArg string
	// ServiceName is OTEL_SERVICE_NAME, the service.name of every span.
	// Default the BFF's name (bff-web, bff-mobile).
	ServiceName string
	// ResourceAttributes is OTEL_RESOURCE_ATTRIBUTES, key=value pairs
	// separated by commas (values percent-encoded) added to every span's
	// resource, e.g. deployment.environment.name=prod. Default none.
	ResourceAttributes string
	// Disabled is OTEL_SDK_DISABLED: no span is made at all, and only a
	// caller's trace context is passed on. Default false.
	Disabled bool
	// Exporter is OTEL_TRACES_EXPORTER, in any case: otlp, or none to send no span
	// whatever the endpoints say (requests still get a trace id, as
	// without an endpoint). Default otlp.
	Exporter string
}

// The exporters OTEL_TRACES_EXPORTER may name.
const (
	ExporterOTLP = "otlp"
	ExporterNone = "none"
)

// DefaultTracingConfig returns the defaults: no exporter.
func DefaultTracingConfig() TracingConfig {
	return TracingConfig{Protocol: ProtocolHTTP, Sampler: "parentbased_always_on", Exporter: ExporterOTLP}
}

// Validate reports a setting the SDK could not use.
func (c TracingConfig) Validate() error {
	var errs []error
	if e := c.exporter(); e != ExporterOTLP && e != ExporterNone {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want %s or %s", c.Exporter, ExporterOTLP, ExporterNone))
	}
	if c.Protocol != ProtocolHTTP && c.Protocol != ProtocolGRPC {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want %s or %s", c.Protocol, ProtocolHTTP, ProtocolGRPC))
	}
	if c.TracesProtocol != "" && c.TracesProtocol != ProtocolHTTP && c.TracesProtocol != ProtocolGRPC {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL %q: want %s or %s", c.TracesProtocol, ProtocolHTTP, ProtocolGRPC))
	}
	if _, err := c.sampler(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseAttributes(c.ResourceAttributes); err != nil {
		errs = append(errs, err)
	}
	for _, e := range []struct{ field, url string }{{"Endpoint", c.Endpoint}, {"TracesEndpoint", c.TracesEndpoint}} {
		// Not quoted: a user part or a query may hold a credential. The
		// loader names the variable, showing its scheme and host at most.
		if p, err := url.Parse(e.url); e.url != "" && (err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "") {
			errs = append(errs, fmt.Errorf("telemetry: %s: want an http:// or https:// URL", e.field))
		}
	}
	return errors.Join(errs...)
}

// protocol is the protocol traces are sent with.
func (c TracingConfig) protocol() string {
	if c.TracesProtocol != "" {
		return c.TracesProtocol
	}
	return c.Protocol
}

// exporter is Exporter in lower case: the SDK's variables are read
// without regard to case.
func (c TracingConfig) exporter() string { return strings.ToLower(c.Exporter) }

// Exporting reports whether spans leave the process.
func (c TracingConfig) Exporting() bool {
	return !c.Disabled && c.exporter() != ExporterNone && (c.Endpoint != "" || c.TracesEndpoint != "")
}

func (c TracingConfig) sampler() (sdktrace.Sampler, error) {
	ratio := 1.0
	if c.SamplerArg != "" {
		r, err := strconv.ParseFloat(c.SamplerArg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", c.SamplerArg)
		}
		ratio = r
	}
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER %q: not a sampler this SDK has", c.Sampler)
}

// parseAttributes reads OTEL_RESOURCE_ATTRIBUTES.
func parseAttributes(s string) ([]attribute.KeyValue, error) {
	var kvs []attribute.KeyValue
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		key, kerr := url.PathUnescape(strings.TrimSpace(k))
		val, verr := url.PathUnescape(strings.TrimSpace(v))
		if !ok || key == "" || kerr != nil || verr != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %q is not key=value", pair)
		}
		kvs = append(kvs, attribute.String(key, val))
	}
	return kvs, nil
}

// Tracing is the tracer provider every instrumented package of a BFF gets.
type Tracing struct {
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// NewTracing returns the tracing cfg describes for the BFF name: an OTLP
// exporter behind a batch span processor when an endpoint is set; without
// one, a provider that records nothing of its own accord but still gives
// every request a trace id (for the logs and the upstreams' traceparent)
// and continues a caller's; with Disabled, no spans at all.
func NewTracing(ctx context.Context, name string, cfg TracingConfig) (*Tracing, error) {
	if cfg.Disabled {
		return &Tracing{Provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	if !cfg.Exporting() {
		return &Tracing{Provider: idProvider{}, shutdown: func(context.Context) error { return nil }}, nil
	}
	sampler, err := cfg.sampler()
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	attrs, err := parseAttributes(cfg.ResourceAttributes)
	if err != nil {
		return nil, err
	}
	service := cfg.ServiceName
	if service == "" {
		service = name
	}
	res := resource.NewSchemaless(append(attrs, attribute.String("service.name", service),
		attribute.String("telemetry.sdk.language", "go"), attribute.String("telemetry.sdk.name", "opentelemetry"))...)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
	return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}

func newExporter(ctx context.Context, cfg TracingConfig) (sdktrace.SpanExporter, error) {
	if cfg.protocol() == ProtocolGRPC {
		endpoint := cfg.TracesEndpoint
		if endpoint == "" {
			endpoint = cfg.Endpoint
		}
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	}
	endpoint := cfg.TracesEndpoint
	if endpoint == "" {
		endpoint = strings.TrimRight(cfg.Endpoint, "/") + "/v1/traces"
	}
	return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
}

// Shutdown sends the spans still buffered, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("tracing shutdown: %w", err)
	}
	return nil
}
