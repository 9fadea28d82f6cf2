package httpserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	json "github.com/goccy/go-json"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/telemetry"
)

// logBuffer collects the server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// entries returns the decoded log lines whose msg is msg.
func (l *logBuffer) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// testServer is a Server listening on 127.0.0.1 with its logs, metrics
// and the spans it ended.
type testServer struct {
	*httpserver.Server
	base    string
	logs    *logBuffer
	metrics *telemetry.Metrics
	spans   *tracetest.SpanRecorder
	tracer  *sdktrace.TracerProvider
}

// newServer returns a Server with the default settings changed by edit, if
// any, on which the test adds routes before calling start.
func newServer(t *testing.T, edit func(*httpserver.Config)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	metrics := telemetry.NewMetrics()
	cfg := httpserver.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	cfg.Name = "test"
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	// The ids' handler, as the gateway's logger has.
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}), httpserver.RequestID))
	s := httpserver.New(cfg, logger, metrics,
		httpserver.WithTracerProvider(tp))
	return &testServer{Server: s, logs: logs, metrics: metrics, spans: spans, tracer: tp}
}

// scrape returns what the admin listener's /metrics serves.
func (s *testServer) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Admin().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics on the admin handler: %d", rec.Code)
	}
	return rec.Body.String()
}

// start serves on a fresh port until the test ends.
func (s *testServer) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.App.Listener(ln) }()
	t.Cleanup(func() {
		if err := s.App.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	s.base = "http://" + ln.Addr().String()
}

// counter returns the value of the counter name with the given label value
// (label "" for a counter without labels), or 0 when it was never
// incremented.
func (s *testServer) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	families, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// requests is the requests s's metrics counted, summed by the values of
// the labels named in by, joined by spaces ("POST /echo" by method and
// route).
func (s *testServer) requests(t *testing.T, by ...string) map[string]uint64 {
	t.Helper()
	families, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "bff_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			values := make([]string, len(by))
			for _, l := range m.GetLabel() {
				if i := slices.Index(by, l.GetName()); i >= 0 {
					values[i] = l.GetValue()
				}
			}
			out[strings.Join(values, " ")] += m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// serveOnFreePort serves s on a free loopback port until ctx ends, as the BFFs do:
// Listen, then ServeListener.
func serveOnFreePort(ctx context.Context, s *httpserver.Server, onShutdown ...func(context.Context) error) error {
	ln, err := httpserver.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, ln, onShutdown...)
}
