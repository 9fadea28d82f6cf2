// Package redistest gives tests a real Redis: the one at REDIS_TEST_URL when
// it is set, otherwise a redis-server of the test's own on a free loopback
// port, stopped when the test ends; StartSentinel, a replicated one under
// Sentinels. Without either the test is skipped,
// unless CI is set: there a missing Redis is a failure, not a pass.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	addr, _, err := startProcess(tb, bin, "Ready to accept connections", func(port int) []string {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", tb.TempDir(), "--loglevel", "notice"}
	})
	return addr, err
}

// startProcess runs bin with the arguments args gives for a free port and
// returns the address and a kill function once its log shows ready. The
// process is killed when tb ends, if it was not before. The port is free
// when chosen, and may be taken by another test's process before bin
// listens on it: a process that exits before it is ready is started again
// on another port, twice at most.
func startProcess(tb testing.TB, bin, ready string, args func(port int) []string) (addr string, stop func(), err error) {
	for range 3 {
		if addr, stop, err = startOnce(tb, bin, ready, args); !errors.Is(err, errExited) {
			break
		}
	}
	return addr, stop, err
}

// errExited is startOnce's error for a process that exited before it was
// ready.
var errExited = errors.New("exited before it was ready")

// startOnce is one try of startProcess.
func startOnce(tb testing.TB, bin, ready string, args func(port int) []string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	cmd := exec.Command(bin, args(port)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	// The server says when it is ready; reading its log for that line
	// replaces polling the port.
	readyc := make(chan error, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(out)
		var log []string
		for sc.Scan() {
			if strings.Contains(sc.Text(), ready) {
				readyc <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
			log = append(log, sc.Text())
		}
		readyc <- fmt.Errorf("%s on port %d %w: %s", bin, port, errExited, strings.Join(log, " | "))
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-drained // Wait closes the pipe, so reading must be over
			_ = cmd.Wait()
		})
	}
	select {
	case err := <-readyc:
		if err != nil {
			stop()
			return "", nil, err
		}
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, fmt.Errorf("%s on port %d not ready after 10s", bin, port)
	}
	tb.Cleanup(stop)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), stop, nil
}

// Sentinel is a replicated Redis of a test's own: a master, a replica of
// it, and three Sentinels that watch the master under MasterName and
// promote the replica a second after the master stops answering.
type Sentinel struct {
	// Addrs are the Sentinels' addresses, MasterName the name they watch.
	Addrs      []string
	MasterName string
	// KillMaster kills the master's process, as a crash of its node would.
	KillMaster func()
}

// StartSentinel starts a Sentinel-managed Redis for tb, stopped when tb
// ends; it fails or skips tb as URL does when there is no redis-server. A
// password other than "" is asked by every node and every Sentinel.
func StartSentinel(tb testing.TB, password string) Sentinel {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server is not on PATH; CI needs it")
		}
		tb.Skip("redis-server is not on PATH")
	}
	var auth []string
	if password != "" {
		// masterauth too: the master becomes a replica of the one promoted.
		auth = []string{"--requirepass", password, "--masterauth", password}
	}
	node := func(extra ...string) func(port int) []string {
		return func(port int) []string {
			args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
				"--appendonly", "no", "--dir", tb.TempDir()}
			return append(append(args, auth...), extra...)
		}
	}
	// The replica's first sync starts at once rather than after the
	// default 5s wait for more replicas.
	master, killMaster, err := startProcess(tb, bin, "Ready to accept connections", node("--repl-diskless-sync-delay", "0"))
	if err != nil {
		tb.Fatalf("start the master: %v", err)
	}
	host, port, _ := net.SplitHostPort(master)
	if _, _, err := startProcess(tb, bin, "Ready to accept connections", node("--replicaof", host, port)); err != nil {
		tb.Fatalf("start the replica: %v", err)
	}
	waitInSync(tb, master, password)
	s := Sentinel{MasterName: "storefront", KillMaster: killMaster}
	for i := range 3 {
		addr, _, err := startProcess(tb, bin, "+monitor master", func(sp int) []string {
			conf := filepath.Join(tb.TempDir(), "sentinel.conf")
			// A failed election is tried again after twice failover-timeout:
			// 2 s keeps a failover under load within seconds.
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %[2]s 1000\nsentinel failover-timeout %[2]s 2000\n",
				sp, s.MasterName, host, port)
			if password != "" {
				text += fmt.Sprintf("sentinel auth-pass %s %s\nrequirepass %[2]s\n", s.MasterName, password)
			}
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				tb.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		})
		if err != nil {
			tb.Fatalf("start sentinel %d: %v", i+1, err)
		}
		s.Addrs = append(s.Addrs, addr)
	}
	return s
}

// waitInSync waits until the master at addr has a replica in sync with
// it, so that a test starts with a replicated Redis (WAIT answers, a
// failover finds the data).
func waitInSync(tb testing.TB, addr, password string) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer c.Close()
	var info string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		info, _ = c.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "state=online") {
			return
		}
	}
	tb.Fatalf("the replica of %s is not in sync after 15s: %q", addr, info)
}

// StartCluster starts a Redis Cluster of three masters for tb, stopped
// when tb ends, and returns a client of it; it fails or skips tb as URL
// does when there is no redis-server or redis-cli.
func StartCluster(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	cli, cerr := exec.LookPath("redis-cli")
	if err != nil || cerr != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server and redis-cli are needed; CI needs them")
		}
		tb.Skip("redis-server or redis-cli is not on PATH")
	}
	var addrs []string
	for i := range 3 {
		addr, _, err := startProcess(tb, bin, "Ready to accept connections", func(port int) []string {
			dir := tb.TempDir()
			return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
				"--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf")}
		})
		if err != nil {
			tb.Fatalf("start cluster node %d: %v", i+1, err)
		}
		addrs = append(addrs, addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.ClusterInfo(ctx).Result()
		cancel()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the cluster is not ok after 10s: %v %s", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
