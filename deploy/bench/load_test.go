package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/sandbox"
	"storefront.dev/shared/sandbox/sandboxtest"
)

// keyRecorder answers every request with a fixed body and remembers the
// Idempotency-Keys it saw.
type keyRecorder struct {
	mu    sync.Mutex
	keys  map[string]int
	paths map[string]int
	hits  int
}

func (k *keyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.hits++
	k.paths[r.URL.Path]++
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		k.keys[key]++
	}
	k.mu.Unlock()
	switch r.URL.Path {
	case "/fail":
		http.Error(w, "nope", http.StatusServiceUnavailable)
	case "/missing":
		http.NotFound(w, r)
	default:
		_, _ = w.Write([]byte("hello"))
	}
}

func startRecorder(t *testing.T) (*keyRecorder, string) {
	t.Helper()
	rec := &keyRecorder{keys: map[string]int{}, paths: map[string]int{}}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, strings.TrimPrefix(srv.URL, "http://")
}

func TestRunCountsAnswers(t *testing.T) {
	rec, addr := startRecorder(t)
	tests := []struct {
		name       string
		path       string
		wantErrors bool
	}{
		{"2xx", "/ok", false},
		{"5xx counts as errors", "/fail", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoader(addr, 4, time.Second)
			defer l.close()
			res := l.run(context.Background(), target{Name: tt.name, Addr: addr, Method: "GET", Paths: []string{tt.path}}, 4, 100*time.Millisecond, "k-")
			if res.Requests == 0 || res.Latency.total != res.Requests {
				t.Fatalf("requests %d, latencies %d; want the same positive count", res.Requests, res.Latency.total)
			}
			wantErrors := uint64(0)
			if tt.wantErrors {
				wantErrors = res.Requests
			}
			if res.Errors != wantErrors || res.Statuses[http.StatusServiceUnavailable] != wantErrors || res.Transport != 0 {
				t.Errorf("errors %d (503×%d, transport %d), want %d (all 503)", res.Errors,
					res.Statuses[http.StatusServiceUnavailable], res.Transport, wantErrors)
			}
			if !tt.wantErrors && res.Bytes != 5*res.Requests {
				t.Errorf("bytes %d over %d answers, want 5 each", res.Bytes, res.Requests)
			}
			if tt.wantErrors && !strings.HasPrefix(res.FirstError, "503 nope") {
				t.Errorf("first error %q, want it to start with the status and body", res.FirstError)
			}
		})
	}
	if rec.hits == 0 {
		t.Errorf("server saw no request")
	}
}

func TestRunSendsAUniqueKeyPerRequest(t *testing.T) {
	rec, addr := startRecorder(t)
	l := newLoader(addr, 8, time.Second)
	defer l.close()
	tg := target{Name: "POST", Addr: addr, Method: "POST", Paths: []string{"/orders"}, Body: []byte(`{}`), UniqueKey: true}
	if err := l.probe(tg, "run1-"); err != nil {
		t.Fatalf("probe: %v", err)
	}
	res := l.run(context.Background(), tg, 8, 100*time.Millisecond, "run1-")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got, want := uint64(len(rec.keys)), res.Requests+1; got != want {
		t.Errorf("distinct keys %d, want %d (requests plus the probe)", got, want)
	}
	for k, n := range rec.keys {
		if n != 1 {
			t.Errorf("key %q sent %d times, want once", k, n)
		}
	}
}

func TestRunWalksEveryPath(t *testing.T) {
	rec, addr := startRecorder(t)
	l := newLoader(addr, 3, time.Second)
	defer l.close()
	paths := []string{"/p/1", "/p/2", "/p/3", "/p/4"}
	res := l.run(context.Background(), target{Name: "spread", Addr: addr, Method: "GET", Paths: paths}, 3, 100*time.Millisecond, "")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	total := 0
	for _, p := range paths {
		if rec.paths[p] == 0 {
			t.Errorf("path %s never requested (seen %v)", p, rec.paths)
		}
		total += rec.paths[p]
	}
	if uint64(total) != res.Requests || len(rec.paths) != len(paths) {
		t.Errorf("server saw %v, want only %v, %d requests in all", rec.paths, paths, res.Requests)
	}
}

func TestRunCountsTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	l := newLoader(addr, 2, time.Second)
	defer l.close()
	res := l.run(context.Background(), target{Name: "reset", Addr: addr, Method: "GET", Paths: []string{"/"}}, 2, 50*time.Millisecond, "")
	if res.Requests == 0 || res.Transport != res.Requests || res.Errors != res.Requests {
		t.Errorf("requests %d, transport %d, errors %d; want every request a transport error", res.Requests, res.Transport, res.Errors)
	}
	if res.FirstError == "" {
		t.Errorf("first error is empty, want the transport error")
	}
}

// TestRunSendsEachRequestOnce: a request whose connection closes without
// an answer is a transport error, not sent again: the server sees one
// connection per request counted, and as many unanswered as errors.
func TestRunSendsEachRequestOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted, unanswered atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1)%2 == 0 {
				unanswered.Add(1)
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				_, _ = c.Read(make([]byte, 4096))
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
			}()
		}
	}()
	addr := ln.Addr().String()
	l := newLoader(addr, 1, time.Second)
	defer l.close()
	res := l.run(context.Background(), target{Name: "flaky", Addr: addr, Method: "GET", Paths: []string{"/"}}, 1, 100*time.Millisecond, "")
	if res.Requests == 0 || uint64(accepted.Load()) != res.Requests || uint64(unanswered.Load()) != res.Transport {
		t.Errorf("requests %d, transport errors %d; the server accepted %d connections, %d closed unanswered: want one each",
			res.Requests, res.Transport, accepted.Load(), unanswered.Load())
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	_, addr := startRecorder(t)
	l := newLoader(addr, 2, time.Second)
	defer l.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := l.run(ctx, target{Name: "x", Addr: addr, Method: "GET", Paths: []string{"/"}}, 2, time.Hour, "")
	if res.Requests != 0 {
		t.Errorf("requests %d after cancel, want 0", res.Requests)
	}
}

func TestProbe(t *testing.T) {
	_, addr := startRecorder(t)
	tests := []struct {
		path        string
		wantMissing bool
	}{
		{"/ok", false},
		{"/fail", false}, // measured, so that its errors show
		{"/missing", true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			l := newLoader(addr, 1, time.Second)
			defer l.close()
			err := l.probe(target{Name: tt.path, Addr: addr, Method: "GET", Paths: []string{tt.path}}, "")
			if got := errors.Is(err, errRouteMissing); got != tt.wantMissing {
				t.Errorf("probe(%s) = %v; route missing %v, want %v", tt.path, err, got, tt.wantMissing)
			}
		})
	}
}

// TestDirectCallsPerRequestIsOne drives the sandbox's product read and
// checks the counters charge exactly one upstream call to each request,
// the identity the efficiency figure rests on.
func TestDirectCallsPerRequestIsOne(t *testing.T) {
	rt := sandboxtest.Start(t, sandbox.Config{})
	addrs := map[string]string{}
	for _, name := range sandbox.Services {
		addrs[name] = strings.TrimPrefix(rt.URL(name), "http://")
	}
	a := newAdmin(addrs)
	ctx := context.Background()
	before, err := a.quietCounts(ctx, 10*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	addr := addrs[sandbox.ServiceProduct]
	l := newLoader(addr, 4, time.Second)
	defer l.close()
	tg := target{Name: "direct", Addr: addr, Method: "GET", Paths: []string{"/products/1"}, Direct: true}
	r := row{target: tg, Result: l.run(ctx, tg, 4, 100*time.Millisecond, "")}
	after, err := a.quietCounts(ctx, 10*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.Calls = after.sub(before)
	if r.Result.Requests == 0 || r.Result.Errors != 0 {
		t.Fatalf("requests %d, errors %d (%s); want some and none", r.Result.Requests, r.Result.Errors, r.Result.FirstError)
	}
	if got := r.Calls["product GET /products/{id}"]; got != int(r.Result.Requests) || len(r.Calls) != 1 {
		t.Errorf("upstream calls %v, want only product GET /products/{id} = %d", r.Calls, r.Result.Requests)
	}
	if got := r.CallsPerRequest(); got != 1 {
		t.Errorf("CallsPerRequest() = %v, want 1", got)
	}
}

func TestCountsSub(t *testing.T) {
	before := counts{"a": 1, "b": 5}
	after := counts{"a": 4, "b": 5, "c": 2}
	got := after.sub(before)
	if len(got) != 2 || got["a"] != 3 || got["c"] != 2 || got.total() != 5 {
		t.Errorf("sub = %v (total %d), want a:3 c:2 (total 5)", got, got.total())
	}
}
