package gateway

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestMainArguments: -addr replaces the listen address's variable and
// nothing else, "healthcheck" runs the healthcheck, -h prints the usage,
// and any other argument is refused with it.
func TestMainArguments(t *testing.T) {
	env := map[string]string{"X_ADDR": ":8080", "OTHER": "kept"}
	var ran, checked []string
	cmd := Command{Name: "bff-x", AddrVar: "X_ADDR",
		Run: func(_ context.Context, getenv func(string) string, _ io.Writer) error {
			ran = append(ran, getenv("X_ADDR")+" "+getenv("OTHER"))
			return nil
		},
		Healthcheck: func(_ context.Context, getenv func(string) string) error {
			checked = append(checked, getenv("X_ADDR"))
			return nil
		},
	}
	for _, tt := range []struct {
		name, wantRun, wantCheck, wantUsage string
		args                                []string
		wantErr                             error
	}{
		{name: "none", wantRun: ":8080 kept"},
		{name: "addr", args: []string{"-addr", "127.0.0.1:9000"}, wantRun: "127.0.0.1:9000 kept"},
		{name: "addr with =", args: []string{"--addr=:9001"}, wantRun: ":9001 kept"},
		{name: "healthcheck", args: []string{"healthcheck"}, wantCheck: ":8080"},
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp, wantUsage: "usage: bff-x [-addr host:port]"},
		{name: "addr without a port", args: []string{"-addr", "foo"}, wantErr: errUsage, wantUsage: `invalid value "foo" for flag -addr: want host:port`},
		{name: "empty addr", args: []string{"-addr="}, wantErr: errUsage, wantUsage: `invalid value "" for flag -addr`},
		{name: "unknown flag", args: []string{"-port", "1"}, wantErr: errUsage, wantUsage: "flag provided but not defined: -port"},
		{name: "unknown argument", args: []string{"serve"}, wantErr: errUsage, wantUsage: `unknown arguments ["serve"]`},
		{name: "healthcheck and more", args: []string{"healthcheck", "now"}, wantErr: errUsage, wantUsage: "bff-x healthcheck"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ran, checked = nil, nil
			var stderr bytes.Buffer
			err := cmd.main(context.Background(), tt.args, func(k string) string { return env[k] }, io.Discard, &stderr)
			if !errors.Is(err, tt.wantErr) || err != nil && tt.wantErr == nil {
				t.Fatalf("main(%q) = %v, want %v", tt.args, err, tt.wantErr)
			}
			if got := strings.Join(ran, ","); got != tt.wantRun {
				t.Errorf("Run saw %q, want %q", got, tt.wantRun)
			}
			if got := strings.Join(checked, ","); got != tt.wantCheck {
				t.Errorf("Healthcheck saw %q, want %q", got, tt.wantCheck)
			}
			if !strings.Contains(stderr.String(), tt.wantUsage) {
				t.Errorf("stderr %q, want it to hold %q", stderr.String(), tt.wantUsage)
			}
		})
	}
}

// TestHealthcheckAsksTheAdminListener: the healthcheck is healthy exactly
// when the admin listener's /readyz answers 200, whatever the public
// address; an admin port it cannot know is an error that says so.
func TestHealthcheckAsksTheAdminListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	status := http.StatusOK
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	check := func(admin string) error {
		cfg := DefaultConfig()
		cfg.AdminAddr = admin
		// The public address would refuse: only the admin one is asked.
		b := BFF[settings]{Load: func(func(string) string) (settings, error) {
			return settings{cfg: cfg, addr: "127.0.0.1:1"}, nil
		}}
		return b.Healthcheck(context.Background(), func(string) string { return "" })
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if err := check("127.0.0.1:" + port); err != nil {
		t.Errorf("ready: %v, want healthy", err)
	}
	if err := check(":" + port); err != nil {
		t.Errorf("ready on every interface: %v, want healthy", err)
	}
	status = http.StatusServiceUnavailable
	if err := check("127.0.0.1:" + port); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("not ready: %v, want the 503", err)
	}
	if err := check("127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "ADMIN_ADDR") {
		t.Errorf("port 0: %v, want an error naming ADMIN_ADDR", err)
	}
}

// TestReadinessURL: the healthcheck asks the admin listener's own host, or
// loopback where it listens on every interface.
func TestReadinessURL(t *testing.T) {
	for addr, want := range map[string]string{
		":9180":          "http://127.0.0.1:9180/readyz",
		"0.0.0.0:9180":   "http://127.0.0.1:9180/readyz",
		"[::]:9180":      "http://127.0.0.1:9180/readyz",
		"10.1.2.3:9180":  "http://10.1.2.3:9180/readyz",
		"[::1]:9180":     "http://[::1]:9180/readyz",
		"localhost:9180": "http://localhost:9180/readyz",
	} {
		if got, err := readinessURL(addr); err != nil || got != want {
			t.Errorf("readinessURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
