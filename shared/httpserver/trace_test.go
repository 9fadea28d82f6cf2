package httpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

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
	svc, err := upstream.NewService("probe", []string{up.URL}, upstream.DefaultConfig(), upstream.WithHeaders(httpserver.PropagateHeaders))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, nil)
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
	families, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "bff_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					routes[l.GetValue()] += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if routes["unmatched"] != 2 || routes["/v1"] != 0 {
		t.Errorf("requests by route label = %v, want both under unmatched", routes)
	}
}
