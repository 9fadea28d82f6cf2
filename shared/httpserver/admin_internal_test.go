package httpserver

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"storefront.dev/shared/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines to log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// brokenListener fails every Accept with an error that is not temporary,
// as a listener whose socket went bad does.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket gone bad") }

// newLoggedServer returns a Server logging JSON at info into the buffer
// returned.
func newLoggedServer(t *testing.T) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg := DefaultConfig()
	cfg.Name = "test"
	return New(cfg, slog.New(slog.NewJSONHandler(logs, nil)), telemetry.NewMetrics()), logs
}

// TestAdminServerFailureIsLogged: the admin listener failing stops metrics
// and profiles while the API goes on; it is logged, not dropped. A stop is
// not a failure.
func TestAdminServerFailureIsLogged(t *testing.T) {
	s, logs := newLoggedServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stop := s.serveAdmin(brokenListener{ln})
	defer stop()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "socket gone bad") {
		if time.Now().After(deadline) {
			t.Fatalf("the admin server's failure was never logged; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), `"msg":"admin server failed"`) {
		t.Errorf("the failure logged as %s, want an error \"admin server failed\"", logs)
	}

	t.Run("stopped", func(t *testing.T) {
		s, logs := newLoggedServer(t)
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		stop := s.ServeAdmin(ln)
		time.Sleep(50 * time.Millisecond) // let Serve start, so that Close ends it
		stop()
		time.Sleep(50 * time.Millisecond)
		if strings.Contains(logs.String(), "admin server failed") {
			t.Errorf("a stop was logged as a failure: %s", logs)
		}
	})
}
