package httpserver_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"storefront.dev/shared/httpserver"
	"storefront.dev/shared/httpserver/servertest"
)

// TestReadinessIsCheckedOnceForAFlood: /readyz is public, and each check
// calls a dependency; a flood of it runs the checks once, not once a
// request.
func TestReadinessIsCheckedOnceForAFlood(t *testing.T) {
	s := newServer(t, nil)
	var calls atomic.Int64
	s.Health(httpserver.Check{Name: "upstream", Fn: func(context.Context) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // a dependency's round trip
		return nil
	}})
	s.start(t)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if r, err := servertest.Send("GET", s.base+"/readyz", nil); err != nil || r.Status != 200 {
				t.Errorf("GET /readyz: %d, %v; want 200", r.Status, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("50 requests ran the check %d times, want once", n)
	}
}

// TestReadinessFollowsItsDependencies: a required check failing makes the
// replica unready, naming it; once it answers, the replica turns ready
// again without waiting long. The admin listener's /readyz, which the
// manifests' probes ask, answers the same.
func TestReadinessFollowsItsDependencies(t *testing.T) {
	s := newServer(t, nil)
	var down atomic.Bool
	down.Store(true)
	s.Health(httpserver.Check{Name: "jwks", Required: true, Fn: func(context.Context) error {
		if down.Load() {
			return errors.New("no keys yet")
		}
		return nil
	}})
	s.start(t)
	admin := httptest.NewServer(s.Admin())
	defer admin.Close()
	for _, base := range []string{s.base, admin.URL} {
		r := servertest.Do(t, "GET", base+"/readyz", nil, "X-Request-ID", "req-ready-1")
		if p := r.Problem(t); r.Status != 503 || !strings.Contains(string(r.Body), `"failing":["jwks"]`) || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s/readyz with the keys missing: %d %v (Retry-After %q), want 503 naming jwks", base, r.Status, p, r.Header.Get("Retry-After"))
		}
	}
	// The public one's log line is the request's.
	if l := s.logs.entries(t, "not ready"); len(l) == 0 || l[0]["request_id"] != "req-ready-1" || l[0]["trace_id"] == nil {
		t.Errorf("not ready lines %v, want the first with the request's ids", l)
	}
	down.Store(false)
	// A bound on the test, not a timing assertion.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r := servertest.Do(t, "GET", s.base+"/readyz", nil); r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica stayed unready after its keys came")
		}
	}
	r := servertest.Do(t, "GET", admin.URL+"/readyz", nil)
	if r.Status != 200 || string(r.Body) != `{"status":"ready","degraded":[]}` {
		t.Errorf("admin /readyz once the keys came: %d %s, want 200 ready", r.Status, r.Body)
	}
}
