package upstream_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"storefront.dev/shared/telemetry"
	"storefront.dev/shared/upstream"
)

// TestBreakerGaugeTurnsHalfOpenWithoutCalls: an open breaker turns
// half-open once its open timeout has passed, and the gauge says so at the
// next scrape although no call came to make the breaker look. A gauge set
// only on the breaker's state changes would read open until the next call.
func TestBreakerGaugeTurnsHalfOpenWithoutCalls(t *testing.T) {
	u, _ := scriptedServer(t, 500, 500)
	m := telemetry.NewMetrics()
	s := newServiceWith(t, []string{u}, settings(func(c *upstream.Config) {
		c.Retries, c.Breaker.ConsecutiveFailures, c.Breaker.OpenTimeout = 0, 2, 50*time.Millisecond
	}), upstream.WithObserver(m))
	call := upstream.Call{Op: "get", Method: http.MethodGet, Path: "/x"}
	for range 2 {
		s.Do(context.Background(), call, nil)
	}
	// Read before the open timeout can have passed: the calls just made
	// opened the breaker.
	if got := s.BreakerState(); got != "open" && got != "half-open" {
		t.Fatalf("after two failures: got breaker state %q, want open", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := breakerGauge(t, m, "product")
		if got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got breaker gauge %v long after the open timeout, want 1 (half-open)", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// breakerGauge returns bff_upstream_breaker_state of service, as a scrape
// reads it; the series must exist.
func breakerGauge(t *testing.T, m *telemetry.Metrics, service string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "bff_upstream_breaker_state" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					return s.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no bff_upstream_breaker_state series for %s", service)
	return 0
}
