// Package servertest starts a BFF through its run function, the way main
// does, for end-to-end tests: on port 0, with an injected environment.
// StartStack puts it in front of a sandbox whose clock the test moves, and
// the Stack it returns drives both; package scenario holds the scenarios
// every BFF passes on one.
package servertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// RunFunc is the signature of a BFF's run.
type RunFunc func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Start calls run with env (unset names read as ""), waits for the "listening"
// log line, polls /readyz until it answers 200, and returns the base URL.
// Cleanup cancels run's context and fails the test if run returns an error.
// Until then, Do and Send check the exchanges with this server against the
// contract set by SetContract.
func Start(tb testing.TB, run RunFunc, env map[string]string) string {
	tb.Helper()
	base := Launch(tb, run, env)
	WaitReady(tb, base)
	return base
}

// Launch is Start without waiting for readiness, for tests of /readyz itself.
// Without STATE_DIR in env, the BFF keeps its state in a directory of its
// own under tb.TempDir; without ADMIN_ADDR, its admin listener takes a
// free loopback port, whose URL Admin returns.
func Launch(tb testing.TB, run RunFunc, env map[string]string) string {
	tb.Helper()
	return launch(tb, context.Background(), run, env)
}

// launch is Launch with the BFF's context derived from ctx, whose
// cancellation is a SIGTERM: the test stops the BFF when it wants to.
func launch(tb testing.TB, ctx context.Context, run RunFunc, env map[string]string) string {
	tb.Helper()
	own := maps.Collect(maps.All(env))
	if own["STATE_DIR"] == "" {
		own["STATE_DIR"] = tb.TempDir()
	}
	if own["ADMIN_ADDR"] == "" {
		own["ADMIN_ADDR"] = "127.0.0.1:0"
	}
	env = own
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, func(k string) string { return env[k] }, pw)
		pw.CloseWithError(errors.New("run returned"))
		done <- err
	}()
	urlc, adminc := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		echo := os.Getenv("SERVERTEST_LOGS") != "" // for debugging a failing test
		for sc.Scan() {
			if echo {
				fmt.Fprintf(os.Stderr, "%s\n", sc.Bytes())
			}
			if sent {
				continue // keep draining so run never blocks on its log
			}
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "admin listening":
				adminc <- line.URL
			case "listening":
				urlc <- line.URL
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	var base string
	select {
	case base = <-urlc:
	case err := <-done:
		cancel()
		tb.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		tb.Fatal("run did not log a listening address within 10s")
	}
	select {
	case admin := <-adminc: // a BFF's admin listener logs before its public one
		admins.Store(base, admin)
	default: // a test server of no BFF
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			admins.Delete(base)
			stops.Delete(base)
			underTest.Delete(origin(base))
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("run returned %v after shutdown, want nil", err)
				}
			case <-time.After(20 * time.Second):
				tb.Errorf("run did not return within 20s of cancellation")
			}
		})
	}
	tb.Cleanup(stop)
	stops.Store(base, stop)
	underTest.Store(origin(base), true)
	return base
}

// stops maps a launched BFF's base URL to what stops it.
var stops sync.Map

// Stop shuts the BFF Launch started at base down, as SIGTERM does, and
// waits for its run to return: a test restarts a BFF on its state this way.
func Stop(tb testing.TB, base string) {
	tb.Helper()
	stop, ok := stops.Load(base)
	if !ok {
		tb.Fatalf("no running BFF at %s", base)
	}
	stop.(func())()
}

// admins maps a launched BFF's base URL to its admin listener's.
var admins sync.Map

// Admin returns the admin listener's URL of the BFF Launch started at
// base (where /metrics and /debug/pprof/ are served).
func Admin(tb testing.TB, base string) string {
	tb.Helper()
	u, ok := admins.Load(base)
	if !ok {
		tb.Fatalf("no admin listener known for %s", base)
	}
	return u.(string)
}

// Metrics returns the text of the BFF's /metrics, read on its admin
// listener.
func Metrics(tb testing.TB, base string) string {
	tb.Helper()
	return string(Do(tb, "GET", Admin(tb, base)+"/metrics", nil).Body)
}

// WaitReady polls base+/readyz until it answers 200, failing after 10s.
func WaitReady(tb testing.TB, base string) {
	tb.Helper()
	WaitReadyWhile(tb, base, func() error { return nil })
}

// WaitReadyWhile is WaitReady for a server in another process: gone
// returns why the process ended, or nil while it runs, and the wait fails
// at once when it does.
func WaitReadyWhile(tb testing.TB, base string, gone func() error) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if err := gone(); err != nil {
			tb.Fatalf("%s exited before it was ready: %v", base, err)
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status + " " + strings.TrimSpace(string(b))
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s/readyz not ready within 10s; last answer: %s", base, last)
}
