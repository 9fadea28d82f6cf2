// Package telemetry holds the Prometheus metrics every BFF exposes at
// /metrics on its admin listener. Each BFF gets its own registry so that
// tests can run several in one process.
package telemetry

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the BFF's instruments.
type Metrics struct {
	// Registry is what /metrics serves.
	Registry *prometheus.Registry

	httpDuration     *prometheus.HistogramVec
	upstreamDuration *prometheus.HistogramVec
	upstreamAttempts *prometheus.CounterVec
	breakers         *breakers
	cacheLookups     *prometheus.CounterVec
	rateLimited      *prometheus.CounterVec
	rateLocal        *prometheus.CounterVec
	orders           *prometheus.CounterVec
	notifications    *prometheus.CounterVec
	degraded         *prometheus.CounterVec
	sagasRecovered   *prometheus.CounterVec
	journalBacklog   prometheus.Gauge
	journalWrites    *prometheus.HistogramVec
	shed             *prometheus.CounterVec
	connsRefused     *prometheus.CounterVec
	// connsAnswered and connsClosed are connsRefused's two series.
	connsAnswered, connsClosed prometheus.Counter
	idleClosed                 prometheus.Counter

	// The series every request or upstream call records, looked up by
	// their label values in maps of their own (see children).
	requests  children[requestLabels, prometheus.Observer]
	calls     children[callLabels, prometheus.Observer]
	attempts  children[attemptLabels, prometheus.Counter]
	lookups   children[lookupLabels, prometheus.Counter]
	degradeds children[string, prometheus.Counter]
	writes    children[string, prometheus.Observer]
}

type (
	requestLabels struct{ method, route, status string }
	callLabels    struct{ service, op, outcome string }
	attemptLabels struct{ service, outcome string }
	lookupLabels  struct {
		cache string
		hit   bool
	}
)

// children holds the series of a vector already used, by their label
// values: a map read without a lock, replaced whole when a series is
// added. The vector's own lookup hashes every label value and takes a lock
// on each event, which the BFFs pay several times a request; here the
// series of a request's labels cost one map read. The label values of each
// vector are bounded (routes, services, outcomes), so the maps are small.
type children[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // serializes additions
}

// get returns the series of k, made by create the first time.
func (c *children[K, V]) get(k K, create func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make(map[K]V, 1)
	if old != nil {
		next = make(map[K]V, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	v := create(k)
	next[k] = v
	c.m.Store(&next)
	return v
}

// NewMetrics registers the instruments, plus the Go and process collectors,
// in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpDuration: histogramVec("bff_http_request_duration_seconds",
			"Time to answer a request, by route and status.",
			requestBuckets, "method", "route", "status"),
		upstreamDuration: histogramVec("bff_upstream_call_duration_seconds",
			"Time of one upstream call, its retries included, by service, operation and outcome (ok or the error kind).",
			callBuckets, "service", "op", "outcome"),
		upstreamAttempts: counterVec("bff_upstream_attempts_total",
			"HTTP requests made to an upstream (each retry is one more; one that found no connection free, or no time left, before it was sent counts as a timeout), by service and outcome (ok or the error kind).", "service", "outcome"),
		breakers: &breakers{
			desc: prometheus.NewDesc("bff_upstream_breaker_state",
				"Circuit breaker state per upstream, read at the scrape: 0 closed, 1 half-open, 2 open.",
				[]string{"service"}, nil),
			state: make(map[string]func() string),
		},
		cacheLookups: counterVec("bff_cache_lookups_total",
			"Cache lookups by cache (products, catalog_pages) and result (hit, miss).", "cache", "result"),
		rateLimited: counterVec("bff_rate_limited_total",
			"Requests refused with 429 by a rate-limit policy, by policy.", "policy"),
		rateLocal: counterVec("bff_rate_limit_local_total",
			"Requests metered by the replica's own buckets because the shared rate-limit store failed, or rests after a failure, by policy.", "policy"),
		orders: counterVec("bff_orders_total",
			"Order attempts (not replays) by outcome (confirmed, invalid, out_of_stock, payment_declined, unavailable, timeout, error).", "outcome"),
		notifications: counterVec("bff_notifications_total",
			"Order confirmation notifications by outcome (sent, failed after retries, dropped with the queue full).", "outcome"),
		degraded: counterVec("bff_degraded_parts_total",
			"Optional parts of an aggregate answer left out because their upstream failed, by part.", "part"),
		sagasRecovered: counterVec("bff_saga_recoveries_total",
			"Checkout sagas taken over by recovery after their runner died, by outcome (completed, failed, pending).", "outcome"),
		journalBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bff_saga_journal_backlog",
			Help: "Unfinished checkout sagas nobody runs (their lease has ended) after the last recovery pass.",
		}),
		journalWrites: histogramVec("bff_saga_journal_write_seconds",
			"Time of one checkout journal write, waiting for its turn included, by op (create, update).",
			callBuckets, "op"),
		shed: counterVec("bff_admission_shed_total",
			"Requests refused by admission control (503 overloaded), by class (anonymous, authenticated, checkout).", "class"),
		connsRefused: counterVec("bff_http_connections_refused_total",
			"Client connections refused over HTTP_MAX_CONNS before any request was read, so in no request metric: "+
				"answered the 503 overloaded problem (answered=\"true\") or, with too many being answered at once, "+
				"closed without an answer (answered=\"false\").", "answered"),
		idleClosed: prometheus.NewCounter(prometheus.CounterOpts{Name: "bff_http_idle_connections_closed_total",
			Help: "Idle keep-alive client connections closed to make room for a new one at HTTP_MAX_CONNS."}),
	}
	// Both series exist from start-up: their label values are fixed.
	m.connsAnswered = m.connsRefused.WithLabelValues("true")
	m.connsClosed = m.connsRefused.WithLabelValues("false")
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpDuration, m.upstreamDuration, m.upstreamAttempts, m.breakers, m.cacheLookups,
		m.rateLimited, m.rateLocal, m.orders, m.notifications, m.degraded,
		m.sagasRecovered, m.journalBacklog, m.journalWrites, m.shed, m.connsRefused, m.idleClosed,
	)
	return m
}

// requestBuckets are the bounds of request durations, in seconds; callBuckets
// those of an upstream call or a journal write, which run shorter.
var (
	requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	callBuckets    = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}

// ObserveRequest records one answered request.
func (m *Metrics) ObserveRequest(method, route, status string, d time.Duration) {
	m.requests.get(requestLabels{method, route, status}, func(l requestLabels) prometheus.Observer {
		return m.httpDuration.WithLabelValues(l.method, l.route, l.status)
	}).Observe(d.Seconds())
}

// ObserveCall records one upstream call; it satisfies upstream.Observer.
func (m *Metrics) ObserveCall(service, op, outcome string, d time.Duration) {
	m.calls.get(callLabels{service, op, outcome}, func(l callLabels) prometheus.Observer {
		return m.upstreamDuration.WithLabelValues(l.service, l.op, l.outcome)
	}).Observe(d.Seconds())
}

// ObserveAttempt records one HTTP request sent to an upstream; it
// satisfies upstream.AttemptObserver.
func (m *Metrics) ObserveAttempt(service, outcome string) {
	m.attempts.get(attemptLabels{service, outcome}, func(l attemptLabels) prometheus.Counter {
		return m.upstreamAttempts.WithLabelValues(l.service, l.outcome)
	}).Inc()
}

// WatchBreaker publishes the state of service's circuit breaker, which
// state returns ("closed", "half-open" or "open"), read at each scrape; it
// satisfies upstream.BreakerWatcher. A state pushed on each change would
// not do: an open breaker turns half-open only when asked, so without
// calls it would read open long after its open timeout. A service watched
// again replaces the one watched before under its name.
func (m *Metrics) WatchBreaker(service string, state func() string) {
	m.breakers.mu.Lock()
	defer m.breakers.mu.Unlock()
	m.breakers.state[service] = state
}

// breakers collects bff_upstream_breaker_state, asking each watched
// breaker its state.
type breakers struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	state map[string]func() string
}

func (b *breakers) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *breakers) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	watched := maps.Clone(b.state)
	b.mu.Unlock()
	for service, state := range watched {
		if v, ok := breakerValues[state()]; ok {
			ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, v, service)
		}
	}
}

// breakerValues are the gauge's values of the breaker states.
var breakerValues = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// CacheLookup records a cache hit or miss.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	m.lookups.get(lookupLabels{cache, hit}, func(l lookupLabels) prometheus.Counter {
		result := "miss"
		if l.hit {
			result = "hit"
		}
		return m.cacheLookups.WithLabelValues(l.cache, result)
	}).Inc()
}

// RateLimited records a refused request.
func (m *Metrics) RateLimited(policy string) { m.rateLimited.WithLabelValues(policy).Inc() }

// RateLimitLocal counts a request metered by the replica's own buckets,
// the shared store being down.
func (m *Metrics) RateLimitLocal(policy string) { m.rateLocal.WithLabelValues(policy).Inc() }

// OrderOutcome records the end of an order attempt.
func (m *Metrics) OrderOutcome(outcome string) { m.orders.WithLabelValues(outcome).Inc() }

// NotificationOutcome records the end of a notification's delivery.
func (m *Metrics) NotificationOutcome(outcome string) {
	m.notifications.WithLabelValues(outcome).Inc()
}

// Degraded records an optional part left out of an aggregate.
func (m *Metrics) Degraded(part string) {
	m.degradeds.get(part, func(part string) prometheus.Counter { return m.degraded.WithLabelValues(part) }).Inc()
}

// SagaRecovered records a saga that recovery took over.
func (m *Metrics) SagaRecovered(outcome string) { m.sagasRecovered.WithLabelValues(outcome).Inc() }

// JournalBacklog records the number of unfinished sagas nobody runs.
func (m *Metrics) JournalBacklog(n int) { m.journalBacklog.Set(float64(n)) }

// JournalWrite records one checkout journal write.
func (m *Metrics) JournalWrite(op string, d time.Duration) {
	m.writes.get(op, func(op string) prometheus.Observer { return m.journalWrites.WithLabelValues(op) }).Observe(d.Seconds())
}

// Shed records a request refused by admission control.
func (m *Metrics) Shed(class string) { m.shed.WithLabelValues(class).Inc() }

// IdleConnectionClosed records an idle keep-alive client connection
// closed to make room for a new one at the connection limit.
func (m *Metrics) IdleConnectionClosed() { m.idleClosed.Inc() }

// ConnectionRefused records a client connection refused over the
// connection limit, answered 503 or closed without an answer.
func (m *Metrics) ConnectionRefused(answered bool) {
	if answered {
		m.connsAnswered.Inc()
	} else {
		m.connsClosed.Inc()
	}
}

// Known are the label values known before any event, with which Preset
// creates each labelled series at zero: an alert on a rate, or on a series
// being absent, then works from start-up rather than after the first event.
type Known struct {
	// Services are the upstreams; UpstreamOutcomes are "ok" and every
	// error kind.
	Services, UpstreamOutcomes []string
	// Caches are the catalog's caches.
	Caches []string
	// RateLimitPolicies are the policies' names.
	RateLimitPolicies []string
	// OrderOutcomes, NotificationOutcomes, RecoveryOutcomes and JournalOps
	// are the order flow's.
	OrderOutcomes, NotificationOutcomes, RecoveryOutcomes, JournalOps []string
	// ShedClasses are admission control's classes.
	ShedClasses []string
}

// Preset creates every series k names, at zero. Each breaker's series
// exists once WatchBreaker was called for it.
func (m *Metrics) Preset(k Known) {
	for _, s := range k.Services {
		for _, o := range k.UpstreamOutcomes {
			m.upstreamAttempts.WithLabelValues(s, o)
		}
	}
	for _, c := range k.Caches {
		m.cacheLookups.WithLabelValues(c, "hit")
		m.cacheLookups.WithLabelValues(c, "miss")
	}
	preset(m.rateLimited, k.RateLimitPolicies)
	preset(m.rateLocal, k.RateLimitPolicies)
	preset(m.orders, k.OrderOutcomes)
	preset(m.notifications, k.NotificationOutcomes)
	preset(m.sagasRecovered, k.RecoveryOutcomes)
	preset(m.shed, k.ShedClasses)
	for _, op := range k.JournalOps {
		m.journalWrites.WithLabelValues(op)
	}
}

func preset(v *prometheus.CounterVec, values []string) {
	for _, x := range values {
		v.WithLabelValues(x)
	}
}

// WatchAdmission publishes admission control's current limit and the
// requests it has in flight, read at each scrape.
func (m *Metrics) WatchAdmission(limit, inFlight func() int) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bff_admission_limit",
			Help: "Admission control's concurrency limit: the most requests in flight at once.",
		}, func() float64 { return float64(limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bff_admission_in_flight",
			Help: "Requests admitted by admission control and not yet answered.",
		}, func() float64 { return float64(inFlight()) }),
	)
}
