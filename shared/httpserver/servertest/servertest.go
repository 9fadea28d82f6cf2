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
// own under tb.TempDir.
func Launch(tb testing.TB, run RunFunc, env map[string]string) string {
	tb.Helper()
	if env["STATE_DIR"] == "" {
		own := maps.Collect(maps.All(env))
		own["STATE_DIR"] = tb.TempDir()
		env = own
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, func(k string) string { return env[k] }, pw)
		pw.CloseWithError(errors.New("run returned"))
		done <- err
	}()
	urlc := make(chan string, 1)
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
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
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
	tb.Cleanup(func() {
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
	underTest.Store(origin(base), true)
	return base
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
