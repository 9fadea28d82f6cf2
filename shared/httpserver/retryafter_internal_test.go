package httpserver

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"storefront.dev/shared/problem"
)

// TestRetryAfterInWholeSecondsRoundedUp: a shed request, a 503 problem and
// a 409 of a key in use state their delay in the same way, in whole seconds rounded up and never
// 0, which would invite a retry at once; a 503 problem without a delay of
// its own still says when to come back.
func TestRetryAfterInWholeSecondsRoundedUp(t *testing.T) {
	s, _ := newLoggedServer(t)
	writers := map[string]func(c *fiber.Ctx, d time.Duration) error{
		"shed": writeShed,
		"problem": func(_ *fiber.Ctx, d time.Duration) error {
			return &problem.Error{Code: problem.CodeUnavailable, Detail: "Retry.", RetryAfter: d}
		},
		// A retry while its key's checkout runs: told to come back before
		// the lease ends, it would only be told again.
		"busy": func(_ *fiber.Ctx, d time.Duration) error {
			return &problem.Error{Code: problem.CodeIdempotencyBusy, Detail: "Wait.", RetryAfter: d}
		},
	}
	for name, write := range writers {
		s.App.Get("/"+name+"/:ns", func(c *fiber.Ctx) error {
			ns, err := strconv.ParseInt(c.Params("ns"), 10, 64)
			if err != nil {
				return err
			}
			return write(c, time.Duration(ns))
		})
	}
	base := serveInternal(t, s)
	tests := []struct {
		writer string
		delay  time.Duration
		want   string
	}{
		{"shed", 0, "1"},
		{"shed", 500 * time.Millisecond, "1"},
		{"shed", time.Second, "1"},
		{"shed", 1500 * time.Millisecond, "2"},
		{"problem", 0, "1"}, // a 503 without a delay of its own
		{"problem", time.Nanosecond, "1"},
		{"problem", 2 * time.Second, "2"},
		{"problem", 2*time.Second + time.Millisecond, "3"},
		{"busy", 100 * time.Millisecond, "1"},
		{"busy", 1400 * time.Millisecond, "2"},
		{"busy", 3 * time.Second, "3"},
	}
	for _, tt := range tests {
		resp, err := http.Get(base + "/" + tt.writer + "/" + strconv.FormatInt(int64(tt.delay), 10))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		status := http.StatusServiceUnavailable
		if tt.writer == "busy" {
			status = http.StatusConflict
		}
		if got := resp.Header.Get("Retry-After"); resp.StatusCode != status || got != tt.want {
			t.Errorf("%s after %v: %d with Retry-After %q, want %d with %q", tt.writer, tt.delay, resp.StatusCode, got, status, tt.want)
		}
	}
}

// serveInternal serves s on a fresh port until the test ends and returns
// its base URL.
func serveInternal(t *testing.T, s *Server) string {
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
	return "http://" + ln.Addr().String()
}
