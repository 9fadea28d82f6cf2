package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// target is one endpoint under load.
type target struct {
	// Name is the row label, e.g. "GET /v1/products/{id}".
	Name string
	// Server names the process that answers: "sandbox" or one of bffs.
	Server string
	// Addr is host:port of the server.
	Addr string
	// Method is the request's method.
	Method string
	// Paths are the request targets, query included: a closed loop's
	// workers draw one at random for each request, an open loop takes
	// them in turn.
	Paths []string
	// Header holds name, value pairs sent with every request.
	Header [][2]string
	// Body is sent as application/json when not empty.
	Body []byte
	// UniqueKey gives every request its own Idempotency-Key, so that each
	// one is a new write rather than a replay of the first.
	UniqueKey bool
	// Aggregate marks an endpoint that combines several upstream calls,
	// which the efficiency target applies to.
	Aggregate bool
	// Direct marks the upstream baseline that efficiencies divide by.
	Direct bool
	// Reference marks a route of bench-reference, the bare gateway a BFF
	// row is compared with; the targets are the BFFs', not its.
	Reference bool
}

// loadResult is what one closed-loop run measured at the client.
type loadResult struct {
	Requests  uint64         // completed requests, failures included
	Errors    uint64         // non-2xx answers plus transport failures
	Statuses  map[int]uint64 // count per non-2xx status
	Transport uint64         // requests that got no HTTP answer
	// FirstError describes the first failure, for the report.
	FirstError string
	Bytes      uint64        // response body bytes over the 2xx answers
	Elapsed    time.Duration // from the first request to the last answer
	Latency    *histogram
}

// add counts o's requests, answers and latencies into r; Elapsed is the
// caller's.
func (r *loadResult) add(o loadResult) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Transport += o.Transport
	r.Bytes += o.Bytes
	for s, n := range o.Statuses {
		r.Statuses[s] += n
	}
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	r.Latency.merge(o.Latency)
}

// failed counts an answer that is a transport failure (err) or not 2xx,
// and reports whether it was one.
func (r *loadResult) failed(status int, err error, body []byte) bool {
	switch {
	case err != nil:
		r.Transport++
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	case status < 200 || status > 299:
		r.Statuses[status]++
		if r.FirstError == "" {
			r.FirstError = fmt.Sprintf("%d %s", status, clip(body, 200))
		}
	default:
		return false
	}
	r.Errors++
	return true
}

// RPS is completed requests per second of the run.
func (r loadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// errRouteMissing reports that the server does not serve the target's
// route (yet), which the report shows as skipped instead of failing.
var errRouteMissing = errors.New("route not served")

// loader drives requests over a pool of kept-alive connections to one
// server. fasthttp rather than net/http keeps the generator's own CPU cost
// low: it shares the machine with the processes it measures.
type loader struct {
	client  *fasthttp.HostClient
	timeout time.Duration
}

func newLoader(addr string, conns int, timeout time.Duration) *loader {
	return &loader{
		client: &fasthttp.HostClient{
			Addr:                          addr,
			MaxConns:                      conns,
			ReadTimeout:                   timeout,
			WriteTimeout:                  timeout,
			MaxIdleConnDuration:           time.Minute,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			MaxResponseBodySize:           64 << 20,
			// One request is one attempt: fasthttp would otherwise send a
			// GET again, up to five times, after a connection closed
			// without an answer (a BFF over HTTP_MAX_CONNS), and count it
			// as one request without an error.
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		},
		timeout: timeout,
	}
}

func (l *loader) close() { l.client.CloseIdleConnections() }

// newRequest builds the request every worker sends, path and
// Idempotency-Key aside.
func newRequest(t target) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(t.Paths[0])
	req.Header.SetHost(t.Addr)
	req.Header.SetMethod(t.Method)
	for _, h := range t.Header {
		req.Header.Set(h[0], h[1])
	}
	if len(t.Body) > 0 {
		req.Header.SetContentType("application/json")
		req.SetBody(t.Body)
	}
	return req
}

// probe sends one request and reports errRouteMissing on a 404 or 405, so
// that an endpoint not built yet is skipped rather than measured as errors.
func (l *loader) probe(t target, keyPrefix string) error {
	req := newRequest(t)
	defer fasthttp.ReleaseRequest(req)
	if t.UniqueKey {
		req.Header.Set("Idempotency-Key", keyPrefix+"probe")
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := l.client.DoTimeout(req, resp, l.timeout); err != nil {
		return fmt.Errorf("probe %s: %w", t.Name, err)
	}
	switch resp.StatusCode() {
	case fasthttp.StatusNotFound, fasthttp.StatusMethodNotAllowed:
		return fmt.Errorf("%w: %s answered %d", errRouteMissing, t.Name, resp.StatusCode())
	}
	return nil
}

// run keeps conns requests in flight, each worker sending its next request
// as soon as the last is answered, until d has passed or ctx ends. A closed
// loop measures the latency at the throughput the server sustains with
// that many connections, which is what the targets are stated for.
func (l *loader) run(ctx context.Context, t target, conns int, d time.Duration, keyPrefix string) loadResult {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total = loadResult{Statuses: map[int]uint64{}, Latency: &histogram{}}
	)
	start := time.Now()
	end := start.Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := l.worker(ctx, t, end, 0, keyPrefix+strconv.Itoa(w)+"-", w)
			mu.Lock()
			defer mu.Unlock()
			total.add(r)
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	return total
}

// worker sends requests one after another until end (none when zero) or,
// when limit is not 0, until it has sent limit of them, each to one of the
// target's paths drawn at random, from a sequence of the worker's own
// (seeded with worker). Walking the paths in turn would have workers that
// meet on one path, their reads coalesced by the server and answered
// together, stay in step on every path after it, and most reads merged.
func (l *loader) worker(ctx context.Context, t target, end time.Time, limit int, keyPrefix string, worker int) loadResult {
	r := loadResult{Statuses: map[int]uint64{}, Latency: &histogram{}}
	req := newRequest(t)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	key := []byte(keyPrefix)
	pick := rand.New(rand.NewPCG(uint64(worker), 0x5eed))
	for seq := 0; ctx.Err() == nil && (end.IsZero() || time.Now().Before(end)) && (limit == 0 || seq < limit); seq++ {
		if len(t.Paths) > 1 {
			req.SetRequestURI(t.Paths[pick.IntN(len(t.Paths))])
		}
		if t.UniqueKey {
			key = strconv.AppendInt(key[:len(keyPrefix)], int64(seq), 10)
			req.Header.SetBytesV("Idempotency-Key", key)
		}
		began := time.Now()
		err := l.client.DoTimeout(req, resp, l.timeout)
		r.Latency.record(time.Since(began))
		r.Requests++
		switch status := resp.StatusCode(); {
		case r.failed(status, err, resp.Body()):
		default:
			r.Bytes += uint64(len(resp.Body()))
		}
	}
	return r
}

// clip copies at most n bytes of b into a string.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// statusCounts lists a result's failures, e.g. "409×3 transport×1".
func (r loadResult) statusCounts() string {
	var s string
	for _, code := range slices.Sorted(maps.Keys(r.Statuses)) {
		s += fmt.Sprintf("%d×%d ", code, r.Statuses[code])
	}
	if r.Transport > 0 {
		s += fmt.Sprintf("transport×%d ", r.Transport)
	}
	if s == "" {
		return s
	}
	return s[:len(s)-1]
}

// Open loop.

// maxRate bounds BENCH_RATE: beyond it the schedule's own bookkeeping
// would weigh on the machine more than any server under test.
const maxRate = 1_000_000

// openConns bounds the requests an open loop keeps in flight, each on its
// own connection. A request due while all of them are busy waits in the
// generator, and that wait counts in its latency, which is measured from
// the time it was scheduled for.
const openConns = 2048

// openResult is what one open-loop run measured at the client. Its
// loadResult counts every request (Errors: neither a 2xx nor a shed), but
// its Latency holds the successes only, each from the time the request was
// scheduled for to the last byte of its answer, so that a server that
// falls behind cannot hide the wait (no coordinated omission).
type openResult struct {
	loadResult
	// Rate is the requests scheduled a second, Scheduled how long the
	// schedule ran.
	Rate      float64
	Scheduled time.Duration
	// Shed counts the 503 answers whose problem code is overloaded, and
	// ShedLatency their latencies, measured as the successes' are.
	Shed        uint64
	ShedLatency *histogram
	// Lag is how late each request left the generator after its scheduled
	// time: small, unless the generator (or the machine) could not keep up.
	Lag *histogram
}

// Goodput is the successful answers per second, from the first request
// sent to the last answer: a server that falls behind answers its
// schedule's worth over a longer time, and its goodput says so.
func (r openResult) Goodput() float64 {
	return perSecond(r.Requests-r.Errors-r.Shed, max(r.Scheduled, r.Elapsed))
}

// ShedRate is the shed answers per second, counted as Goodput is.
func (r openResult) ShedRate() float64 { return perSecond(r.Shed, max(r.Scheduled, r.Elapsed)) }

// Offered is the requests sent per second of the schedule.
func (r openResult) Offered() float64 { return perSecond(r.Requests, r.Scheduled) }

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// shedCode is what marks a shed answer's body.
var shedCode = []byte(`"code":"overloaded"`)

// runOpen sends rate requests a second for d, request i at start + i/rate
// whether or not the earlier ones were answered, with at most conns in
// flight, until ctx ends. A free worker takes the next request and waits
// for its time itself (one wake-up a request, no hand-over); a request
// whose time has come while every worker is busy leaves late, and its
// latency, counted from its scheduled time, says so.
func (l *loader) runOpen(ctx context.Context, t target, rate float64, d time.Duration, conns int, keyPrefix string) openResult {
	n := int(rate * d.Seconds())
	start := time.Now()
	at := func(i int) time.Time { return start.Add(time.Duration(float64(i) * float64(time.Second) / rate)) }
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		shards = make([]openShard, openShards)
	)
	for i := range shards {
		shards[i].r = newOpenResult()
	}
	take := func() (int, bool) {
		i := int(next.Add(1) - 1)
		return i, i < n
	}
	for w := range min(conns, n) {
		wg.Go(func() { l.openWorker(ctx, t, take, at, keyPrefix, &shards[w%len(shards)]) })
	}
	wg.Wait()
	total := newOpenResult()
	for i := range shards {
		total.merge(shards[i].r)
	}
	total.Elapsed = time.Since(start)
	total.Rate, total.Scheduled = rate, d
	return total
}

// openShards is how many results an open loop's workers share. A result
// of their own each would cost each worker three histograms (178 KiB):
// with 2048 workers, 365 MiB zeroed as the run starts, which stalled the
// generator for up to half a second and showed as slow answers.
const openShards = 16

// openShard is a result that several workers of an open loop record into.
type openShard struct {
	mu sync.Mutex
	r  openResult
}

func newOpenResult() openResult {
	return openResult{loadResult: loadResult{Statuses: map[int]uint64{}, Latency: &histogram{}},
		ShedLatency: &histogram{}, Lag: &histogram{}}
}

func (r *openResult) merge(o openResult) {
	r.add(o.loadResult)
	r.Shed += o.Shed
	r.ShedLatency.merge(o.ShedLatency)
	r.Lag.merge(o.Lag)
}

// openWorker sends each request it takes, request i at its time at(i) to
// the target's path i (in turn) with its own Idempotency-Key when the
// target wants one, until none is left or ctx ends, and records each in
// the shard into.
func (l *loader) openWorker(ctx context.Context, t target, take func() (int, bool), at func(int) time.Time, keyPrefix string, into *openShard) {
	req := newRequest(t)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	key := []byte(keyPrefix)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, ok := take(); ok; i, ok = take() {
		scheduled := at(i)
		timer.Reset(time.Until(scheduled))
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		if ctx.Err() != nil {
			return // what was not sent is not counted
		}
		if len(t.Paths) > 1 {
			req.SetRequestURI(t.Paths[i%len(t.Paths)])
		}
		if t.UniqueKey {
			key = strconv.AppendInt(key[:len(keyPrefix)], int64(i), 10)
			req.Header.SetBytesV("Idempotency-Key", key)
		}
		lag := time.Since(scheduled)
		err := l.client.DoTimeout(req, resp, l.timeout)
		latency := time.Since(scheduled)
		into.mu.Lock()
		into.r.record(resp, err, lag, latency)
		into.mu.Unlock()
	}
}

// record counts one request of an open loop, sent lag after its time and
// answered with resp, or failed with err, latency after it.
func (r *openResult) record(resp *fasthttp.Response, err error, lag, latency time.Duration) {
	r.Lag.record(lag)
	r.Requests++
	switch status := resp.StatusCode(); {
	case err == nil && status == fasthttp.StatusServiceUnavailable && bytes.Contains(resp.Body(), shedCode):
		r.Shed++
		r.ShedLatency.record(latency)
	case r.failed(status, err, resp.Body()):
	default:
		r.Bytes += uint64(len(resp.Body()))
		r.Latency.record(latency)
	}
}
