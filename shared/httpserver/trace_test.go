package httpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
	"storefront.dev/shared/upstream"
)

var traceParentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

// TestTraceContextReachesUpstreams sends requests with and without a
// traceparent through a route that calls an upstream, and checks what the
// upstream received: the caller's trace continued (or a new one started),
// a span id of its own, and the request id.
func TestTraceContextReachesUpstreams(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(up.Close)
	s := newServer(t, nil)
	svc, err := upstream.NewService("probe", []string{up.URL}, upstream.DefaultConfig(), upstream.WithHeaders(httpserver.PropagateHeaders),
		upstream.WithTracerProvider(s.tracer))
	if err != nil {
		t.Fatal(err)
	}
	s.App.Get("/call", func(c *fiber.Ctx) error {
		if err := svc.Do(c.UserContext(), upstream.Call{Op: "probe", Method: "GET", Path: "/"}, nil); err != nil {
			return err
		}
		return c.SendString(httpserver.TraceID(c.UserContext()))
	})
	s.start(t)

	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cases := []struct {
		name, traceparent string
		continued         bool
	}{
		{"valid", caller, true},
		{"none", "", false},
		{"upper case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"unknown version", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"garbage", "not a trace", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			var headers []string
			if tc.traceparent != "" {
				headers = []string{"traceparent", tc.traceparent}
			}
			r := servertest.Do(t, "GET", s.base+"/call", nil, headers...)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 {
				t.Fatalf("upstream saw %d requests, want 1", len(seen))
			}
			m := traceParentRE.FindStringSubmatch(seen[0].Get("traceparent"))
			if m == nil {
				t.Fatalf("upstream traceparent = %q, want a version-00 traceparent", seen[0].Get("traceparent"))
			}
			if m[1] != string(r.Body) {
				t.Errorf("upstream trace id %s, want the request's %s", m[1], r.Body)
			}
			if tc.continued && (m[1] != caller[3:35] || m[2] == caller[36:52] || m[3] != "01") {
				t.Errorf("upstream traceparent %s, want trace %s with a new span id", m[0], caller[3:35])
			}
			if !tc.continued && m[1] == caller[3:35] {
				t.Errorf("invalid traceparent %q was continued", tc.traceparent)
			}
			if got, want := seen[0].Get("X-Request-ID"), r.Header.Get("X-Request-ID"); got == "" || got != want {
				t.Errorf("upstream X-Request-ID %q, want the request's %q", got, want)
			}
		})
	}
	if httpserver.TraceID(context.Background()) != "" {
		t.Error("TraceID outside a request is not empty")
	}
}

// TestUnmatchedRoutesShareOneLabel: requests that match no route are counted
// under "unmatched", not under the prefix of the middleware they passed.
func TestUnmatchedRoutesShareOneLabel(t *testing.T) {
	s := newServer(t, nil)
	s.App.Use("/v1", func(c *fiber.Ctx) error { return c.Next() })
	s.App.Get("/v1/known", func(c *fiber.Ctx) error { return c.SendString("ok") })
	s.start(t)
	for _, path := range []string{"/v1/nope", "/elsewhere"} {
		if r := servertest.Do(t, "GET", s.base+path, nil); r.Status != 404 {
			t.Fatalf("GET %s: status %d, want 404", path, r.Status)
		}
	}
	routes := s.requests(t, "route")
	if routes["unmatched"] != 2 || routes["/v1"] != 0 {
		t.Errorf("requests by route label = %v, want both under unmatched", routes)
	}
}

// TestSpans checks the span tree of a request that calls an upstream
// twice (the first answer a 503, so the read is retried): one SERVER span
// named after the route, continuing the caller's trace, and a CLIENT span
// per attempt under it; the caller's tracestate reaches the upstream.
func TestSpans(t *testing.T) {
	var (
		mu    sync.Mutex
		seen  []http.Header
		calls int
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		calls++
		first := calls == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(up.Close)
	s := newServer(t, nil)
	svc, err := upstream.NewService("probe", []string{up.URL}, upstream.DefaultConfig(), upstream.WithHeaders(httpserver.PropagateHeaders),
		upstream.WithTracerProvider(s.tracer), upstream.WithBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s.App.Get("/items/:id", func(c *fiber.Ctx) error {
		return svc.Do(c.UserContext(), upstream.Call{Op: "probe", Method: "GET", Path: "/things"}, nil)
	})
	s.start(t)

	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := servertest.Do(t, "GET", s.base+"/items/7", nil, "traceparent", caller, "tracestate", "vendor=abc")
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	ended := s.spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("got %d spans, want 3 (server, two client attempts): %v", len(ended), spanNames(ended))
	}
	server := ended[2]
	if server.Name() != "GET /items/:id" || server.SpanKind() != trace.SpanKindServer {
		t.Errorf("server span %q kind %v, want GET /items/:id, server", server.Name(), server.SpanKind())
	}
	if server.Parent().SpanID().String() != caller[36:52] || !server.Parent().IsRemote() || server.SpanContext().TraceID().String() != caller[3:35] {
		t.Errorf("server span parent %v trace %v, want the caller's", server.Parent(), server.SpanContext().TraceID())
	}
	checkAttrs(t, server, map[string]string{"http.route": "/items/:id", "http.request.method": "GET", "http.response.status_code": "200", "url.path": "/items/7"})
	for i, client := range ended[:2] {
		if client.SpanKind() != trace.SpanKindClient || client.Parent().SpanID() != server.SpanContext().SpanID() {
			t.Errorf("attempt %d: kind %v parent %v, want a client span under the server span", i, client.SpanKind(), client.Parent().SpanID())
		}
		want := map[string]string{"http.request.method": "GET", "server.address": "127.0.0.1", "http.response.status_code": []string{"503", "200"}[i]}
		if i == 1 {
			want["http.request.resend_count"] = "1"
		}
		checkAttrs(t, client, want)
		if got := seen[i].Get("traceparent"); got != "00-"+caller[3:35]+"-"+client.SpanContext().SpanID().String()+"-01" {
			t.Errorf("attempt %d: upstream traceparent %s, want the attempt's span", i, got)
		}
		if got := seen[i].Get("tracestate"); got != "vendor=abc" {
			t.Errorf("attempt %d: upstream tracestate %q, want the caller's", i, got)
		}
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	return names
}

// checkAttrs fails unless span has each attribute of want, compared as
// strings.
func checkAttrs(t *testing.T, span sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, kv := range span.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: %s = %q, want %q", span.Name(), k, got[k], v)
		}
	}
}
