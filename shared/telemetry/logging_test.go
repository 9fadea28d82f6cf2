package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/telemetry"
)

type requestIDKey struct{}

func requestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestContext carries the request id "req-1" and a span of the trace
// traceID.
func requestContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{1}})
	return trace.ContextWithSpanContext(context.WithValue(context.Background(), requestIDKey{}, "req-1"), sc)
}

var traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}

// TestLogHandlerAddsTheRequestsIDs: a line logged with the request's
// context carries its request id and trace id once, at the top level,
// whatever the line or the logger already carry.
func TestLogHandlerAddsTheRequestsIDs(t *testing.T) {
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name string
		log  func(*slog.Logger, context.Context)
		want map[string]any // top-level keys and their values
	}{
		{
			name: "plain line",
			log: func(l *slog.Logger, ctx context.Context) {
				l.LogAttrs(ctx, slog.LevelError, "saga journal write failed", slog.String("reference", "r"))
			},
			want: map[string]any{"request_id": "req-1", "trace_id": tid, "reference": "r", "app": "bff-test"},
		},
		{
			name: "line with ids of its own",
			log: func(l *slog.Logger, ctx context.Context) {
				l.InfoContext(ctx, "request", "request_id", "own", "trace_id", "own-trace", "status", 200)
			},
			want: map[string]any{"request_id": "own", "trace_id": "own-trace", "status": float64(200)},
		},
		{
			name: "line with one id of its own",
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "request", "request_id", "own") },
			want: map[string]any{"request_id": "own", "trace_id": tid},
		},
		{
			name: "logger with an id",
			log:  func(l *slog.Logger, ctx context.Context) { l.With("trace_id", "own-trace").InfoContext(ctx, "m") },
			want: map[string]any{"request_id": "req-1", "trace_id": "own-trace"},
		},
		{
			name: "logger with a group",
			log: func(l *slog.Logger, ctx context.Context) {
				l.WithGroup("saga").With("step", "capture").InfoContext(ctx, "m", "request_id", "grouped")
			},
			want: map[string]any{"request_id": "req-1", "trace_id": tid,
				"saga": map[string]any{"step": "capture", "request_id": "grouped"}},
		},
		{
			name: "no request context",
			log:  func(l *slog.Logger, _ context.Context) { l.Info("listening", "addr", "x") },
			want: map[string]any{"request_id": nil, "trace_id": nil, "addr": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil), requestIDOf)).With("app", "bff-test")
			tt.log(l, requestContext())
			line := buf.String()
			seen := map[string]bool{}
			for _, k := range topLevelKeys(t, line) {
				if seen[k] {
					t.Errorf("key %s twice in %s", k, line)
				}
				seen[k] = true
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			for k, want := range tt.want {
				if g, _ := json.Marshal(got[k]); string(g) != mustJSON(t, want) {
					t.Errorf("%s = %s, want %s in %s", k, g, mustJSON(t, want), line)
				}
			}
		})
	}
}

// topLevelKeys returns the keys of a JSON object in order, repeats
// included, which decoding into a map would hide.
func topLevelKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		t.Fatalf("%s: %v", line, err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	return keys
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogHandlerWithoutRequestIDs adds the trace id alone when it is given
// no way to read a request id.
func TestLogHandlerWithoutRequestIDs(t *testing.T) {
	var buf bytes.Buffer
	slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil), nil)).InfoContext(requestContext(), "m")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["request_id"]; ok || got["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("got %s, want the trace id alone", buf.Bytes())
	}
}
