package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/clocktest"
)

// countDials wraps the instance's dialer to count connection attempts.
func countDials(in *instance) *atomic.Int32 {
	var n atomic.Int32
	dial := in.client.DialTimeout
	in.client.DialTimeout = func(addr string, timeout time.Duration) (net.Conn, error) {
		n.Add(1)
		return dial(addr, timeout)
	}
	return &n
}

func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}

func TestCooldownTakesRefusingInstanceOut(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer live.Close()
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	s, err := NewService("order", []string{deadURL(t), live.URL}, DefaultConfig(), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dials := countDials(s.pool.instances()[0])
	call := func() {
		t.Helper()
		if err := s.Do(context.Background(), Call{Op: "get", Method: http.MethodGet, Path: "/"}, nil); err != nil {
			t.Fatalf("Do: %v", err)
		}
	}

	for range 6 {
		call()
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("got %d dials to the dead instance within the cooldown, want 1", n)
	}
	clock.Advance(DefaultCooldown - time.Second)
	for range 4 {
		call()
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("got %d dials before the cooldown ended, want 1", n)
	}
	clock.Advance(time.Second)
	for range 2 {
		call()
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("got %d dials after the cooldown, want 2: the instance is tried again", n)
	}
}

func TestAllInstancesCoolingAreStillTried(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	cfg := DefaultConfig()
	cfg.Retries = 0
	s, err := NewService("order", []string{deadURL(t)}, cfg, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dials := countDials(s.pool.instances()[0])
	for range 3 {
		err := s.Do(context.Background(), Call{Op: "get", Method: http.MethodGet, Path: "/"}, nil)
		if e, ok := As(err); !ok || e.Kind != KindUnavailable || !e.NotSent {
			t.Fatalf("got %v, want unavailable and not sent", err)
		}
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("got %d dials, want 3: a lone instance in cooldown is still tried", n)
	}
}
