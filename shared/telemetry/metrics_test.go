package telemetry_test

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"storefront.dev/shared/telemetry"
)

// TestSeriesOfEachEvent: each event lands in the series of its own label
// values, however many series its vector already has, and a series used
// again keeps counting.
func TestSeriesOfEachEvent(t *testing.T) {
	m := telemetry.NewMetrics()
	for range 2 {
		m.ObserveRequest("GET", "/api/orders/:id", "200", time.Millisecond)
		m.ObserveRequest("GET", "/api/orders/:id", "404", time.Millisecond)
		m.ObserveCall("order", "get", "ok", time.Millisecond)
		m.ObserveCall("payment", "get", "timeout", time.Millisecond)
		m.ObserveAttempt("order", "ok")
		m.CacheLookup("products", true)
		m.CacheLookup("products", false)
		m.Degraded("payment")
		m.JournalWrite("update", time.Millisecond)
	}
	m.JournalWrite("create", 2*time.Millisecond)
	m.ObserveRequest("POST", "/api/orders", "201", time.Millisecond)
	m.CacheLookup("products", true)

	// Each line is a series and its count, as /metrics writes them.
	want := []string{
		`bff_http_request_duration_seconds_count{method="GET",route="/api/orders/:id",status="200"} 2`,
		`bff_http_request_duration_seconds_count{method="GET",route="/api/orders/:id",status="404"} 2`,
		`bff_http_request_duration_seconds_count{method="POST",route="/api/orders",status="201"} 1`,
		`bff_upstream_call_duration_seconds_count{op="get",outcome="ok",service="order"} 2`,
		`bff_upstream_call_duration_seconds_count{op="get",outcome="timeout",service="payment"} 2`,
		`bff_upstream_attempts_total{outcome="ok",service="order"} 2`,
		`bff_cache_lookups_total{cache="products",result="hit"} 3`,
		`bff_cache_lookups_total{cache="products",result="miss"} 2`,
		`bff_degraded_parts_total{part="payment"} 2`,
		`bff_saga_journal_write_seconds_count{op="update"} 2`,
		`bff_saga_journal_write_seconds_count{op="create"} 1`,
		`bff_saga_journal_write_seconds_bucket{op="create",le="0.0025"} 1`,
		`bff_saga_journal_write_seconds_bucket{op="create",le="0.001"} 0`,
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	got := map[string]bool{}
	for line := range strings.Lines(rec.Body.String()) {
		got[strings.TrimSpace(line)] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no series %s in:\n%s", w, rec.Body.String())
		}
	}
}

// TestConnectionRefusals: both series of refused connections exist at zero
// before the first refusal, so that ratios over them work from start-up,
// and each refusal counts in its own.
func TestConnectionRefusals(t *testing.T) {
	m := telemetry.NewMetrics()
	for _, want := range []string{
		`bff_http_connections_refused_total{answered="true"} 0`,
		`bff_http_connections_refused_total{answered="false"} 0`,
	} {
		if got := scrape(t, m); !got[want] {
			t.Errorf("no series %s before any refusal", want)
		}
	}
	m.ConnectionRefused(true)
	m.ConnectionRefused(true)
	m.ConnectionRefused(false)
	got := scrape(t, m)
	for _, want := range []string{
		`bff_http_connections_refused_total{answered="true"} 2`,
		`bff_http_connections_refused_total{answered="false"} 1`,
	} {
		if !got[want] {
			t.Errorf("no series %s after three refusals", want)
		}
	}
}

// scrape returns the lines /metrics serves.
func scrape(t *testing.T, m *telemetry.Metrics) map[string]bool {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	lines := map[string]bool{}
	for line := range strings.Lines(rec.Body.String()) {
		lines[strings.TrimSpace(line)] = true
	}
	return lines
}

// TestBreakerStateReadAtScrape: the gauge is the state the breaker gives
// when scraped, whatever it was told before.
func TestBreakerStateReadAtScrape(t *testing.T) {
	m := telemetry.NewMetrics()
	var state atomic.Value
	state.Store("open")
	m.WatchBreaker("payment", func() string { return state.Load().(string) })
	m.WatchBreaker("product", func() string { return "closed" })
	for _, tc := range []struct{ state, want string }{
		{"open", `bff_upstream_breaker_state{service="payment"} 2`},
		{"half-open", `bff_upstream_breaker_state{service="payment"} 1`},
		{"closed", `bff_upstream_breaker_state{service="payment"} 0`},
	} {
		state.Store(tc.state)
		got := scrape(t, m)
		if !got[tc.want] {
			t.Errorf("breaker %s: no series %s", tc.state, tc.want)
		}
		if !got[`bff_upstream_breaker_state{service="product"} 0`] {
			t.Errorf("breaker %s: the product breaker's series is gone", tc.state)
		}
	}
}
