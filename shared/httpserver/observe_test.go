package httpserver_test

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
)

// TestAccessLog checks the line each request gets at info: its fields,
// the trace id of its server span, and nothing of its headers or query.
func TestAccessLog(t *testing.T) {
	s := newServer(t, nil)
	s.App.Get("/items/:id", func(c *fiber.Ctx) error {
		return c.SendString(httpserver.TraceID(c.UserContext()))
	})
	s.start(t)
	r := servertest.Do(t, "GET", s.base+"/items/42?secret=q-secret", nil, "Authorization", "Bearer tok-secret",
		"Cookie", "sf_session=cookie-secret", "X-Request-ID", "req-log-1")
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	lines := s.logs.entries(t, "request")
	if len(lines) != 1 {
		t.Fatalf("got %d access log lines, want 1", len(lines))
	}
	l := lines[0]
	want := map[string]any{"method": "GET", "route": "/items/:id", "status": float64(200), "request_id": "req-log-1",
		"trace_id": string(r.Body), "bytes": float64(len(r.Body)), "level": "INFO"}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("access log %s = %v, want %v", k, l[k], v)
		}
	}
	if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("access log duration_ms = %v, want a duration", l["duration_ms"])
	}
	if len(r.Body) != 32 {
		t.Errorf("trace id %q, want 32 hex digits", r.Body)
	}
	s.logs.mu.Lock()
	all := s.logs.buf.String()
	s.logs.mu.Unlock()
	for _, secret := range []string{"q-secret", "tok-secret", "cookie-secret"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q:\n%s", secret, all)
		}
	}
}
