// Package redistest gives tests a real Redis: the one at REDIS_TEST_URL when
// it is set, otherwise a redis-server of the test's own on a free loopback
// port, stopped when the test ends. Without either the test is skipped,
// unless CI is set: there a missing Redis is a failure, not a pass.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns the redis:// URL of a Redis for tb, failing or skipping tb as
// the package comment says when there is none. Tests sharing one server
// keep apart with Prefix.
func URL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server is not on PATH and REDIS_TEST_URL is not set; CI needs one of them")
		}
		tb.Skip("redis-server is not on PATH and REDIS_TEST_URL is not set")
	}
	// A free port found by listening may be taken before the server binds
	// it; another port is tried then.
	var errs []string
	for range 3 {
		addr, err := startServer(tb, bin)
		if err == nil {
			return "redis://" + addr
		}
		errs = append(errs, err.Error())
	}
	tb.Fatalf("start redis-server: %s", strings.Join(errs, "; "))
	return ""
}

// Client returns a client of URL(tb)'s Redis, closed when tb ends.
func Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	opts, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("REDIS_TEST_URL: %v", err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("ping redis at %s: %v", opts.Addr, err)
	}
	return c
}

// Prefix returns a key prefix of tb's own, so that tests, and repeated runs
// against one REDIS_TEST_URL, never see each other's keys.
func Prefix(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test:" + tb.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

// startServer runs redis-server on a free port without persistence and
// returns its address once it accepts connections.
func startServer(tb testing.TB, bin string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir(), "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	// The server says when it is ready; reading its log for that line
	// replaces polling the port.
	ready := make(chan error, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(out)
		var log []string
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
			log = append(log, sc.Text())
		}
		ready <- fmt.Errorf("redis-server on port %d exited: %s", port, strings.Join(log, " | "))
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-drained // Wait closes the pipe, so reading must be over
		_ = cmd.Wait()
	}
	select {
	case err := <-ready:
		if err != nil {
			stop()
			return "", err
		}
	case <-time.After(10 * time.Second):
		stop()
		return "", fmt.Errorf("redis-server on port %d not ready after 10s", port)
	}
	tb.Cleanup(stop)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}
