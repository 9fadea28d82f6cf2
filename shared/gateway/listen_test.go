package gateway

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"storefront.dev/shared/httpserver"
)

// settings is a BFF's loaded configuration as a test makes it.
type settings struct {
	cfg  Config
	addr string
}

func (s settings) GatewayConfig() Config { return s.cfg }
func (s settings) ListenAddr() string    { return s.addr }

// TestRunBindsBeforeItOpensState: an address the BFF cannot have, the
// public one or the admin one, fails Run before the state file is opened
// (and so before saga recovery could start on it).
func TestRunBindsBeforeItOpensState(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct{ name, public, admin, want string }{
		{"public address taken", taken.Addr().String(), "127.0.0.1:0", "listen on " + taken.Addr().String()},
		{"admin address taken", "127.0.0.1:0", taken.Addr().String(), "admin listen on " + taken.Addr().String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.StateDir, cfg.AdminAddr = t.TempDir(), tc.admin
			b := BFF[settings]{
				Name:   "bff-test",
				Load:   func(func(string) string) (settings, error) { return settings{cfg, tc.public}, nil },
				Routes: func(*Gateway, settings) {},
			}
			err := b.Run(context.Background(), func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(cfg.StateDir, "bff-test.db")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the state file was opened before the listeners were bound (stat: %v)", err)
			}
		})
	}
}

// TestShortDrainIsWarnedOf: a drain no longer than a checkout's deadline
// would cut the checkouts in flight at every stop; New says so at start.
func TestShortDrainIsWarnedOf(t *testing.T) {
	cases := []struct {
		name         string
		drain, order time.Duration
		want         bool
	}{
		{"drain shorter than a checkout", time.Second, 8 * time.Second, true},
		{"drain as long as a checkout", 8 * time.Second, 8 * time.Second, true},
		{"drain longer than a checkout", 15 * time.Second, 8 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.StateDir = t.TempDir()
			cfg.HTTP.ShutdownTimeout, cfg.Order.Timeout = tc.drain, tc.order
			var logs strings.Builder
			g, err := New("bff-test", cfg, &logs)
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			warned := strings.Contains(logs.String(), `"level":"WARN","msg":"SHUTDOWN_TIMEOUT is not longer than ORDER_TIMEOUT`)
			if warned != tc.want {
				t.Errorf("warned %v, want %v; logs:\n%s", warned, tc.want, logs.String())
			}
		})
	}
}

// TestDescriptorsNeeded: HTTP_MAX_CONNS, every upstream instance's pool
// and a reserve; the limit is read where the platform has one, and a
// process whose limit is lower is warned at start.
func TestDescriptorsNeeded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP.MaxConns, cfg.Upstream.MaxConnsPerInstance = 1000, 10
	cfg.Upstreams.Product = []string{"http://a:1", "http://b:1"}
	if got, want := descriptorsNeeded(cfg), 1000+descriptorReserve+10*(2+1+1+1+1); got != want {
		t.Errorf("descriptorsNeeded = %d, want %d", got, want)
	}
	limit, ok := openFileLimit()
	if !ok || limit < 1024 {
		t.Skipf("open file limit %d (%v): too low to test the warning here", limit, ok)
	}
	for _, tc := range []struct {
		conns int
		want  bool
	}{{256, false}, {int(min(limit, httpserver.MaxMaxConns)), true}} {
		cfg := DefaultConfig()
		cfg.StateDir = t.TempDir()
		cfg.HTTP.MaxConns = tc.conns
		var logs strings.Builder
		g, err := New("bff-test", cfg, &logs)
		if err != nil {
			t.Fatal(err)
		}
		g.Close()
		if warned := strings.Contains(logs.String(), `"msg":"the open file limit is below`); warned != tc.want {
			t.Errorf("HTTP_MAX_CONNS %d under a limit of %d: warned %v, want %v", tc.conns, limit, warned, tc.want)
		}
	}
}
